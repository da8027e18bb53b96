import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { holdUntilMinute, limitWindow } from '../../src/limits/limit-window.ts';
import { nanosToUsd, usdToNanos } from '../../src/limits/usd-nanos.ts';

describe('limit windows', () => {
  it('align to UTC minute, hour, day and calendar month boundaries', () => {
    const now = Date.UTC(2024, 1, 29, 23, 59, 59, 999); // the last millisecond of a leap February
    assert.deepEqual(limitWindow('rpm', now), {
      startMs: Date.UTC(2024, 1, 29, 23, 59),
      endMs: Date.UTC(2024, 2, 1),
      label: '20240229T2359',
    });
    assert.equal(limitWindow('tpm', now).label, '20240229T2359');
    assert.deepEqual(limitWindow('rph', now), {
      startMs: Date.UTC(2024, 1, 29, 23),
      endMs: Date.UTC(2024, 2, 1),
      label: '20240229T23',
    });
    assert.deepEqual(limitWindow('daily_usd', now), {
      startMs: Date.UTC(2024, 1, 29),
      endMs: Date.UTC(2024, 2, 1),
      label: '20240229',
    });
    assert.deepEqual(limitWindow('monthly_usd', now), {
      startMs: Date.UTC(2024, 1, 1),
      endMs: Date.UTC(2024, 2, 1),
      label: '202402',
    });
    assert.deepEqual(limitWindow('monthly_usd', Date.UTC(2024, 11, 31, 12)).endMs, Date.UTC(2025, 0, 1));
    assert.deepEqual(
      limitWindow('monthly_requests', now),
      limitWindow('monthly_usd', now),
      'a plan quota is per month',
    );
    assert.deepEqual(limitWindow('token_budget', now), { startMs: 0, endMs: undefined, label: 'total' });
    assert.equal(limitWindow('rpm', now + 1).label, '20240301T0000');
  });

  it('lets a hold lapse at the end of the minute its lease ends in', () => {
    assert.equal(holdUntilMinute(60_000 * 10, 60_000 * 5), 15);
    assert.equal(holdUntilMinute(60_000 * 10 + 1, 60_000 * 5), 16);
  });
});

describe('USD as whole nano-USD', () => {
  it('converts decimal USD exactly, rounding half up at the ninth decimal', () => {
    assert.equal(usdToNanos(0.1), 100_000_000);
    assert.equal(usdToNanos('1.00'), 1_000_000_000);
    assert.equal(usdToNanos('0.000123'), 123_000);
    assert.equal(usdToNanos(2e-7), 200);
    assert.equal(usdToNanos('0.0000000005'), 1);
    assert.equal(usdToNanos('0.0000000004999'), 0);
    assert.equal(usdToNanos('.5'), 500_000_000);
    assert.equal(usdToNanos(0), 0);
    for (const bad of ['', '.', '-1', 'abc', '1e9', Number.NaN, -0.5, Number.POSITIVE_INFINITY]) {
      assert.throws(() => usdToNanos(bad), RangeError, String(bad));
    }
  });

  it('reads a number exactly as its decimal text, across the amounts settlements price', () => {
    const amounts = [
      0.0000165,
      0.00001234565,
      1.5,
      3,
      8_999_999.999999998,
      0.1 + 0.2,
      1 / 3,
      2 / 3,
      1e-7,
      5e-10,
    ];
    // Costs as the meter computes them: tokens times a per-token price, summed in floating point.
    for (let tokens = 1; tokens < 5000; tokens += 37) {
      amounts.push(tokens * 0.00000015, tokens * 0.0000006 + 31 * 0.00000015, tokens / 1_000_000);
    }
    for (let i = 0; i < 2000; i++) amounts.push(Math.random() * 10 ** (Math.floor(Math.random() * 9) - 6));
    for (const usd of amounts) assert.equal(usdToNanos(usd), usdToNanos(String(usd)), String(usd));
  });

  it('sums a thousand small costs exactly, where floating-point dollars drift', () => {
    let nanos = 0;
    let dollars = 0;
    for (let i = 0; i < 1000; i++) {
      nanos += usdToNanos('0.000123');
      dollars += 0.000123;
    }
    assert.equal(nanosToUsd(nanos), '0.123');
    assert.notEqual(dollars, 0.123);
  });

  it('prints nano-USD as decimal USD without trailing zeros', () => {
    assert.equal(nanosToUsd(123_000), '0.000123');
    assert.equal(nanosToUsd(1_500_000_000), '1.5');
    assert.equal(nanosToUsd(0), '0');
    assert.equal(nanosToUsd(-5), '-0.000000005');
  });
});
