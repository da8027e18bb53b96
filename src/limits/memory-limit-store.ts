import {
  type AdmissionResult,
  type AdmissionWrite,
  type CounterTotals,
  hasRoom,
  type LimitStore,
  type SeedCounter,
  type SettlementWrite,
  type StoreCounter,
} from './limit-types.ts';

interface Entry {
  used: number;
  /** Held amounts by the epoch minute at whose end they lapse. */
  readonly holds: Map<number, number>;
  /** Epoch ms when the whole counter is gone (its window ended); Infinity for the lifetime token budget. */
  expiresAtMs: number;
}

const minuteMs = 60_000;

/**
 * Counters in this process's memory: the store of a single gateway, and every replica's local fallback
 * while the shared store is unreachable. Same layout and rule as the Redis store (per scope, per counter
 * field: `used` plus holds by the minute they lapse), so both give the same decisions. Atomic because nothing
 * awaits between the check and the write. Expired counters are dropped when touched and in a sweep at most
 * once a minute.
 */
export class MemoryLimitStore implements LimitStore {
  /** Counters by scope key, then by field. */
  readonly #scopes = new Map<string, Map<string, Entry>>();
  #nextSweepMs = 0;

  /** How many counters are held in memory (for tests and `/health`). */
  get size(): number {
    let size = 0;
    for (const entries of this.#scopes.values()) size += entries.size;
    return size;
  }

  async admit(write: AdmissionWrite): Promise<AdmissionResult> {
    const now = write.nowMs;
    if (now >= this.#nextSweepMs) this.#sweep(now);
    const counters = write.counters;
    const totals: CounterTotals[] = new Array(counters.length);
    // The entries found by the check, written to by the update: one map lookup per counter, not two.
    const entries: (Entry | undefined)[] = new Array(counters.length);
    let admitted = true;
    // Counters come grouped by scope: one scope lookup per group.
    let scopeKey: string | undefined;
    let scope: Map<string, Entry> | undefined;
    for (let index = 0; index < counters.length; index++) {
      const counter = counters[index] as StoreCounter;
      if (counter.scopeKey !== scopeKey) {
        scopeKey = counter.scopeKey;
        scope = this.#scopes.get(scopeKey);
      }
      const entry = scope === undefined ? undefined : live(scope, counter.field, now);
      entries[index] = entry;
      const found =
        entry === undefined ? { used: 0, held: 0 } : { used: entry.used, held: liveHeld(entry, now) };
      totals[index] = found;
      if (!hasRoom(found, counter.amount, counter.max)) admitted = false;
    }
    if (!admitted) return { admitted, totals };
    scopeKey = undefined;
    for (let index = 0; index < counters.length; index++) {
      const counter = counters[index] as StoreCounter;
      let entry = entries[index];
      if (entry === undefined) {
        if (counter.scopeKey !== scopeKey) {
          scopeKey = counter.scopeKey;
          scope = this.#scopes.get(scopeKey);
          if (scope === undefined) {
            scope = new Map();
            this.#scopes.set(scopeKey, scope);
          }
        }
        entry = { used: 0, holds: new Map(), expiresAtMs: Number.POSITIVE_INFINITY };
        (scope as Map<string, Entry>).set(counter.field, entry);
      }
      if (counter.ttlMs !== undefined) entry.expiresAtMs = now + counter.ttlMs;
      if (!counter.hold) entry.used += counter.amount;
      else if (counter.amount > 0) {
        entry.holds.set(
          write.holdUntilMinute,
          (entry.holds.get(write.holdUntilMinute) ?? 0) + counter.amount,
        );
      }
    }
    return { admitted, totals };
  }

  async settle(write: SettlementWrite): Promise<void> {
    let scopeKey: string | undefined;
    let scope: Map<string, Entry> | undefined;
    for (const counter of write.counters) {
      if (counter.scopeKey !== scopeKey) {
        scopeKey = counter.scopeKey;
        scope = this.#scopes.get(scopeKey);
      }
      // A counter whose window has ended is dropped on its next touch, so changing it here changes nothing.
      const entry = scope?.get(counter.field);
      if (entry === undefined) continue;
      const held = entry.holds.get(write.holdUntilMinute);
      if (held !== undefined) {
        const left = held - counter.reserved;
        if (left > 0) entry.holds.set(write.holdUntilMinute, left);
        else entry.holds.delete(write.holdUntilMinute);
      }
      entry.used += counter.actual;
    }
  }

  async seed(counters: readonly SeedCounter[], nowMs: number): Promise<void> {
    for (const counter of counters) {
      let scope = this.#scopes.get(counter.scopeKey);
      if (scope === undefined) {
        scope = new Map();
        this.#scopes.set(counter.scopeKey, scope);
      }
      const entry = live(scope, counter.field, nowMs);
      if (entry !== undefined) {
        entry.used = Math.max(entry.used, counter.used);
        continue;
      }
      scope.set(counter.field, {
        used: counter.used,
        holds: new Map(),
        expiresAtMs: counter.ttlMs === undefined ? Number.POSITIVE_INFINITY : nowMs + counter.ttlMs,
      });
    }
  }

  #sweep(now: number) {
    for (const [scopeKey, entries] of this.#scopes) {
      for (const [field, entry] of entries) if (entry.expiresAtMs <= now) entries.delete(field);
      if (entries.size === 0) this.#scopes.delete(scopeKey);
    }
    this.#nextSweepMs = now + minuteMs;
  }
}

/** The scope's counter in `field`, unless its window has ended (then it is dropped). */
function live(scope: Map<string, Entry>, field: string, now: number): Entry | undefined {
  const entry = scope.get(field);
  if (entry === undefined || entry.expiresAtMs > now) return entry;
  scope.delete(field);
  return undefined;
}

/** The sum of holds that have not lapsed; lapsed ones are dropped (a request that never settled). */
function liveHeld(entry: Entry, now: number): number {
  if (entry.holds.size === 0) return 0;
  let held = 0;
  for (const [minute, amount] of entry.holds) {
    if (minute * minuteMs <= now) entry.holds.delete(minute);
    else held += amount;
  }
  return held;
}
