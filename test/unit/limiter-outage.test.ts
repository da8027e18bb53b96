import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import type { Admission, Decision, Refusal } from '../../src/limits/limit-decision.ts';
import type {
  AdmissionResult,
  AdmissionWrite,
  LimitStore,
  Scope,
  SeedCounter,
  SettlementWrite,
} from '../../src/limits/limit-types.ts';
import { Limiter, type LimiterOptions, type StoreHealthEvent } from '../../src/limits/limiter.ts';
import { MemoryLimitStore } from '../../src/limits/memory-limit-store.ts';

/** A shared store that can be switched off, as a Redis outage looks to the limiter (calls reject at once). */
class SwitchableStore implements LimitStore {
  readonly #inner = new MemoryLimitStore();
  down = false;
  readonly settlements: SettlementWrite[] = [];

  async admit(write: AdmissionWrite): Promise<AdmissionResult> {
    if (this.down) throw new Error('Stream is not writeable');
    return this.#inner.admit(write);
  }

  async settle(write: SettlementWrite): Promise<void> {
    if (this.down) throw new Error('Stream is not writeable');
    this.settlements.push(write);
    await this.#inner.settle(write);
  }

  async seed(counters: readonly SeedCounter[], nowMs: number): Promise<void> {
    if (this.down) throw new Error('Stream is not writeable');
    await this.#inner.seed(counters, nowMs);
  }
}

const requests: Scope[] = [{ kind: 'key', id: 'k1', limits: { rpm: 3, tpm: 10_000 } }];
const money: Scope[] = [{ kind: 'key', id: 'k2', budget: { daily_usd: 1 } }];
const demand = { tokens: 100, costNanoUsd: 1000 };

function admitted(decision: Decision): Admission {
  assert.equal(decision.admitted, true, `refused: ${JSON.stringify(decision)}`);
  return decision as Admission;
}

function refused(decision: Decision): Refusal {
  assert.equal(decision.admitted, false, 'admitted');
  return decision as Refusal;
}

function setup(outage?: LimiterOptions['outage']) {
  let now = Date.UTC(2025, 0, 1, 12, 0, 10);
  const store = new SwitchableStore();
  const events: StoreHealthEvent[] = [];
  const limiter = new Limiter({
    outage,
    store,
    now: () => now,
    onStoreHealth: (event) => events.push(event),
  });
  return { store, limiter, events, advance: (ms: number) => (now += ms) };
}

describe('limiter: shared store outage', () => {
  it('fails open by default for request and token limits: local counts, still capped per replica', async () => {
    const { store, limiter, events } = setup();
    admitted(await limiter.admit(requests, demand));
    store.down = true;
    for (let i = 0; i < 3; i++) {
      const decision = admitted(await limiter.admit(requests, demand));
      assert.equal(decision.degraded, true);
      assert.equal(decision.reservation.store, 'local');
    }
    // This replica's own counts still hold the limit: a fourth request in the minute is a 429, not a 503.
    const refusal = refused(await limiter.admit(requests, demand));
    assert.deepEqual([refusal.status, refusal.limit, refusal.degraded], [429, 'rpm', true]);
    assert.equal(events.length, 1, 'one report per outage, not one per request');
    assert.equal(events[0]?.state, 'unavailable');
    assert.deepEqual(
      { ...limiter.stats(), pendingSettlements: undefined },
      {
        storeFailures: 4,
        failedOpen: 4,
        failedClosed: 0,
        droppedSettlements: 0,
        pendingSettlements: undefined,
      },
    );
  });

  it('fails closed by default for USD budgets: 503, naming the scope and limit, Retry-After 1', async () => {
    const { store, limiter } = setup();
    store.down = true;
    const refusal = refused(await limiter.admit([...requests, ...money], demand));
    assert.deepEqual(
      [refusal.status, refusal.reason, refusal.scope, refusal.limit, refusal.kind, refusal.retryAfterSeconds],
      [503, 'unavailable', { kind: 'key', id: 'k2' }, 'daily_usd', 'usd', 1],
    );
    assert.equal(limiter.stats().failedClosed, 1);
  });

  it('takes the choice per kind from configuration', async () => {
    const { store, limiter } = setup({ requests: 'closed', usd: 'open' });
    store.down = true;
    assert.equal(refused(await limiter.admit(requests, demand)).status, 503);
    const decision = admitted(await limiter.admit(money, demand));
    assert.equal(decision.degraded, true);
    const tokensOnly: Scope[] = [{ kind: 'key', id: 'k3', limits: { tpm: 1000 } }];
    assert.equal(admitted(await limiter.admit(tokensOnly, demand)).degraded, true);
  });

  it('recovers by itself on the first answer, reporting the outage once, and resends settlements once', async () => {
    const { store, limiter, events } = setup();
    const before = admitted(await limiter.admit(money, demand));
    store.down = true;
    await limiter.settle(before.reservation, { tokens: 50, costNanoUsd: 400 });
    await limiter.settle(before.reservation, { tokens: 50, costNanoUsd: 400 });
    assert.equal(limiter.stats().pendingSettlements, 1);
    refused(await limiter.admit(money, demand));
    store.down = false;
    const after = admitted(await limiter.admit(money, demand));
    assert.equal(after.degraded, false);
    assert.equal(after.reservation.store, 'shared');
    await tick();
    assert.equal(limiter.stats().pendingSettlements, 0);
    assert.equal(store.settlements.length, 1);
    assert.deepEqual(store.settlements[0]?.counters[0], {
      scopeKey: 'limits:key:k2',
      field: 'daily_usd:20250101',
      reserved: 1000,
      actual: 400,
    });
    assert.deepEqual(
      events.map((event) => event.state),
      ['unavailable', 'recovered'],
    );
    assert.equal(events[1]?.state === 'recovered' && events[1].failures, 2);
    // A reservation made locally during the outage settles locally, never against the shared store.
    store.down = true;
    const local = admitted(await limiter.admit(requests, demand));
    store.down = false;
    await limiter.settle(local.reservation, { tokens: 10, costNanoUsd: 0 });
    assert.equal(store.settlements.length, 1);
  });

  it('drops a kept settlement once it is older than the reservation TTL (its hold lapses instead)', async () => {
    const { store, limiter, advance } = setup();
    const before = admitted(await limiter.admit(money, demand));
    store.down = true;
    await limiter.settle(before.reservation, { tokens: 0, costNanoUsd: 400 });
    advance(16 * 60_000);
    store.down = false;
    admitted(await limiter.admit(money, demand));
    await tick();
    assert.deepEqual([limiter.stats().pendingSettlements, limiter.stats().droppedSettlements], [0, 1]);
    assert.equal(store.settlements.length, 0);
  });
});
