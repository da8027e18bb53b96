import { costUsd } from '../catalog/cost.ts';
import { countOf } from '../core/count.ts';
import { NexusError } from '../core/errors.ts';
import type { Refusal } from '../limits/limit-decision.ts';
import type { Demand } from '../limits/limit-types.ts';
import { usdToNanos } from '../limits/usd-nanos.ts';
import type { RoutePlan } from '../resilience/route-plan.ts';
import { planOf } from './attempt-options.ts';
import type { Stage } from './compose.ts';
import type { GatewayRequest } from './request.ts';
import type { TenancyServices } from './tenancy.ts';

/** Output tokens assumed when neither the request nor the catalogue bounds them. */
const defaultMaxOutputTokens = 4096;

/**
 * The admission stage, for requests with a tenant key: the key's `models` list, then every limit of the key,
 * its project and its org at once (`limits/limiter.ts`: requests per minute and hour, tokens per minute, the
 * token budget, daily and monthly USD budgets). At admission the request reserves its worst case: its prompt
 * estimate plus its output bound in tokens, and that at the most expensive target its plan may reach in USD;
 * on the way out, once the reply (or the stream) is over and the meter has priced it, the reservation is
 * settled with the real usage, so a refund or a charge follows. Concurrent requests and many replicas (Redis)
 * therefore never overshoot a budget by more than one request. Requests with the master key or without one
 * (loopback) are not limited.
 */
export function createAdmitStage(tenancy: TenancyServices): Stage<GatewayRequest> {
  return async function admit(request, next) {
    const principal = request.principal;
    const limiter = tenancy.limiter;
    if (principal?.kind !== 'key' || limiter === undefined) return next();
    const key = principal.key;
    if (key.models !== null) {
      const refused = request.requestedModels.find((model) => !key.models!.includes(model));
      if (refused !== undefined) {
        throw new NexusError('model_not_allowed', `This key may not use the model '${refused}'.`, {
          param: 'model',
        });
      }
    }
    const decision = await limiter.admit(key.scopes, demandOf(request));
    request.rateLimit = decision.tightest;
    if (!decision.admitted) {
      const error = refusalError(decision);
      request.admission = {
        decision:
          error.code === 'limits_unavailable'
            ? 'unavailable'
            : (error.code as 'rate_limited' | 'insufficient_quota'),
        limit: decision.limit,
      };
      throw error;
    }
    request.admission = admitted;
    try {
      await next();
    } finally {
      await limiter.settle(decision.reservation, usedBy(request));
    }
  };
}

const admitted = { decision: 'admitted', limit: 'none' } as const;

/** The worst case of a request: prompt estimate + output bound, priced at the dearest target of its plan. */
export function demandOf(request: GatewayRequest): Demand {
  const operation = request.operation;
  if (operation === undefined) return { tokens: 0, costNanoUsd: 0 };
  const plan = planOf(request);
  let promptTokens: number;
  let outputTokens: number;
  if (operation.kind === 'embeddings') {
    promptTokens = estimateTokens(operation.body.input);
    outputTokens = 0;
  } else if (operation.kind === 'messages') {
    const { messages, system, tools } = operation.request;
    promptTokens = estimateTokens([system, messages, tools]);
    outputTokens =
      operation.endpoint === 'count_tokens'
        ? 0
        : countOf((operation.request as { max_tokens?: unknown }).max_tokens);
  } else {
    const body = operation.body;
    promptTokens = estimateTokens([body.messages, body.tools]);
    outputTokens = countOf(body.max_completion_tokens ?? body.max_tokens) || maxOutputOf(plan);
  }
  return {
    tokens: promptTokens + outputTokens,
    costNanoUsd: worstCaseNanos(plan, promptTokens, outputTokens),
  };
}

/** About four characters of JSON per token: an overestimate for English, refunded at settlement. */
function estimateTokens(value: unknown): number {
  return Math.ceil((JSON.stringify(value) ?? '').length / 4);
}

function maxOutputOf(plan: RoutePlan): number {
  let most = 0;
  for (const step of plan.steps) {
    for (const { target } of step.targets) most = Math.max(most, target.modelSpec?.maxOutputTokens ?? 0);
  }
  return most || defaultMaxOutputTokens;
}

function worstCaseNanos(plan: RoutePlan, promptTokens: number, outputTokens: number): number {
  let most = 0;
  for (const step of [...plan.steps, ...(plan.contextFallback === undefined ? [] : [plan.contextFallback])]) {
    for (const { target } of step.targets) {
      const pricing = target.modelSpec?.pricing;
      if (pricing === undefined) continue;
      most = Math.max(most, costUsd(pricing, { promptTokens, completionTokens: outputTokens }));
    }
  }
  // A reservation, refunded at settlement: rounded up to the next nano-USD (less a hair, so binary noise such
  // as 15000.000000000002 stays 15000), without the exact decimal reading (usdToNanos) that settlement uses for
  // money actually spent.
  return Math.max(0, Math.ceil(most * 1e9 - 1e-6));
}

/** What the request used, as the meter priced it: every attempt's tokens and the request's cost. */
function usedBy(request: GatewayRequest): Demand {
  let tokens = 0;
  for (const attempt of request.attempts) {
    tokens += (attempt.usage?.prompt_tokens ?? 0) + (attempt.usage?.completion_tokens ?? 0);
  }
  return { tokens, costNanoUsd: request.costUsd === undefined ? 0 : usdToNanos(request.costUsd) };
}

function refusalError(refusal: Refusal): NexusError {
  const where = `${refusal.scope.kind} ${refusal.scope.id}`;
  if (refusal.status === 503) {
    return new NexusError(
      'limits_unavailable',
      `The shared limit store is unreachable and ${refusal.kind} limits fail closed; retry shortly.`,
      { retryAfterSeconds: 1 },
    );
  }
  if (refusal.limit === 'monthly_requests') {
    return new NexusError('insufficient_quota', `The monthly request quota of ${where} is spent.`, {
      retryAfterSeconds: refusal.retryAfterSeconds,
    });
  }
  if (refusal.kind === 'usd') {
    return new NexusError(
      'insufficient_quota',
      `The ${refusal.limit === 'daily_usd' ? 'daily' : 'monthly'} budget of ${where} is spent.`,
      { retryAfterSeconds: refusal.retryAfterSeconds },
    );
  }
  return new NexusError('rate_limited', `The ${refusal.limit} limit of ${where} is reached.`, {
    retryAfterSeconds: refusal.retryAfterSeconds,
  });
}
