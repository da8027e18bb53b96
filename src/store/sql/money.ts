/**
 * Money in the store is an integer count of nano-USD (1 USD = 1,000,000,000 nano-USD), in `BIGINT` columns on
 * both databases. Integers add up exactly in SQL and in JavaScript, where binary floating point drifts
 * (0.1 + 0.2 ≠ 0.3) and `NUMERIC` would read back as strings on one dialect and floats on the other. A
 * nano-USD is fine enough for the cheapest catalogue price ($0.01 per million tokens is 10 nano-USD per
 * token), so rounding one request's cost to it loses under a millionth of a cent; one record holds at most
 * 2^53 nano-USD (about $9 million), and sums are exact to 2^63 (about $9.2 billion).
 */

/** Nano-USD in one US dollar. */
export const nanoUsdPerUsd = 1_000_000_000;

/** Dollars (a JS number, e.g. a budget of `12.5`) to integer nano-USD, rounded to the nearest. */
export function usdToNanoUsd(usd: number): number {
  const nano = Math.round(usd * nanoUsdPerUsd);
  if (!Number.isSafeInteger(nano)) throw new RangeError(`${usd} USD is not a representable amount`);
  return nano;
}

/** Nano-USD to dollars as a JS number (exact for amounts with at most 9 decimals below about $9 million). */
export function nanoUsdToUsd(nano: number | bigint): number {
  if (typeof nano === 'number') return nano / nanoUsdPerUsd;
  const whole = nano / 1_000_000_000n;
  return Number(whole) + Number(nano - whole * 1_000_000_000n) / nanoUsdPerUsd;
}

/** Exact decimal text of a nano-USD amount, without trailing zeros: `1500000000n` → `"1.5"`. */
export function formatNanoUsd(nano: number | bigint): string {
  const value = BigInt(nano);
  const sign = value < 0n ? '-' : '';
  const magnitude = value < 0n ? -value : value;
  const whole = magnitude / 1_000_000_000n;
  const fraction = (magnitude % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return fraction === '' ? `${sign}${whole}` : `${sign}${whole}.${fraction}`;
}
