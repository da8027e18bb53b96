import { AttemptAbort, type CallSignal, clientLeft, delay } from '../core/call-signal.ts';
import { isNexusError, NexusError } from '../core/errors.ts';
import type { CallContext, UpstreamTarget } from '../providers/types.ts';
import { AttemptRecord, type AttemptTracer } from './attempt-record.ts';
import type { CircuitBreakers } from './circuit-breaker.ts';
import type { InstanceStats } from './instance-stats.ts';
import type { RejectedKeys } from './rejected-keys.ts';
import {
  backoffMs,
  classifyFailure,
  countsAgainstInstance,
  isContextLengthError,
  retryDefaults,
} from './retry-policy.ts';
import type { PlanStep, RoutePlan } from './route-plan.ts';
import type { RoutingMode, RoutingView, TargetOrderer } from './routing.ts';
import { abortReasonOr } from './stream-attempt.ts';

export { AttemptRecord };

/** What the loop knows of the request: its id (sent upstream where a provider takes one) and its signal. */
export interface RequestContext {
  readonly requestId: string;
  /** Aborted when the client leaves or a deadline passes. */
  readonly signal: CallSignal;
  /** Starts each attempt's span, when tracing is on. */
  readonly tracer?: AttemptTracer | undefined;
}

export interface LoopDependencies {
  readonly stats: InstanceStats;
  readonly breakers: CircuitBreakers;
  readonly orderer: TargetOrderer;
  /** Instances switched off at runtime. */
  readonly disabled: ReadonlySet<string>;
  /** Keys the provider refused, out of rotation for a while. */
  readonly rejectedKeys: RejectedKeys;
  readonly maxAttempts: number;
}

export interface LoopOptions {
  readonly mode: RoutingMode;
  /** Filled with one record per attempt. */
  readonly attempts: AttemptRecord[];
  /** Instances not to use (a continuation avoids the one that just broke). */
  readonly exclude?: ReadonlySet<string> | undefined;
  /** The failure of attempts made before this loop (a failed hedge), reported if nothing else is tried. */
  readonly previousError?: unknown;
  /**
   * Longest wait for one attempt's `call` to settle, in milliseconds (0 or absent: none). Non-stream requests
   * set it, so a silent upstream fails over after this instead of holding the request to its deadline.
   */
  readonly attemptTimeoutMs?: number | undefined;
}

export type AttemptCall<T> = (
  target: UpstreamTarget,
  context: CallContext,
  record: AttemptRecord,
) => Promise<T>;

type Outcome<T> =
  | { readonly ok: true; readonly value: T; readonly record: AttemptRecord }
  | { readonly ok: false; readonly error: NexusError };

/**
 * The one retry-and-failover loop. Walks the plan's steps in order; within a step, tries targets in the
 * routing mode's order, skipping disabled instances, refused keys and open circuits; classifies each failure
 * with the retry policy (retry the same instance after a backoff, move to the next, or fail now) and stops at
 * `maxAttempts`. The request signal bounds everything, backoff sleeps included. A context-length refusal
 * jumps to the plan's larger-context fallback when there is one.
 *
 * Never locks out the last route: when every other way has been tried or is open, the targets that were
 * skipped for an open circuit or a refused key are tried once each as a last resort, at most one request at
 * a time per deployment (the circuit's probe), so a deployment with nothing behind it recovers on its first
 * good answer instead of refusing traffic for the whole reset period.
 *
 * The caller's `call` does the attempt and must itself report the verdict for attempts whose result is a
 * stream (the loop records non-stream verdicts). Returns the target that succeeded and its value.
 */
