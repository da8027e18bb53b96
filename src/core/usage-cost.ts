import { costUsd } from '../catalog/cost.ts';
import type { ModelSpec } from '../catalog/types.ts';
import type { Usage } from './openai-types.ts';

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
  const cached = tokens(usage.prompt_tokens_details?.cached_tokens);
  const written = tokens(usage.prompt_tokens_details?.cache_creation_tokens);
  return costUsd(modelSpec.pricing, {
    promptTokens: Math.max(tokens(usage.prompt_tokens), cached + written),
    completionTokens: tokens(usage.completion_tokens),
    cachedPromptTokens: cached,
    cacheWriteTokens: written,
  });
}

function tokens(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0;
}
