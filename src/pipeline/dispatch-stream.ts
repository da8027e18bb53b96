import { AttemptAbort } from '../core/call-signal.ts';
import type { Usage } from '../core/openai-types.ts';
import type { CallContext, UpstreamTarget } from '../providers/types.ts';
import { runAttempts } from '../resilience/attempt-loop.ts';
import { CommittedStream, type StreamResume } from '../resilience/committed-stream.ts';
import { type OpenAttempt, tryHedged } from '../resilience/hedge.ts';
import { classifyFailure } from '../resilience/retry-policy.ts';
import { openUntilFirstToken } from '../resilience/stream-attempt.ts';
import { loopOptions, planOf, withGroupDeadline } from './attempt-options.ts';
import { loopDependencies, type PipelineDependencies } from './dependencies.ts';
import type { GatewayRequest } from './request.ts';
import { attemptTracer } from './trace-attempts.ts';

/** Opens one attempt's upstream stream; resolves once the upstream accepted it (2xx, event stream). */
export type OpenUpstream<B> = (target: UpstreamTarget, context: CallContext) => Promise<AsyncIterable<B>>;

/** Starts one stream attempt and waits for its first real event (see `openUntilFirstToken`). */
export type OpenStreamAttempt<B> = (
  target: UpstreamTarget,
  context: CallContext,
  open?: OpenUpstream<B>,
) => Promise<OpenAttempt<B>>;

export interface StreamSpec<B> {
  readonly open: OpenUpstream<B>;
  /** Whether a batch holds a real event (commits the attempt). */
  readonly isReal: (batch: B) => boolean;
  /** The canonical usage a batch carries, if any. */
  readonly usageOf: (batch: B) => Usage | undefined;
  /** The model the upstream names in the batches read before commit (for the attempt's span), if it does. */
  readonly modelOf?: ((head: readonly B[]) => string | undefined) | undefined;
  /** How a broken stream resumes elsewhere, when the model group asks for it. */
  readonly resume?: ((openAttempt: OpenStreamAttempt<B>) => StreamResume<B>) | undefined;
}

/**
 * Dispatch for streams, whatever their protocol: opens the stream and commits to it only once its first real
 * event has arrived, so every earlier failure (the first-token timeout included) fails over invisibly; with a
 * model group's `hedge`, a backup attempt races the first after the step's p95 time to first token. The
 * committed stream is guarded against stalls, records each attempt's verdict and usage, and resumes elsewhere
 * after a break when `spec.resume` is given.
 */
export async function dispatchStream<B>(
  dependencies: PipelineDependencies,
  request: GatewayRequest,
  spec: StreamSpec<B>,
): Promise<CommittedStream<B>> {
  const plan = planOf(request);
  const loop = loopDependencies(dependencies);
  const options = loopOptions(dependencies, request, plan);
  const timeouts = {
    firstTokenMs: plan.group?.firstTokenTimeoutMs ?? dependencies.settings.firstTokenTimeoutMs,
    stallMs: plan.group?.streamStallTimeoutMs ?? dependencies.settings.streamStallTimeoutMs,
  };
  const started = performance.now();
  const openAttempt: OpenStreamAttempt<B> = (target, parent, open = spec.open) => {
    const controller = new AttemptAbort(parent.signal);
    const attemptContext: CallContext = {
      requestId: parent.requestId,
      signal: controller,
      warnings: parent.warnings,
      traceHeaders: parent.traceHeaders,
    };
    return openUntilFirstToken(
      () => open(target, attemptContext),
      controller,
      timeouts,
      target.instance.name,
      spec.isReal,
    ).then(
      (opened) => {
        dependencies.stats.firstToken(target.instance.id, opened.ttftMs);
        return { opened, controller };
      },
      (error: unknown) => {
        controller.release();
        throw error;
      },
    );
  };

  const deadline = withGroupDeadline(plan, request.upstreamSignal);
  const context = { requestId: request.id, signal: deadline.signal, tracer: attemptTracer(request) };
  let won: Awaited<ReturnType<typeof runAttempts<OpenAttempt<B>>>>;
  try {
    const hedged =
      plan.group?.hedge === true
        ? await tryHedged(loop, plan, context, options, (target, attemptContext) =>
            openAttempt(target, attemptContext),
          )
        : undefined;
    // Racers that failed on the request itself (a 400, say): trying the other targets would repeat it.
    if (
      hedged?.won === undefined &&
      hedged?.lastError !== undefined &&
      classifyFailure(hedged.lastError) === 'fail'
    ) {
      throw hedged.lastError;
    }
    won =
      hedged?.won ??
      (await runAttempts(
        loop,
        plan,
        context,
        hedged === undefined
          ? options
          : { ...options, exclude: hedged.tried, previousError: hedged.lastError },
        (target, attemptContext) => openAttempt(target, attemptContext),
      ));
  } catch (error) {
    deadline.clear();
    throw error;
  } finally {
    request.upstreamMs = performance.now() - started;
  }
  request.served = won.record;
  won.record.ttftMs = Math.round(won.value.opened.ttftMs);
  if (won.record.span !== undefined) won.record.responseModel = spec.modelOf?.(won.value.opened.head);
  const stream = new CommittedStream<B>({
    loop,
    plan,
    context,
    options,
    timeouts,
    target: won.target,
    record: won.record,
    opened: won.value,
    usageOf: spec.usageOf,
    resume: plan.group?.streamRecovery === 'continue' ? spec.resume?.(openAttempt) : undefined,
    onResumed: (_target, record) => {
      request.served = record;
    },
  });
  stream.onEnd(deadline.clear);
  return stream;
}
