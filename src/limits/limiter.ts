/**
 * The admission engine for rate limits, token limits and USD budgets (issue 14, items 4 and 5), for the
 * pipeline's "request limits" and "token limits and budget reservation" stages.
 *
 * `admit(scopes, demand)` checks every limit of every scope (key, project, org, ...) at once and, only if
 * all have room, counts the request everywhere in one atomic step: requests per minute and hour at once and
 * for good; the request's worst case (tokens: prompt estimate + max output tokens; USD: worst-case cost) as a
 * hold. `settle(reservation, usage)` replaces the hold with the real usage (a refund, or a charge when the
 * estimate was low); `release(reservation)` gives the whole hold back. A hold that is never settled (a
 * crashed replica) lapses after `reservationTtlMs` or when its window ends, whichever is first.
 *
 * Counters live in the shared store when one is given (Redis: `store/redis/limit-store.ts`, so N replicas
 * admit N times nothing more than one), else in this process (`MemoryLimitStore`).
 *
 * ## When the shared store is unreachable
 * Each kind of limit has its own choice (`OutagePolicy`):
 * - `open`: the outage refuses nothing. The request is decided against this replica's local counters (so a
 *   replica still enforces each limit on its own traffic, and the cluster may admit up to the limit once per
 *   replica during the outage), the decision says `degraded: true`, and the failure is counted and reported.
 * - `closed`: a request that touches a limit of this kind is refused with a 503 (`reason: 'unavailable'`,
 *   `Retry-After: 1`).
 *
 * Defaults: `requests: 'open'`, `tokens: 'open'`, `usd: 'closed'`. Request and token limits protect fairness
 * and the upstream's own quotas; refusing all traffic because a counter is out of reach turns a Redis outage
 * into a gateway outage, while letting it through (still capped per replica) costs at most a few windows of
 * looser limits. A USD budget is a promise about money: spending it unmetered cannot be undone (the overshoot
 * is billed by the provider), while a 503 for the minutes of an outage can be retried. A deployment that uses
 * a token budget as its spending cap sets `tokens: 'closed'`.
 *
 * Nothing about an outage is cached: every admission tries the shared store first, so the engine recovers by
 * itself as soon as the store answers again (ioredis reconnects in the background). Settlements that fail
 * during an outage are kept (up to `maxPendingSettlements`) and sent again after the store's next success; the
 * store applies a settlement at most once per reservation id, so a resend never refunds twice.
 */
import { randomUUID } from 'node:crypto';
import { type PlannedCounter, planAdmission, planSeed } from './admission-plan.ts';
import {
  type Decision,
  limitRefusal,
  type Reservation,
  tightestAfter,
  unavailableRefusal,
} from './limit-decision.ts';
import {
  type AdmissionResult,
  type AdmissionWrite,
  type Demand,
  kindOfLimit,
  type LimitKind,
  type LimitStore,
  type Scope,
  type ScopeSpend,
  type SeedCounter,
  type SettlementWrite,
  type Usage,
} from './limit-types.ts';
import { holdUntilMinute } from './limit-window.ts';
import { MemoryLimitStore } from './memory-limit-store.ts';

/** What a kind of limit does while the shared store is unreachable: admit on local counts, or refuse (503). */
export type OutageMode = 'open' | 'closed';

export type OutagePolicy = Readonly<Record<LimitKind, OutageMode>>;

/** Fail open for request and token limits, closed for USD budgets (argued in this module's documentation). */
export const outageDefaults: OutagePolicy = { requests: 'open', tokens: 'open', usd: 'closed' };

/** Reported on the shared store's transitions (once per outage, not per request), for the log. */
export type StoreHealthEvent =
  | { readonly state: 'unavailable'; readonly error: unknown }
  | { readonly state: 'recovered'; readonly failures: number };

export interface LimiterOptions {
  /** Counters shared by every replica (Redis). Absent: this process's memory, for a single gateway. */
  readonly store?: LimitStore | undefined;
  /** Per kind, what an unreachable shared store means; defaults `outageDefaults`. */
  readonly outage?: Partial<OutagePolicy> | undefined;
  /** The clock, epoch ms (tests inject one); default `Date.now`. */
  readonly now?: (() => number) | undefined;
  /**
   * How long an unsettled hold lasts, ms (default 15 minutes: longer than the longest request, 10 minutes by
   * `REQUEST_TIMEOUT_MS`, so only a request that will never settle loses it).
   */
  readonly reservationTtlMs?: number | undefined;
  /** Settlements kept for a resend while the shared store is unreachable (default 10 000; the oldest go first). */
  readonly maxPendingSettlements?: number | undefined;
  readonly onStoreHealth?: ((event: StoreHealthEvent) => void) | undefined;
}