export async function runAttempts<T>(
  dependencies: LoopDependencies,
  plan: RoutePlan,
  context: RequestContext,
  options: LoopOptions,
  call: AttemptCall<T>,
): Promise<{ target: UpstreamTarget; value: T; record: AttemptRecord }> {
  const { breakers } = dependencies;
  // Copied only when a context-length fallback is spliced in; most requests never need their own list.
  let steps: readonly PlanStep[] = plan.steps;
  let lastError: unknown = options.previousError;
  let made = 0;
  let contextFallbackUsed = false;
  // Targets passed over for an open circuit or a refused key: the last resort, in the order they came.
  let skipped: UpstreamTarget[] | undefined;
  const skip = (target: UpstreamTarget) => {
    skipped ??= [];
    if (!skipped.includes(target)) skipped.push(target);
  };
  const attempt = async (target: UpstreamTarget, lastResort: boolean): Promise<Outcome<T>> => {
    made++;
    const outcome = await attemptOnce(dependencies, context, options, target, call, lastResort);
    if (!outcome.ok) lastError = outcome.error;
    return outcome;
  };
  const view = routingView(dependencies, options.exclude);
  for (let index = 0; index < steps.length; index++) {
    const step = steps[index]!;
    const ordered = dependencies.orderer.order(step.targets, options.mode, view);
    if (ordered.length < step.targets.length) {
      for (const { target } of step.targets) {
        if (isLastResort(dependencies, options, target) && !ordered.includes(target)) skip(target);
      }
    }
    targets: for (let position = 0; position < ordered.length; position++) {
      const target = ordered[position]!;
      const lastCandidate = index === steps.length - 1 && position === ordered.length - 1;
      for (let retry = 0; ; retry++) {
        if (context.signal.aborted) throw context.signal.reason;
        if (made >= dependencies.maxAttempts) throw lastError ?? exhausted(plan);
        if (!(breakers.isClosed(target.deployment) || (await breakers.allow(target.deployment)))) {
          // Open now (perhaps from this request's own failures): kept for the last-resort pass.
          skip(target);
          break;
        }
        const outcome = await attempt(target, false);
        if (outcome.ok) return { target, value: outcome.value, record: outcome.record };
        const error = outcome.error;
        if (isContextLengthError(error) && plan.contextFallback !== undefined && !contextFallbackUsed) {
          contextFallbackUsed = true;
          steps = [...steps.slice(0, index + 1), plan.contextFallback, ...steps.slice(index + 1)];
          break targets;
        }
        const decision = classifyFailure(error);
        if (decision === 'fail') throw error;
        // A rate limit with nowhere else to go: wait out a short Retry-After once rather than fail at once.
        const waitMs = (error.retryAfterSeconds ?? 0) * 1000;
        if (
          error.code === 'upstream_rate_limited' &&
          lastCandidate &&
          retry === 0 &&
          waitMs <= retryDefaults.maxBackoffMs
        ) {
          await delay(Math.max(waitMs, backoffMs(0)), context.signal);
          continue;
        }
        if (decision === 'retry-same' && retry < retryDefaults.sameInstanceRetries) {
          await delay(backoffMs(retry, error.retryAfterSeconds), context.signal);
          continue;
        }
        break;
      }
    }
  }
  for (const target of skipped ?? []) {
    if (context.signal.aborted) throw context.signal.reason;
    if (made >= dependencies.maxAttempts) break;
    if (!(await breakers.allow(target.deployment, { lastResort: true }))) continue;
    if (made > 0) {
      const retryAfter = isNexusError(lastError) ? lastError.retryAfterSeconds : undefined;
      try {
        await delay(backoffMs(0, retryAfter), context.signal);
      } catch (error) {
        breakers.release(target.deployment);
        throw error;
      }
    }
    const outcome = await attempt(target, true);
    if (outcome.ok) return { target, value: outcome.value, record: outcome.record };
    if (classifyFailure(outcome.error) === 'fail') throw outcome.error;
  }
  throw lastError ?? exhausted(plan);
}

/** Whether a target left out by routing may still serve as the last resort (not switched off or excluded). */
function isLastResort(dependencies: LoopDependencies, options: LoopOptions, target: UpstreamTarget): boolean {
  const id = target.instance.id;
  return !dependencies.disabled.has(id) && options.exclude?.has(id) !== true;
}

/**
 * One attempt: its own record (warnings, usage), its own time limit when the loop has one, its verdict on
 * failure. Rejects only when the client left or something that is not a NexusError escaped (a bug); every
 * upstream failure comes back as `{ok: false}`.
 */
async function attemptOnce<T>(
  dependencies: LoopDependencies,
  context: RequestContext,
  options: LoopOptions,
  target: UpstreamTarget,
  call: AttemptCall<T>,
  lastResort: boolean,
): Promise<Outcome<T>> {
  const record = new AttemptRecord(target);
  record.lastResort = lastResort;
  options.attempts.push(record);
  const limit = attemptLimit(context.signal, options.attemptTimeoutMs, target);
  const attemptContext: CallContext = {
    requestId: context.requestId,
    signal: limit?.abort ?? context.signal,
    warnings: record.warnings,
    traceHeaders: startSpan(context, record, options.attempts.length),
  };
  const started = performance.now();
  dependencies.stats.started(target.instance.id);
  try {
    const value = await call(target, attemptContext, record);
    return { ok: true, value, record };
  } catch (thrown) {
    const error = limit === undefined ? thrown : abortReasonOr(limit.abort, thrown);
    record.ms = Math.round(performance.now() - started);
    settleFailure(dependencies, target, record, error, context.signal);
    if (!isNexusError(error) || clientLeft(context.signal)) throw error;
    return { ok: false, error };
  } finally {
    limit?.clear();
  }
}

