import type { CallContext, UpstreamTarget } from '../providers/types.ts';
import { runAttempts, settleSuccess } from '../resilience/attempt-loop.ts';
import type { AttemptRecord } from '../resilience/attempt-record.ts';
import type { RoutePlan } from '../resilience/route-plan.ts';
import { oneShotOptions, withGroupDeadline } from './attempt-options.ts';
import { loopDependencies, type PipelineDependencies } from './dependencies.ts';
import type { GatewayRequest } from './request.ts';
import { attemptTracer } from './trace-attempts.ts';

/** One attempt of a reply in one piece: the upstream call, with the attempt's record to put its usage on. */
export type OneShotCall<T> = (
  target: UpstreamTarget,
  context: CallContext,
  attempt: AttemptRecord,
) => Promise<T>;

/**
 * Dispatch for every reply in one piece (chat, embeddings, an Anthropic message, a token count): the attempt
 * loop over the plan, each attempt bounded by the response timeout and the model group's own deadline, the
 * winner's verdict and timing recorded, and the winner made the request's `served` attempt.
 */
export async function dispatchOneShot<T>(
  dependencies: PipelineDependencies,
  request: GatewayRequest,
  plan: RoutePlan,
  call: OneShotCall<T>,
): Promise<T> {
  const started = performance.now();
  const deadline = withGroupDeadline(plan, request.upstreamSignal);
  try {
    const { value, record } = await runAttempts(
      loopDependencies(dependencies),
      plan,
      { requestId: request.id, signal: deadline.signal, tracer: attemptTracer(request) },
      oneShotOptions(dependencies, request, plan),
      async (target, context, attempt) => {
        const attemptStarted = performance.now();
        const value = await call(target, context, attempt);
        settleSuccess(dependencies, target, attempt, performance.now() - attemptStarted);
        return value;
      },
    );
    request.served = record;
    return value;
  } finally {
    deadline.clear();
    request.upstreamMs = performance.now() - started;
  }
}