/** Counts since the limiter started. */
export interface LimiterStats {
  /** Shared-store calls that failed. */
  readonly storeFailures: number;
  /** Admissions decided on local counts because the shared store failed (fail-open). */
  readonly failedOpen: number;
  /** Admissions refused with 503 because the shared store failed (fail-closed). */
  readonly failedClosed: number;
  /** Settlements waiting for the shared store to come back. */
  readonly pendingSettlements: number;
  /** Settlements given up (queue full, or older than the reservation TTL): their holds lapse instead. */
  readonly droppedSettlements: number;
}

/** An admission as planned: the store's write plus the demand it came from. */
interface Planned extends AdmissionWrite {
  readonly counters: PlannedCounter[];
  readonly demand: Demand;
}

interface PendingSettlement {
  readonly write: SettlementWrite;
  readonly admittedAtMs: number;
}

const noUsage: Usage = { tokens: 0, costNanoUsd: 0 };

export class Limiter {
  readonly #shared: LimitStore | undefined;
  readonly #local = new MemoryLimitStore();
  readonly #outage: OutagePolicy;
  readonly #now: () => number;
  readonly #leaseMs: number;
  readonly #maxPending: number;
  readonly #onStoreHealth: (event: StoreHealthEvent) => void;
  /** Every reservation this limiter made: true until settled, so a second settle changes nothing. */
  readonly #reservations = new WeakMap<Reservation, boolean>();
  #pending: PendingSettlement[] = [];
  #flushing = false;
  #sharedUp = true;
  #failuresThisOutage = 0;
  #stats = { storeFailures: 0, failedOpen: 0, failedClosed: 0, droppedSettlements: 0 };

  constructor(options: LimiterOptions = {}) {
    this.#shared = options.store;
    this.#outage = { ...outageDefaults, ...options.outage };
    this.#now = options.now ?? Date.now;
    this.#leaseMs = options.reservationTtlMs ?? 15 * 60_000;
    this.#maxPending = options.maxPendingSettlements ?? 10_000;
    this.#onStoreHealth = options.onStoreHealth ?? (() => {});
  }

