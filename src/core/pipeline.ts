import type { ProviderRegistry } from '../providers/registry.ts';
import type {
  CallContext,
  ChatResult,
  ChatStream,
  EmbeddingsResult,
  UpstreamTarget,
} from '../providers/types.ts';
import {
  type AttemptRecord,
  type LoopDependencies,
  runAttempts,
  settleSuccess,
} from '../resilience/attempt-loop.ts';
import type { CircuitBreakers } from '../resilience/circuit-breaker.ts';
import { commitStream } from '../resilience/committed-stream.ts';
import { type OpenAttempt, tryHedged } from '../resilience/hedge.ts';
import type { RejectedKeys } from '../resilience/rejected-keys.ts';
import { classifyFailure } from '../resilience/retry-policy.ts';
import type { RoutingMode, TargetOrderer } from '../resilience/routing.ts';
import { openUntilFirstToken } from '../resilience/stream-attempt.ts';
import { AttemptAbort } from './call-signal.ts';
import { NexusError } from './errors.ts';
import type { InstanceStats } from './instance-stats.ts';
import type { ChatRequest, EmbeddingsRequest } from './openai-types.ts';
import type { ModelResolver, RoutePlan } from './resolve-model.ts';

/**
 * The provider-facing half of the pipeline, free of HTTP: plan the route (route stage), run attempts with
 * retries and failover (dispatch stage), and hand back a reply or a committed stream. The HTTP edge runs the
 * stages before (receive, authenticate, read body, validate) and after (respond); docs/architecture.md has
 * the table.
 */
export interface PipelineSettings {
  readonly mode: RoutingMode;
  readonly maxAttempts: number;
  /** Milliseconds; 0 disables. */
  readonly firstTokenTimeoutMs: number;
  /** Milliseconds; 0 disables. */
  readonly streamStallTimeoutMs: number;
  /** Longest wait for one non-stream attempt's whole response, in milliseconds; 0 disables. */
  readonly responseTimeoutMs: number;
}

export interface PipelineDependencies {
  readonly resolver: ModelResolver;
  readonly registry: ProviderRegistry;
  readonly stats: InstanceStats;
  readonly breakers: CircuitBreakers;
  readonly orderer: TargetOrderer;
  /** Instance ids switched off at runtime (`POST /v1/providers/toggle`). */
  readonly disabled: Set<string>;
  /** Keys a provider refused (401/403), out of rotation for `routing.rejectedKeyCooldownMs`. */
  readonly rejectedKeys: RejectedKeys;
  readonly settings: PipelineSettings;
}

/** Per-request routing input from the edge. */
export interface RequestRouting {
  /** `X-Routing-Mode`, already validated. */
  readonly mode?: RoutingMode | undefined;
  /** Receives one record per upstream attempt, for the request log. */
  readonly attempts?: AttemptRecord[] | undefined;
  /** Told when a broken stream resumes on another target, so usage is priced at the model that produced it. */
  readonly onResumed?: ((target: UpstreamTarget) => void) | undefined;
}

const noop = () => {};

/**
 * A model group's own time limit (`groups.<name>.requestTimeoutMs`), tighter than the request deadline: a
 * child signal that aborts with `upstream_timeout`. `clear` must run when the request or its stream ends.
 */
function withGroupDeadline(
  plan: RoutePlan,
  context: CallContext,
): { context: CallContext; clear: () => void } {
  const limitMs = plan.group?.requestTimeoutMs;
  if (limitMs === undefined) return { context, clear: noop };
  const controller = new AttemptAbort(context.signal);
  const timer = setTimeout(
    () =>
      controller.abort(
        new NexusError('upstream_timeout', `The model group's time limit of ${limitMs} ms passed.`),
      ),
    limitMs,
  );
  return {
    context: { ...context, signal: controller },
    clear: () => {
      clearTimeout(timer);
      controller.release();
    },
  };
}

export interface Completed<T> {
  readonly target: UpstreamTarget;
  readonly result: T;
  /** Time spent waiting on upstreams, in milliseconds (all attempts). */
  readonly upstreamMs: number;
}

/** Removes the per-request fallback chain (`fallbacks`, LiteLLM; `models`, OpenRouter) before the body goes upstream. */
export function takeFallbacks<T extends ChatRequest | EmbeddingsRequest>(
  request: T,
): { request: T; fallbacks: string[] } {
  if (request.fallbacks === undefined && request.models === undefined) return { request, fallbacks: [] };
  const { fallbacks, models, ...rest } = request as T & { fallbacks?: unknown; models?: unknown };
  const names = [...asNames(models), ...asNames(fallbacks)].filter((name) => name !== request.model);
  return { request: rest as T, fallbacks: [...new Set(names)] };
}

