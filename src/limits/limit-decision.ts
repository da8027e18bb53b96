import type { PlannedCounter } from './admission-plan.ts';
import {
  type CounterRef,
  type CounterTotals,
  type Demand,
  hasRoom,
  kindOfLimit,
  type LimitKind,
  type LimitName,
  type ScopeRef,
} from './limit-types.ts';

/** A request's admission, to be ended by exactly one `settle` or `release` on the limiter that made it. */
export interface Reservation {
  /** Unique per admission (also what makes a retried settlement apply once). */
  readonly id: string;
  /** Where its counters live: `shared` (Redis), `local` (this process), `none` (no scope had a limit). */
  readonly store: 'shared' | 'local' | 'none';
  /** Epoch ms of the admission, by the limiter's clock. */
  readonly admittedAtMs: number;
  /** Epoch minute at whose end its holds lapse if it never settles. */
  readonly holdUntilMinute: number;
  readonly demand: Demand;
  /** The counters holding part of `demand` until settlement (tokens and USD; requests are never held). */
  readonly held: readonly (CounterRef & { readonly kind: LimitKind; readonly reserved: number })[];
}

/** Where a request stands against one limit: what `X-RateLimit-Limit/Remaining/Reset` report. */
export interface Headroom {
  readonly scope: ScopeRef;
  readonly limit: LimitName;
  /** The limit, in its unit: requests, tokens, or nano-USD for `daily_usd` / `monthly_usd`. */
  readonly max: number;
  /** What is left in the current window after this request's reservation, same unit, never below 0. */
  readonly remaining: number;
  /** When the window resets, epoch ms; undefined for the lifetime token budget. */
  readonly resetAtMs: number | undefined;
  /** Whole seconds until `resetAtMs` (at least 1); undefined when it never resets. */
  readonly resetSeconds: number | undefined;
}

export interface Admission {
  readonly admitted: true;
  readonly reservation: Reservation;
  /** The limit with the smallest share left after this request; undefined when no scope has a limit. */
  readonly tightest: Headroom | undefined;
  /** True when the shared store was unreachable and the request was counted locally (fail-open). */
  readonly degraded: boolean;
}

export interface Refusal {
  readonly admitted: false;
  /** 429: a limit has no room (`reason: 'limit'`); 503: the shared store is unreachable and this kind fails closed. */
  readonly status: 429 | 503;
  readonly reason: 'limit' | 'unavailable';
  /** The scope and limit that refused (for 503, the first limit whose kind fails closed). */
  readonly scope: ScopeRef;
  readonly limit: LimitName;
  readonly kind: LimitKind;
  /** The refusing limit's standing, for headers; undefined on 503 (nothing could be read). */
  readonly tightest: Headroom | undefined;
  /**
   * Whole seconds after which the request can pass (the latest reset among the limits that refused; 1 for a
   * 503 or a lifetime budget held by requests in flight); undefined when waiting cannot help: the request
   * alone exceeds the limit, or the lifetime token budget is spent.
   */
  readonly retryAfterSeconds: number | undefined;
  readonly degraded: boolean;
}

export type Decision = Admission | Refusal;

/** The limit with the smallest share left once this request's amounts are added (ties: the first listed). */
export function tightestAfter(
  counters: readonly PlannedCounter[],
  totals: readonly CounterTotals[],
  nowMs: number,
): Headroom | undefined {
  let best: Headroom | undefined;
  let bestShare = Number.POSITIVE_INFINITY;
  counters.forEach((counter, index) => {
    const found = totals[index] ?? { used: 0, held: 0 };
    const remaining = Math.max(0, counter.max - found.used - found.held - counter.amount);
    const share = counter.max === 0 ? 0 : remaining / counter.max;
    if (share < bestShare) {
      bestShare = share;
      best = headroom(counter, remaining, nowMs);
    }
  });
  return best;
}

/** The 429 for a refused admission: the refusing limit that keeps the request out longest. */
export function limitRefusal(
  counters: readonly PlannedCounter[],
  totals: readonly CounterTotals[],
  nowMs: number,
  degraded: boolean,
): Refusal {
  let chosen: { counter: PlannedCounter; found: CounterTotals; waitMs: number } | undefined;
  counters.forEach((counter, index) => {
    const found = totals[index] ?? { used: 0, held: 0 };
    if (hasRoom(found, counter.amount, counter.max)) return;
    const waitMs = waitFor(counter, found, nowMs);
    if (chosen === undefined || waitMs > chosen.waitMs) chosen = { counter, found, waitMs };
  });
  if (chosen === undefined)
    throw new Error('limitRefusal called for an admission with room in every counter');
  const { counter, found, waitMs } = chosen;
  const remaining = Math.max(0, counter.max - found.used - found.held);
  return {
    admitted: false,
    status: 429,
    reason: 'limit',
    scope: counter.scope,
    limit: counter.limit,
    kind: kindOfLimit[counter.limit],
    tightest: headroom(counter, remaining, nowMs),
    retryAfterSeconds: Number.isFinite(waitMs) ? Math.max(1, Math.ceil(waitMs / 1000)) : undefined,
    degraded,
  };
}

/** The 503 of a fail-closed kind while the shared store is unreachable. */
export function unavailableRefusal(counter: PlannedCounter): Refusal {
  return {
    admitted: false,
    status: 503,
    reason: 'unavailable',
    scope: counter.scope,
    limit: counter.limit,
    kind: kindOfLimit[counter.limit],
    tightest: undefined,
    retryAfterSeconds: 1,
    degraded: true,
  };
}

/** How long until a refusing counter could let this request in, ms; Infinity when waiting cannot help. */
function waitFor(counter: PlannedCounter, found: CounterTotals, nowMs: number): number {
  if (counter.amount > counter.max) return Number.POSITIVE_INFINITY;
  if (counter.resetAtMs !== undefined) return counter.resetAtMs - nowMs;
  // The lifetime budget: spent for good, or held by requests in flight that will settle (usually below their hold).
  if (found.used >= counter.max || found.used + counter.amount > counter.max) return Number.POSITIVE_INFINITY;
  return 1000;
}

function headroom(counter: PlannedCounter, remaining: number, nowMs: number): Headroom {
  return {
    scope: counter.scope,
    limit: counter.limit,
    max: counter.max,
    remaining,
    resetAtMs: counter.resetAtMs,
    resetSeconds:
      counter.resetAtMs === undefined
        ? undefined
        : Math.max(1, Math.ceil((counter.resetAtMs - nowMs) / 1000)),
  };
}
