import { costUsd } from '../catalog/cost.ts';
import type { ModelSpec } from '../catalog/types.ts';
import { countOf } from '../core/count.ts';
import type { Usage } from '../core/openai-types.ts';
import type { AttemptRecord } from '../resilience/attempt-record.ts';
import type { Stage } from './compose.ts';
import type { GatewayRequest } from './request.ts';

/**
 * The meter stage, the only place usage is priced. Each attempt carries the usage its upstream reported
 * (canonical, whatever the wire format); the meter prices every attempt once (`AttemptRecord.priced`: a
 * retried or resumed request is never billed twice for one attempt) at its own target's catalogue prices and
 * sums them into `request.costUsd`. A reply in one piece is priced as soon as dispatch returns, so the edge can
 * send `x-nexus-cost-usd`; a stream is priced when it ends, however it ends, with the usage that arrived.
 */
export const meter: Stage<GatewayRequest> = async function meter(request, next) {
  await next();
  const reply = request.reply;
  if (reply === undefined) return;
  if (reply.kind === 'chat-stream' || reply.kind === 'messages-stream') {
    reply.stream.onEnd(() => priceAttempts(request));
  } else priceAttempts(request);
};

/** Prices every attempt not priced yet and updates the request's total. */
export function priceAttempts(request: GatewayRequest): void {
  let total: number | undefined;
  for (const attempt of request.attempts) {
    if (!attempt.priced) priceAttempt(attempt);
    if (attempt.costUsd !== undefined) total = (total ?? 0) + attempt.costUsd;
  }
  request.costUsd = total === undefined ? undefined : roundUsd(total);
}

function priceAttempt(attempt: AttemptRecord): void {
  attempt.priced = true;
  attempt.costUsd = usageCost(attempt.target.modelSpec, attempt.usage);
}

/** Sums of 1e-10-rounded costs stay on that grid (floating-point addition can leave a tail). */
function roundUsd(value: number): number {
  return Math.round(value * 1e10) / 1e10;
}

/**
 * The USD cost of a canonical (OpenAI-shaped) usage object at a catalogued model's prices: prompt tokens at the
 * input price, cache reads (`prompt_tokens_details.cached_tokens`) and cache writes
 * (`prompt_tokens_details.cache_creation_tokens`) at their own prices. Undefined for uncatalogued models.
 * Counts a provider got wrong (negative, fractional, missing) count as zero rather than failing the request.
 */
export function usageCost(
  modelSpec: ModelSpec | undefined,
  usage: Usage | null | undefined,
): number | undefined {
  if (modelSpec === undefined || usage == null) return undefined;
  const cached = countOf(usage.prompt_tokens_details?.cached_tokens);
  const written = countOf(usage.prompt_tokens_details?.cache_creation_tokens);
  return costUsd(modelSpec.pricing, {
    promptTokens: Math.max(countOf(usage.prompt_tokens), cached + written),
    completionTokens: countOf(usage.completion_tokens),
    cachedPromptTokens: cached,
    cacheWriteTokens: written,
  });
}