/** Starts the attempt's span when the request is traced; the headers that carry it upstream. */
export function startSpan(
  context: RequestContext,
  record: AttemptRecord,
  number: number,
): Readonly<Record<string, string>> | undefined {
  if (context.tracer === undefined) return undefined;
  record.span = context.tracer.start(record, number);
  return record.span.headers;
}

/** The attempt's own abort under the request's, aborted with `upstream_timeout` after `timeoutMs`. */
function attemptLimit(signal: CallSignal, timeoutMs: number | undefined, target: UpstreamTarget) {
  if (timeoutMs === undefined || timeoutMs <= 0) return undefined;
  const abort = new AttemptAbort(signal);
  const timer = setTimeout(
    () =>
      abort.abort(
        new NexusError('upstream_timeout', `${target.instance.name} did not answer within ${timeoutMs} ms.`),
      ),
    timeoutMs,
  );
  return {
    abort,
    clear() {
      clearTimeout(timer);
      abort.release();
    },
  };
}

const sharedViews = new WeakMap<LoopDependencies, RoutingView>();

/**
 * What the routing modes read about the instances. Shared by every request of a pipeline (the loop, the hedge);
 * a loop that must avoid some instances (a continuation, the loop after a hedge) gets its own.
 */
export function routingView(
  dependencies: LoopDependencies,
  exclude: ReadonlySet<string> | undefined,
): RoutingView {
  if (exclude === undefined) {
    let view = sharedViews.get(dependencies);
    if (view === undefined) {
      view = buildView(
        dependencies,
        (id) => dependencies.disabled.has(id) || dependencies.rejectedKeys.isRejected(id),
      );
      sharedViews.set(dependencies, view);
    }
    return view;
  }
  return buildView(
    dependencies,
    (id) => dependencies.disabled.has(id) || exclude.has(id) || dependencies.rejectedKeys.isRejected(id),
  );
}

function buildView(
  { stats, breakers }: LoopDependencies,
  isDisabled: (instanceId: string) => boolean,
): RoutingView {
  return {
    score: (id) => stats.score(id),
    latency: (id) => stats.latency(id),
    breaker: (deployment) => breakers.snapshot(deployment),
    isDisabled,
  };
}

/**
 * Records an attempt that failed before it produced a result. Health numbers are the instance's (its key and
 * connection), the circuit is the deployment's (the key serving this model); a refused key leaves rotation.
 */
export function settleFailure(
  dependencies: Pick<LoopDependencies, 'stats' | 'breakers' | 'rejectedKeys'>,
  target: UpstreamTarget,
  record: AttemptRecord,
  error: unknown,
  signal: CallSignal,
): void {
  const clientGone = clientLeft(signal);
  if (isNexusError(error)) record.errorCode = error.code;
  if (clientGone || !countsAgainstInstance(error)) {
    // The client left, or the request itself was at fault: no verdict on the deployment.
    settleWithoutVerdict(dependencies, target, record, clientGone ? 'cancelled' : 'failed');
  } else {
    dependencies.stats.finished(target.instance.id, false, record.ms ?? 0);
    dependencies.breakers.failure(target.deployment);
    record.outcome = 'failed';
  }
  if (!clientGone && isNexusError(error) && error.code === 'upstream_auth_failed') {
    dependencies.rejectedKeys.reject(target.instance.id, error.code);
  }
  record.endSpan();
}

/** Ends an attempt without judging its deployment: the in-flight count and any half-open probe are given back. */
export function settleWithoutVerdict(
  dependencies: Pick<LoopDependencies, 'stats' | 'breakers'>,
  target: UpstreamTarget,
  record: AttemptRecord,
  outcome: 'cancelled' | 'failed',
): void {
  dependencies.stats.abandoned(target.instance.id);
  dependencies.breakers.release(target.deployment);
  record.outcome = outcome;
  record.endSpan();
}

/** Records an attempt that succeeded; an answer proves the key works, so a refused key is back in rotation. */
export function settleSuccess(
  dependencies: Pick<LoopDependencies, 'stats' | 'breakers' | 'rejectedKeys'>,
  target: UpstreamTarget,
  record: AttemptRecord,
  latencyMs: number,
): void {
  record.outcome = 'ok';
  record.ms = Math.round(latencyMs);
  dependencies.stats.finished(target.instance.id, true, latencyMs);
  dependencies.breakers.success(target.deployment);
  if (dependencies.rejectedKeys.isRejected(target.instance.id))
    dependencies.rejectedKeys.restore(target.instance.id);
  record.endSpan();
}

function exhausted(plan: RoutePlan): NexusError {
  const names = plan.steps.map((step) => step.label).join(', ');
  return new NexusError(
    'upstream_unavailable',
    `No provider instance is available for ${names}: every one is disabled, or its circuit is open with a probe already in flight.`,
    { retryAfterSeconds: 1 },
  );
}
