import { type CallSignal, clientLeft, delay } from '../core/call-signal.ts';
import { isNexusError, NexusError } from '../core/errors.ts';
import type { InstanceStats } from '../core/instance-stats.ts';
import type { PlanStep, RoutePlan } from '../core/resolve-model.ts';
import type { CallContext, UpstreamTarget } from '../providers/types.ts';
import type { CircuitBreakers } from './circuit-breaker.ts';
import {
  backoffMs,
  classifyFailure,
  countsAgainstInstance,
  isContextLengthError,
  retryDefaults,
} from './retry-policy.ts';
import type { RoutingMode, RoutingView, TargetOrderer } from './routing.ts';

/** One upstream attempt as the request log records it; every attempt is recorded exactly once. */
export interface AttemptRecord {
  readonly instance: string;
  readonly model: string;
  outcome: 'ok' | 'failed' | 'cancelled' | 'pending';
  errorCode?: string;
  /** Milliseconds from sending to the verdict. */
  ms?: number;
  /** Set on the backup attempt of a hedged pair. */
  hedge?: true;
  /** Set on an attempt that resumed a stream broken after its first byte. */
  continuation?: true;
}

export interface LoopDependencies {
  readonly stats: InstanceStats;
  readonly breakers: CircuitBreakers;
  readonly orderer: TargetOrderer;
  /** Instances switched off at runtime. */
  readonly disabled: ReadonlySet<string>;
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
}

export type AttemptCall<T> = (
  target: UpstreamTarget,
  context: CallContext,
  record: AttemptRecord,
) => Promise<T>;

/**
 * The one retry-and-failover loop. Walks the plan's steps in order; within a step, tries targets in the
 * routing mode's order, skipping disabled instances and open circuits; classifies each failure with the
 * retry policy (retry the same instance after a backoff, move to the next, or fail now) and stops at
 * `maxAttempts`. The request signal bounds everything, backoff sleeps included. A context-length refusal
 * jumps to the plan's larger-context fallback when there is one.
 *
 * The caller's `call` does the attempt and must itself report the verdict for attempts whose result is a
 * stream (the loop records non-stream verdicts). Returns the target that succeeded and its value.
 */
export async function runAttempts<T>(
  dependencies: LoopDependencies,
  plan: RoutePlan,
  context: CallContext,
  options: LoopOptions,
  call: AttemptCall<T>,
): Promise<{ target: UpstreamTarget; value: T; record: AttemptRecord }> {
  const { breakers, stats } = dependencies;
  // Copied only when a context-length fallback is spliced in; most requests never need their own list.
  let steps: readonly PlanStep[] = plan.steps;
  let lastError: unknown = options.previousError;
  let made = 0;
  let contextFallbackUsed = false;
  const view = routingView(dependencies, options.exclude);
  for (let index = 0; index < steps.length; index++) {
    const step = steps[index]!;
    const ordered = dependencies.orderer.order(step.targets, options.mode, view);
    targets: for (let position = 0; position < ordered.length; position++) {
      const target = ordered[position]!;
      const id = target.instance.id;
      const lastCandidate = index === steps.length - 1 && position === ordered.length - 1;
      for (let retry = 0; ; retry++) {
        if (context.signal.aborted) throw context.signal.reason;
        if (made >= dependencies.maxAttempts) throw lastError ?? exhausted(plan);
        if (!(breakers.isClosed(id) || (await breakers.allow(id)))) break;
        made++;
        const record: AttemptRecord = {
          instance: target.instance.name,
          model: target.model,
          outcome: 'pending',
        };
        options.attempts.push(record);
        const started = performance.now();
        stats.started(id);
        try {
          const value = await call(target, context, record);
          return { target, value, record };
        } catch (error) {
          record.ms = Math.round(performance.now() - started);
          settleFailure(dependencies, id, record, error, context.signal);
          if (!isNexusError(error) || clientLeft(context.signal)) throw error;
          lastError = error;
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
  }
  throw lastError ?? exhausted(plan);
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
      view = buildView(dependencies, (id) => dependencies.disabled.has(id));
      sharedViews.set(dependencies, view);
    }
    return view;
  }
  return buildView(dependencies, (id) => dependencies.disabled.has(id) || exclude.has(id));
}

function buildView(
  { stats, breakers }: LoopDependencies,
  isDisabled: (instanceId: string) => boolean,
): RoutingView {
  return {
    score: (id) => stats.score(id),
    latency: (id) => stats.latency(id),
    breaker: (id) => breakers.snapshot(id),
    isDisabled,
  };
}

/** Records an attempt that failed before it produced a result. */
export function settleFailure(
  dependencies: Pick<LoopDependencies, 'stats' | 'breakers'>,
  instanceId: string,
  record: AttemptRecord,
  error: unknown,
  signal: CallSignal,
): void {
  const clientGone = clientLeft(signal);
  if (clientGone || !countsAgainstInstance(error)) {
    // The client left, or the request itself was at fault: no verdict on the instance.
    settleWithoutVerdict(dependencies, instanceId, record, clientGone ? 'cancelled' : 'failed');
  } else {
    dependencies.stats.finished(instanceId, false, record.ms ?? 0);
    dependencies.breakers.failure(instanceId);
    record.outcome = 'failed';
  }
  if (isNexusError(error)) record.errorCode = error.code;
}

/** Ends an attempt without judging its instance: the in-flight count and any half-open probe are given back. */
export function settleWithoutVerdict(
  dependencies: Pick<LoopDependencies, 'stats' | 'breakers'>,
  instanceId: string,
  record: AttemptRecord,
  outcome: 'cancelled' | 'failed',
): void {
  dependencies.stats.abandoned(instanceId);
  dependencies.breakers.release(instanceId);
  record.outcome = outcome;
}

/** Records an attempt that succeeded. */
export function settleSuccess(
  dependencies: Pick<LoopDependencies, 'stats' | 'breakers'>,
  instanceId: string,
  record: AttemptRecord,
  latencyMs: number,
): void {
  record.outcome = 'ok';
  record.ms = Math.round(latencyMs);
  dependencies.stats.finished(instanceId, true, latencyMs);
  dependencies.breakers.success(instanceId);
}

function exhausted(plan: RoutePlan): NexusError {
  const names = plan.steps.map((step) => step.label).join(', ');
  return new NexusError(
    'upstream_unavailable',
    `No provider instance is available for ${names}: every one is disabled or its circuit is open.`,
  );
}
