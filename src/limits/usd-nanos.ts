/**
 * Money as whole nano-USD (1 USD = 1 000 000 000): budgets, reservations and spend are summed as integers,
 * never as floating-point dollars, so a thousand settlements of $0.000123 add up to exactly $0.123. A JS
 * number holds whole nano-USD exactly up to 2^53 (about $9 million per counter), which is also the limit of
 * the Redis scripts' arithmetic; larger amounts are refused rather than rounded.
 */

/** Nano-USD in one USD. */
export const nanosPerUsd = 1_000_000_000;

const decimal = /^(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i;

/**
 * A non-negative USD amount (`1.5`, `'0.000123'`, `2e-7`) in whole nano-USD, rounded half up at the ninth
 * decimal. Strings are read digit by digit, and numbers through their shortest decimal form, so `0.1`
 * becomes exactly 100 000 000. Throws a RangeError for negative, non-finite or too large amounts.
 */
export function usdToNanos(usd: number | string): number {
  if (typeof usd === 'number' && usd >= 0 && usd < 9_000_000) {
    // Every settlement prices one request: its shortest decimal form read without a regular expression or a
    // BigInt (below $9 million the nano-USD stay under 2^53, so the sum is exact), same digits, same rounding.
    const text = String(usd);
    if (!text.includes('e')) {
      const point = text.indexOf('.');
      if (point < 0) return usd * nanosPerUsd;
      const fraction = text.slice(point + 1);
      const nanos = Number(text.slice(0, point)) * nanosPerUsd + Number(fraction.slice(0, 9).padEnd(9, '0'));
      return fraction.length > 9 && fraction.charCodeAt(9) >= 0x35 ? nanos + 1 : nanos;
    }
  }
  const text = typeof usd === 'number' ? String(usd) : usd.trim();
  const match = decimal.exec(text);
  if (match === null || (match[1] === '' && (match[2] ?? '') === '')) {
    throw new RangeError(`not a non-negative USD amount: ${text}`);
  }
  const digits = `${match[1]}${match[2] ?? ''}`;
  // The decimal point's place after the exponent, counted from the left of `digits`.
  const point = (match[1] ?? '').length + Number(match[3] ?? 0);
  const nanoDigits = point + 9;
  let whole = 0n;
  if (nanoDigits >= digits.length) whole = BigInt(digits.padEnd(nanoDigits, '0'));
  else if (nanoDigits >= 0) {
    whole = BigInt(`0${digits.slice(0, nanoDigits)}`);
    if (Number(digits[nanoDigits]) >= 5) whole += 1n;
  }
  const nanos = Number(whole);
  if (!Number.isSafeInteger(nanos)) throw new RangeError(`USD amount too large to count exactly: ${text}`);
  return nanos;
}

/** Whole nano-USD as a decimal USD string without trailing zeros (`123000` → `'0.000123'`), for headers and logs. */
export function nanosToUsd(nanos: number): string {
  if (!Number.isSafeInteger(nanos)) throw new RangeError(`not a whole nano-USD amount: ${nanos}`);
  const sign = nanos < 0 ? '-' : '';
  const digits = String(Math.abs(nanos)).padStart(10, '0');
  const units = digits.slice(0, -9);
  const fraction = digits.slice(-9).replace(/0+$/, '');
  return fraction === '' ? `${sign}${units}` : `${sign}${units}.${fraction}`;
}