  /**
   * Admits a request against every scope at once, or refuses it without counting it anywhere. An admitted
   * request must end with one `settle` (or `release`) of its reservation. Throws a TypeError for a malformed
   * scope list or demand (a bug, not a refusal); store failures never throw, they follow the outage policy.
   */
  async admit(scopes: readonly Scope[], demand: Demand): Promise<Decision> {
    const nowMs = this.#now();
    const counters = planAdmission(scopes, demand, { nowMs, leaseMs: this.#leaseMs });
    const holdUntil = holdUntilMinute(nowMs, this.#leaseMs);
    const write: Planned = { nowMs, holdUntilMinute: holdUntil, counters, demand };
    if (counters.length === 0) return this.#admitted('none', write, [], false);
    if (this.#shared === undefined)
      return this.#decide('local', write, await this.#local.admit(write), false);
    let result: AdmissionResult;
    try {
      result = await this.#shared.admit(write);
    } catch (error) {
      this.#failed(error);
      const closed = counters.find((counter) => this.#outage[kindOfLimit[counter.limit]] === 'closed');
      if (closed !== undefined) {
        this.#stats.failedClosed++;
        return unavailableRefusal(closed);
      }
      this.#stats.failedOpen++;
      return this.#decide('local', write, await this.#local.admit(write), true);
    }
    this.#succeeded();
    return this.#decide('shared', write, result, false);
  }

  /**
   * Replaces the reservation's holds with what the request really used (`usage.tokens` for token limits,
   * `usage.costNanoUsd` for USD budgets): the difference is refunded, or charged when the estimate was low.
   * Settling twice, or after `release`, does nothing; a reservation made by another limiter is a TypeError.
   * Never throws for a store failure: the settlement is kept and resent once the shared store is back.
   */
  async settle(reservation: Reservation, usage: Usage): Promise<void> {
    checkUsage(usage);
    const open = this.#reservations.get(reservation);
    if (open === undefined) throw new TypeError('the reservation was not made by this limiter');
    if (!open) return;
    this.#reservations.set(reservation, false);
    if (reservation.held.length === 0) return;
    const write: SettlementWrite = {
      reservationId: reservation.id,
      holdUntilMinute: reservation.holdUntilMinute,
      counters: reservation.held.map((held) => ({
        scopeKey: held.scopeKey,
        field: held.field,
        reserved: held.reserved,
        actual: held.kind === 'usd' ? usage.costNanoUsd : usage.tokens,
      })),
      rememberMs: this.#leaseMs + 60_000,
    };
    if (reservation.store === 'local' || this.#shared === undefined) return this.#local.settle(write);
    try {
      await this.#shared.settle(write);
    } catch (error) {
      this.#failed(error);
      this.#keep({ write, admittedAtMs: reservation.admittedAtMs });
      return;
    }
    this.#succeeded();
  }

  /** Gives the whole reservation back (the request never reached an upstream); its requests stay counted. */
  release(reservation: Reservation): Promise<void> {
    return this.settle(reservation, noUsage);
  }

  /**
   * Raises the counters of `scopes` to what they already used (`spendOf`, read from the usage ledger; see
   * `LimitStore.seed`): a gateway that starts counts a day's, a month's and a lifetime's spend from the ledger
   * instead of from zero, and on Redis a replica that starts, or whose connection comes back, after Redis lost
   * its data puts it back (a counter Redis kept already holds at least as much). The in-process store, this
   * replica's fallback during a Redis outage, is seeded too. Resolves with how many counters were offered;
   * rejects when the shared store cannot be reached (the caller reports it).
   */
  async seed(scopes: Iterable<Scope>, spendOf: (scope: Scope) => ScopeSpend | undefined): Promise<number> {
    const nowMs = this.#now();
    const seen = new Set<string>();
    const counters: SeedCounter[] = [];
    for (const scope of scopes) {
      const id = `${scope.kind}:${scope.id}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const spend = spendOf(scope);
      if (spend !== undefined) counters.push(...planSeed(scope, spend, { nowMs, leaseMs: this.#leaseMs }));
    }
    if (counters.length === 0) return 0;
    await this.#local.seed(counters, nowMs);
    await this.#shared?.seed(counters, nowMs);
    return counters.length;
  }

  stats(): LimiterStats {
    return { ...this.#stats, pendingSettlements: this.#pending.length };
  }

  #decide(store: 'shared' | 'local', write: Planned, result: AdmissionResult, degraded: boolean): Decision {
    if (!result.admitted) return limitRefusal(write.counters, result.totals, write.nowMs, degraded);
    return this.#admitted(store, write, result.totals, degraded);
  }

  #admitted(
    store: Reservation['store'],
    write: Planned,
    totals: AdmissionResult['totals'],
    degraded: boolean,
  ): Decision {
    const reservation: Reservation = {
      id: randomUUID(),
      store,
      admittedAtMs: write.nowMs,
      holdUntilMinute: write.holdUntilMinute,
      demand: write.demand,
      held: heldBy(write.counters),
    };
    this.#reservations.set(reservation, true);
    return {
      admitted: true,
      reservation,
      tightest: tightestAfter(write.counters, totals, write.nowMs),
      degraded,
    };
  }

  #failed(error: unknown) {
    this.#stats.storeFailures++;
    this.#failuresThisOutage++;
    if (!this.#sharedUp) return;
    this.#sharedUp = false;
    this.#onStoreHealth({ state: 'unavailable', error });
  }

  #succeeded() {
    if (!this.#sharedUp) {
      this.#sharedUp = true;
      this.#onStoreHealth({ state: 'recovered', failures: this.#failuresThisOutage });
      this.#failuresThisOutage = 0;
    }
    if (this.#pending.length > 0 && !this.#flushing) void this.#flush();
  }

  #keep(pending: PendingSettlement) {
    this.#pending.push(pending);
    if (this.#pending.length <= this.#maxPending) return;
    this.#pending.shift();
    this.#stats.droppedSettlements++;
  }

  /** Resends kept settlements in order; stops at the first failure and keeps the rest for the next success. */
  async #flush(): Promise<void> {
    const shared = this.#shared;
    if (shared === undefined) return;
    this.#flushing = true;
    try {
      while (this.#pending.length > 0) {
        const next = this.#pending[0]!;
        // Past the TTL the store may have forgotten the settlement id: a resend could apply twice.
        if (this.#now() - next.admittedAtMs > this.#leaseMs) this.#stats.droppedSettlements++;
        else {
          try {
            await shared.settle(next.write);
          } catch (error) {
            this.#failed(error);
            return;
          }
        }
        this.#pending.shift();
      }
    } finally {
      this.#flushing = false;
    }
  }
}

function checkUsage(usage: Usage) {
  for (const [name, value] of Object.entries(usage)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(`usage.${name} must be a whole non-negative number, got ${String(value)}`);
    }
  }
}

/** The counters an admission holds an amount on (tokens, USD), as its reservation keeps them. */
function heldBy(counters: readonly PlannedCounter[]): Reservation['held'] {
  const held: Reservation['held'][number][] = [];
  for (const counter of counters) {
    if (counter.hold)
      held.push({
        scopeKey: counter.scopeKey,
        field: counter.field,
        kind: kindOfLimit[counter.limit],
        reserved: counter.amount,
      });
  }
  return held;
}
