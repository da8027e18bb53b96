import { AttemptAbort, type CallSignal } from '../core/call-signal.ts';
import { NexusError } from '../core/errors.ts';
import type { LoopOptions } from '../resilience/attempt-loop.ts';
import type { RoutePlan } from '../resilience/route-plan.ts';
import type { PipelineDependencies } from './dependencies.ts';
import type { GatewayRequest } from './request.ts';

const noop = () => {};

/**
 * A model group's own time limit (`groups.<name>.requestTimeoutMs`), tighter than the request deadline: a
 * child signal that aborts with `upstream_timeout`. `clear` must run when the request or its stream ends.
 */
export function withGroupDeadline(
  plan: RoutePlan,
  signal: CallSignal,
): { signal: CallSignal; clear: () => void } {
  const limitMs = plan.group?.requestTimeoutMs;
  if (limitMs === undefined) return { signal, clear: noop };
  const controller = new AttemptAbort(signal);
  const timer = setTimeout(
    () =>
      controller.abort(
        new NexusError('upstream_timeout', `The model group's time limit of ${limitMs} ms passed.`),
      ),
    limitMs,
  );
  return {
    signal: controller,
    clear: () => {
      clearTimeout(timer);
      controller.release();
    },
  };
}

/** The attempt loop's options for a request: its routing mode and its attempt list. */
export function loopOptions(
  dependencies: PipelineDependencies,
  request: GatewayRequest,
  plan: RoutePlan,
): LoopOptions {
  return {
    mode: request.routingMode ?? plan.group?.routing ?? dependencies.settings.mode,
    attempts: request.attempts,
  };
}

/** Loop options for a reply in one piece: each attempt is bounded by the response timeout. */
export function oneShotOptions(
  dependencies: PipelineDependencies,
  request: GatewayRequest,
  plan: RoutePlan,
): LoopOptions {
  return {
    ...loopOptions(dependencies, request, plan),
    attemptTimeoutMs: plan.group?.responseTimeoutMs ?? dependencies.settings.responseTimeoutMs,
  };
}

/** The plan, which the plan stage has set by the time any later stage runs. */
export function planOf(request: GatewayRequest): RoutePlan {
  const plan = request.plan;
  if (plan === undefined) throw new Error('no route plan: the plan stage did not run');
  return plan;
}