function asNames(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function planFor<T extends ChatRequest | EmbeddingsRequest>(
  dependencies: PipelineDependencies,
  request: T,
  mode: 'chat' | 'embedding',
) {
  const { request: upstreamRequest, fallbacks } = takeFallbacks(request);
  const plan = dependencies.resolver.plan(request.model, mode, { fallbacks });
  return { plan, upstreamRequest };
}

function loopOptions(dependencies: PipelineDependencies, plan: RoutePlan, routing: RequestRouting) {
  return {
    mode: routing.mode ?? plan.group?.routing ?? dependencies.settings.mode,
    attempts: routing.attempts ?? [],
  };
}

/** Loop options for a request answered in one piece: each attempt is bounded by the response timeout. */
function oneShotOptions(dependencies: PipelineDependencies, plan: RoutePlan, routing: RequestRouting) {
  return {
    ...loopOptions(dependencies, plan, routing),
    attemptTimeoutMs: plan.group?.responseTimeoutMs ?? dependencies.settings.responseTimeoutMs,
  };
}

export async function completeChat(
  dependencies: PipelineDependencies,
  request: ChatRequest,
  context: CallContext,
  routing: RequestRouting = {},
): Promise<Completed<ChatResult>> {
  const { plan, upstreamRequest } = planFor(dependencies, request, 'chat');
  const started = performance.now();
  const deadline = withGroupDeadline(plan, context);
  try {
    const { target, value } = await runAttempts(
      loopDependencies(dependencies),
      plan,
      deadline.context,
      oneShotOptions(dependencies, plan, routing),
      async (attemptTarget, attemptContext, record) => {
        const attemptStarted = performance.now();
        const result = await dependencies.registry
          .adapterFor(attemptTarget.instance)
          .chat(attemptTarget, upstreamRequest, attemptContext);
        settleSuccess(dependencies, attemptTarget, record, performance.now() - attemptStarted);
        return result;
      },
    );
    return { target, result: value, upstreamMs: performance.now() - started };
  } finally {
    deadline.clear();
  }
}

export async function createEmbeddings(
  dependencies: PipelineDependencies,
  request: EmbeddingsRequest,
  context: CallContext,
  routing: RequestRouting = {},
): Promise<Completed<EmbeddingsResult>> {
  const { plan, upstreamRequest } = planFor(dependencies, request, 'embedding');
  const started = performance.now();
  const { target, value } = await runAttempts(
    loopDependencies(dependencies),
    plan,
    context,
    oneShotOptions(dependencies, plan, routing),
    async (attemptTarget, attemptContext, record) => {
      const adapter = dependencies.registry.adapterFor(attemptTarget.instance);
      if (adapter.embeddings === undefined) {
        throw new NexusError(
          'unsupported_capability',
          `${attemptTarget.instance.provider.name} does not serve embeddings.`,
          { param: 'model' },
        );
      }
      const attemptStarted = performance.now();
      const result = await adapter.embeddings(attemptTarget, upstreamRequest, attemptContext);
      settleSuccess(dependencies, attemptTarget, record, performance.now() - attemptStarted);
      return result;
    },
  );
  return { target, result: value, upstreamMs: performance.now() - started };
}

/**
 * Opens a stream and commits to it only once its first real event has arrived: until then every failure
 * (including the first-token timeout) fails over invisibly. The committed stream is guarded against stalls,
 * records its attempt's verdict when it ends, and, when the model group says `streamRecovery: continue`,
 * resumes on another instance after a mid-stream failure instead of ending with an error.
 */
export async function openChatStream(
  dependencies: PipelineDependencies,
  request: ChatRequest,
  context: CallContext,
  routing: RequestRouting = {},
): Promise<Completed<ChatStream>> {
  const { plan, upstreamRequest } = planFor(dependencies, request, 'chat');
  const options = loopOptions(dependencies, plan, routing);
  const timeouts = {
    firstTokenMs: plan.group?.firstTokenTimeoutMs ?? dependencies.settings.firstTokenTimeoutMs,
    stallMs: plan.group?.streamStallTimeoutMs ?? dependencies.settings.streamStallTimeoutMs,
  };
  const started = performance.now();
  const open = (target: UpstreamTarget, parent: CallContext, body: ChatRequest = upstreamRequest) => {
    const controller = new AttemptAbort(parent.signal);
    const attemptContext: CallContext = { ...parent, signal: controller };
    const adapter = dependencies.registry.adapterFor(target.instance);
    return openUntilFirstToken(
      () => adapter.chatStream(target, body, attemptContext),
      controller,
      timeouts,
      target.instance.name,
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

  const deadline = withGroupDeadline(plan, context);
  let won: Awaited<ReturnType<typeof runAttempts<OpenAttempt>>>;
  try {
    const hedged =
      plan.group?.hedge === true
        ? await tryHedged(loopDependencies(dependencies), plan, deadline.context, options, open)
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
        loopDependencies(dependencies),
        plan,
        deadline.context,
        hedged === undefined
          ? options
          : { ...options, exclude: hedged.tried, previousError: hedged.lastError },
        (target, attemptContext) => open(target, attemptContext),
      ));
  } catch (error) {
    deadline.clear();
    throw error;
  }
  const stream = commitStream({
    dependencies,
    plan,
    request: upstreamRequest,
    context: deadline.context,
    onEnd: deadline.clear,
    onResumed: routing.onResumed,
    options,
    timeouts,
    target: won.target,
    record: won.record,
    opened: won.value.opened,
    controller: won.value.controller,
    recovery: plan.group?.streamRecovery ?? 'error',
    reopen: open,
    loop: loopDependencies(dependencies),
  });
  return { target: won.target, result: stream, upstreamMs: performance.now() - started };
}

const loopViews = new WeakMap<PipelineDependencies, LoopDependencies>();

/** The attempt loop's view of the pipeline's parts, built once per pipeline rather than once per request. */
function loopDependencies(dependencies: PipelineDependencies): LoopDependencies {
  let view = loopViews.get(dependencies);
  if (view === undefined) {
    view = {
      stats: dependencies.stats,
      breakers: dependencies.breakers,
      orderer: dependencies.orderer,
      disabled: dependencies.disabled,
      rejectedKeys: dependencies.rejectedKeys,
      maxAttempts: dependencies.settings.maxAttempts,
    };
    loopViews.set(dependencies, view);
  }
  return view;
}
