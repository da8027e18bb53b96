/**
 * A count a provider or a client reported (tokens, `max_tokens`): the value when it is a positive whole number,
 * else 0. A count gone wrong (negative, fractional, missing, not a number) counts as none rather than failing
 * the request or the accounting.
 */
export function countOf(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0;
}
