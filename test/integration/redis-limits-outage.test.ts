import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Admission, Decision, Refusal } from '../../src/limits/limit-decision.ts';
import type { Scope } from '../../src/limits/limit-types.ts';
import { Limiter, type StoreHealthEvent } from '../../src/limits/limiter.ts';
import { usdToNanos } from '../../src/limits/usd-nanos.ts';
import { RedisLimitStore } from '../../src/store/redis/limit-store.ts';
import { freePort, haveRedisServer, PrivateRedis } from '../support/redis-server.ts';

const prefix = `nexus-test-${randomUUID()}:`;
const now = () => Date.UTC(2030, 0, 15, 12, 30, 20);
const requests: Scope[] = [{ kind: 'key', id: 'k-requests', limits: { rpm: 5, tpm: 10_000 } }];
const money: Scope[] = [{ kind: 'key', id: 'k-money', budget: { daily_usd: 1 } }];
const demand = { tokens: 10, costNanoUsd: usdToNanos('0.01') };

function admitted(decision: Decision): Admission {
  assert.equal(decision.admitted, true, `refused: ${JSON.stringify(decision)}`);
  return decision as Admission;
}

function refused(decision: Decision): Refusal {
  assert.equal(decision.admitted, false, 'admitted');
  return decision as Refusal;
}

/** Admits until the shared store answers again (ioredis reconnects by itself), at most `attempts` times. */
async function untilShared(limiter: Limiter, scopes: Scope[], attempts = 300): Promise<Decision> {
  let decision = await limiter.admit(scopes, demand);
  for (let i = 0; i < attempts && (!decision.admitted || decision.reservation.store !== 'shared'); i++) {
    await sleep(50);
    decision = await limiter.admit(scopes, demand);
  }
  return decision;
}

it('a Redis stopped mid-run: fail-open and fail-closed as configured, then recovery by itself', {
  timeout: 60_000,
}, async (t) => {
  if (!haveRedisServer()) {
    const message =
      'redis-server is not on PATH: this test starts and kills a private one (apt-get install redis-server)';
    if (process.env.CI !== undefined && process.env.CI !== '') throw new Error(message);
    t.skip(message);
    return;
  }
  // A server of this test's own on another port: the shared one on 6379 is never stopped.
  const server = new PrivateRedis(await freePort());
  await server.start();
  const stores = [
    new RedisLimitStore(server.url, { keyPrefix: prefix }),
    new RedisLimitStore(server.url, { keyPrefix: prefix }),
  ] as const;
  try {
    await Promise.all(stores.map((store) => store.ready()));
    const events: StoreHealthEvent[] = [];
    const defaults = new Limiter({ store: stores[0], now, onStoreHealth: (event) => events.push(event) });
    const custom = new Limiter({ store: stores[1], now, outage: { requests: 'closed', usd: 'open' } });

    // A server that forgot its scripts (flushed, or restarted) gets them again on NOSCRIPT.
    const admin = new Redis(server.url);
    await admin.script('FLUSH');
    await admin.config('RESETSTAT');
    assert.equal(admitted(await defaults.admit(requests, demand)).reservation.store, 'shared');
    const stats = await admin.info('commandstats');
    admin.disconnect();
    assert.match(stats, /cmdstat_evalsha:calls=2,.*failed_calls=1/, 'NOSCRIPT once, then EVALSHA again');
    assert.match(stats, /cmdstat_script\|load:calls=1,/);
    const inFlight = admitted(await defaults.admit(money, demand));
    assert.equal(inFlight.reservation.store, 'shared');

    await server.kill();

    // Defaults: request and token limits fail open, on this replica's own counts (still 5 per minute)...
    for (let i = 0; i < 5; i++) {
      const decision = admitted(await defaults.admit(requests, demand));
      assert.deepEqual([decision.degraded, decision.reservation.store], [true, 'local']);
    }
    const capped = refused(await defaults.admit(requests, demand));
    assert.deepEqual([capped.status, capped.limit, capped.degraded], [429, 'rpm', true]);
    // ...and USD budgets fail closed.
    const closed = refused(await defaults.admit(money, demand));
    assert.deepEqual(
      [closed.status, closed.reason, closed.limit, closed.retryAfterSeconds],
      [503, 'unavailable', 'daily_usd', 1],
    );
    // A request admitted before the outage settles during it: kept, to be sent once Redis is back.
    await defaults.settle(inFlight.reservation, { tokens: 0, costNanoUsd: usdToNanos('0.004') });
    assert.equal(defaults.stats().pendingSettlements, 1);
    // The other replica is configured the other way round.
    assert.equal(refused(await custom.admit(requests, demand)).status, 503);
    assert.equal(admitted(await custom.admit(money, demand)).degraded, true);
    assert.deepEqual(
      events.map((event) => event.state),
      ['unavailable'],
    );
    const failures = defaults.stats();
    assert.deepEqual([failures.failedOpen, failures.failedClosed], [6, 1]);

    // Redis comes back, empty: both replicas recover by themselves, nothing about the outage was cached.
    await server.start();
    const recovered = admitted(await untilShared(defaults, money));
    assert.equal(recovered.degraded, false);
    assert.equal(admitted(await untilShared(custom, requests)).degraded, false);
    assert.deepEqual(
      events.map((event) => event.state),
      ['unavailable', 'recovered'],
    );
    for (let i = 0; i < 100 && defaults.stats().pendingSettlements > 0; i++) await sleep(20);
    assert.equal(defaults.stats().pendingSettlements, 0);
    // The kept settlement reached the new server exactly once (its id is recorded as settled).
    const check = new Redis(server.url);
    const settledSet = `${prefix}limits:settled:${inFlight.reservation.holdUntilMinute}`;
    assert.equal(await check.sismember(settledSet, inFlight.reservation.id), 1);
    check.disconnect();
  } finally {
    await Promise.all(stores.map((store) => store.close()));
    await server.kill();
  }
});
