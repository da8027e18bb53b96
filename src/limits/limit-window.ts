import type { LimitName } from './limit-types.ts';

/** One fixed counting window: `[startMs, endMs)` in epoch ms, UTC. */
export interface LimitWindow {
  readonly startMs: number;
  /** Exclusive end, epoch ms; undefined for the lifetime token budget, which never resets. */
  readonly endMs: number | undefined;
  /** The window's name inside store keys, readable by an operator: `20250131T2359`, `202501`, `total`. */
  readonly label: string;
}

const minuteMs = 60_000;
const hourMs = 3_600_000;
const dayMs = 86_400_000;

/**
 * The window a limit counts in at `nowMs`: wall-clock minutes (rpm, tpm), hours (rph), UTC days (daily_usd)
 * and UTC calendar months (monthly_usd, monthly_requests), aligned to their boundaries so "60 per minute
 * window" is exact and every replica computes the same window from the same time; the token budget has one
 * window, for ever.
 */
export function limitWindow(limit: LimitName, nowMs: number): LimitWindow {
  // Every admission asks for the window of each of its counters; it changes once a minute at most, so the last
  // one per limit is kept (formatting its label on every call was a third of the in-process limiter's CPU).
  const last = lastWindows.get(limit);
  if (last !== undefined && nowMs >= last.startMs && (last.endMs === undefined || nowMs < last.endMs)) {
    return last;
  }
  const window = windowAt(limit, nowMs);
  lastWindows.set(limit, window);
  return window;
}

const lastWindows = new Map<LimitName, LimitWindow>();

function windowAt(limit: LimitName, nowMs: number): LimitWindow {
  switch (limit) {
    case 'rpm':
    case 'tpm':
      return aligned(nowMs, minuteMs, 13);
    case 'rph':
      return aligned(nowMs, hourMs, 11);
    case 'daily_usd':
      return aligned(nowMs, dayMs, 8);
    case 'monthly_requests':
    case 'monthly_usd': {
      const now = new Date(nowMs);
      const startMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
      const endMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
      return { startMs, endMs, label: stamp(startMs, 6) };
    }
    case 'token_budget':
      return { startMs: 0, endMs: undefined, label: 'total' };
  }
}

/** Epoch minute (ms / 60 000, rounded up) at whose end a hold taken at `nowMs` for `leaseMs` lapses. */
export function holdUntilMinute(nowMs: number, leaseMs: number): number {
  return Math.ceil((nowMs + leaseMs) / minuteMs);
}

function aligned(nowMs: number, sizeMs: number, stampLength: number): LimitWindow {
  const startMs = Math.floor(nowMs / sizeMs) * sizeMs;
  return { startMs, endMs: startMs + sizeMs, label: stamp(startMs, stampLength) };
}

/** `2025-01-31T23:59:00.000Z` → `20250131T2359`, cut to the window's precision. */
function stamp(ms: number, length: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').slice(0, length);
}
