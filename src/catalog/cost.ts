import type { ModelPricing } from './types.ts';

/** Token counts of one call, as OpenAI reports them. */
export interface TokenUsage {
  /** All prompt tokens, cached ones included (OpenAI's `prompt_tokens`). */
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** The part of `promptTokens` served from the provider's prompt cache (`prompt_tokens_details.cached_tokens`). */
  readonly cachedPromptTokens?: number | undefined;
  /** The part of `promptTokens` written to the provider's cache (`prompt_tokens_details.cache_creation_tokens`). */
  readonly cacheWriteTokens?: number | undefined;
}

/** Prices are held as integer nano-USD per million tokens, so `0.15` USD/M becomes exactly 150_000_000. */
const nanoPerUsd = 1_000_000_000;
/** nano-USD per million tokens × tokens is in units of 1e-15 USD; the result is rounded to 1e-10 USD. */
const unitsPerResultStep = 100_000n;
const resultStepsPerUsd = 10_000_000_000;

/**
 * The price of one call in USD, rounded to 10 decimal places. Pricing is USD per million tokens. Cached
 * prompt tokens are billed at `cachedInputPerMillion` and cache writes at `cacheWriteInputPerMillion` (each at
 * the input price when null); neither is billed again as input. Throws RangeError for negative or fractional counts, or more cached tokens than
 * prompt tokens.
 *
 * Each price is turned into an integer once and the sum is kept in a bigint, so the only floating-point
 * step is the final division: 1,000 calls of 0.1 USD add up to exactly 100, not 99.99999999999.
 */
export function costUsd(pricing: ModelPricing, usage: TokenUsage): number {
  const cached = usage.cachedPromptTokens ?? 0;
  const written = usage.cacheWriteTokens ?? 0;
  for (const [name, count] of [
    ['promptTokens', usage.promptTokens],
    ['completionTokens', usage.completionTokens],
    ['cachedPromptTokens', cached],
    ['cacheWriteTokens', written],
  ] as const) {
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new RangeError(`${name} must be a non-negative integer, got ${count}`);
    }
  }
  if (cached + written > usage.promptTokens) {
    throw new RangeError(
      `cachedPromptTokens (${cached}) + cacheWriteTokens (${written}) exceed promptTokens (${usage.promptTokens})`,
    );
  }

  const cachedPrice = pricing.cachedInputPerMillion ?? pricing.inputPerMillion;
  const writePrice = pricing.cacheWriteInputPerMillion ?? pricing.inputPerMillion;
  const units =
    BigInt(usage.promptTokens - cached - written) * nanoPerMillion(pricing.inputPerMillion) +
    BigInt(cached) * nanoPerMillion(cachedPrice) +
    BigInt(written) * nanoPerMillion(writePrice) +
    BigInt(usage.completionTokens) * nanoPerMillion(pricing.outputPerMillion);
  // Half-up rounding to a whole 1e-10 USD; units are never negative.
  const steps = (units + unitsPerResultStep / 2n) / unitsPerResultStep;
  return Number(steps) / resultStepsPerUsd;
}

function nanoPerMillion(usdPerMillion: number): bigint {
  return BigInt(Math.round(usdPerMillion * nanoPerUsd));
}
