import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { Admission, Decision } from '../../src/limits/limit-decision.ts';
import type { AdmissionWrite, Demand, Scope, StoreCounter } from '../../src/limits/limit-types.ts';
import { Limiter } from '../../src/limits/limiter.ts';
import { usdToNanos } from '../../src/limits/usd-nanos.ts';
import { RedisLimitStore } from '../../src/store/redis/limit-store.ts';
import { redisUrl, requireService } from '../support/services.ts';

// A fresh key prefix per run: nothing from an earlier run or another suite can leak in.
const prefix = `nexus-test-${randomUUID()}:`;
// One fixed instant for every replica: the assertions never depend on where a minute boundary falls.
const now = Date.UTC(2030, 0, 15, 12, 30, 20);
const stores: RedisLimitStore[] = [];
let inspector: Redis | undefined;

/** One replica: its own Redis connection and its own limiter, as two gateway processes would have. */
async function replica(clock: () => number = () => now, reservationTtlMs?: number): Promise<Limiter> {
  const store = new RedisLimitStore(redisUrl, { keyPrefix: prefix });
  stores.push(store);
  await store.ready();
  return new Limiter({ store, now: clock, reservationTtlMs });
}

function redis(): Redis {
  inspector ??= new Redis(redisUrl);
  return inspector;
}

/** A scope's hash as stored (`scopeKey` e.g. `limits:key:k1`). */
async function scopeHash(scopeKey: string): Promise<Record<string, string>> {
  return redis().hgetall(prefix + scopeKey);
}

/**
 * One counter as stored in its scope's hash: `used` (the field named `<limit>:<label>`), the sum of its holds
 * (fields `<limit>:<label>:<minute>`) and the names of all its fields.
 */
async function counter(
  scopeKey: string,
  window: string,
): Promise<{ used: number; held: number; fields: string[] }> {
  const hash = await scopeHash(scopeKey);
  const fields = Object.keys(hash).filter((name) => name === window || name.startsWith(`${window}:`));
  const held = fields.filter((name) => name !== window).reduce((sum, name) => sum + Number(hash[name]), 0);
  return { used: Number(hash[window] ?? 0), held, fields };
}

/** The scope hash's TTL, ms (-1: none, -2: no hash). */
function pttl(scopeKey: string): Promise<number> {
  return redis().pttl(prefix + scopeKey);
}

/** The epoch minute at whose end a hold taken at `at` lapses (the limiter's default 15-minute lease). */
function holdMinute(at: number, leaseMs = 15 * 60_000): number {
  return Math.ceil((at + leaseMs) / 60_000);
}

function wins(decisions: readonly Decision[]): Admission[] {
  return decisions.filter((decision): decision is Admission => decision.admitted);
}

after(async () => {
  if (inspector !== undefined) {
    // The lifetime token budget has no TTL: remove everything this run wrote.
    let cursor = '0';
    do {
      const [next, keys] = await inspector.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await inspector.del(...keys);
    } while (cursor !== '0');
    inspector.disconnect();
  }
  await Promise.all(stores.map((store) => store.close()));
});

describe('limits on a shared Redis', { timeout: 60_000 }, () => {
  it('two replicas admit exactly the limit of 200 concurrent requests, counted in every scope', async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    const [a, b] = await Promise.all([replica(), replica()]);
    const scopes: Scope[] = [
      { kind: 'key', id: 'k-rpm', limits: { rpm: 60, rph: 1000 } },
      { kind: 'project', id: 'p-rpm', limits: { rpm: 1000 } },
      { kind: 'org', id: 'o-rpm', limits: { rph: 5000 } },
    ];
    const demand: Demand = { tokens: 0, costNanoUsd: 0 };
    const decisions = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).admit(scopes, demand)),
    );
    assert.equal(wins(decisions).length, 60);
    for (const decision of decisions.filter((d) => !d.admitted)) {
      assert.deepEqual(
        decision.admitted
          ? undefined
          : [decision.status, decision.scope.id, decision.limit, decision.retryAfterSeconds],
        [429, 'k-rpm', 'rpm', 40],
      );
    }
    // Refusals counted nowhere: the project and the org saw exactly the 60 admitted requests.
    assert.deepEqual(await scopeHash('limits:key:k-rpm'), {
      'rpm:20300115T1230': '60',
      'rph:20300115T12': '60',
    });
    assert.equal((await counter('limits:project:p-rpm', 'rpm:20300115T1230')).used, 60);
    assert.equal((await counter('limits:org:o-rpm', 'rph:20300115T12')).used, 60);
    // Each hash expires with the latest window it holds: the hour's for the key, the minute's for the project.
    const keyTtl = await pttl('limits:key:k-rpm');
    assert.ok(
      keyTtl > 40_000 && keyTtl <= 1_780_000,
      `the key's hash lives to the hour's end (${keyTtl} ms)`,
    );
    const projectTtl = await pttl('limits:project:p-rpm');
    assert.ok(projectTtl > 0 && projectTtl <= 40_000, `the project's to the minute's end (${projectTtl} ms)`);
  });

  it('admissions sent together in one script call are decided in order, each against its own counters', async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    const limiter = await replica();
    const small: Scope[] = [{ kind: 'key', id: 'k-batch-3', limits: { rpm: 3 } }];
    const large: Scope[] = [
      { kind: 'key', id: 'k-batch-5', limits: { rpm: 5 } },
      { kind: 'project', id: 'p-batch', limits: { rpm: 100 } },
    ];
    const demand: Demand = { tokens: 0, costNanoUsd: 0 };
    // Asked in one turn of the event loop, interleaved: the store sends them in one call.
    const decisions = await Promise.all(
      Array.from({ length: 20 }, (_, i) => limiter.admit(i % 2 === 0 ? small : large, demand)),
    );
    const outcome = (from: number) => decisions.filter((_, i) => i % 2 === from).map((d) => d.admitted);
    assert.deepEqual(outcome(0), [true, true, true, false, false, false, false, false, false, false]);
    assert.deepEqual(outcome(1), [true, true, true, true, true, false, false, false, false, false]);
    // Each admitted request's headers describe its own tightest limit, never a neighbour's in the batch.
    const remaining = decisions.map((d) =>
      d.admitted ? [d.tightest?.scope.id, d.tightest?.remaining] : null,
    );
    assert.deepEqual(remaining.filter((_, i) => i % 2 === 0).slice(0, 3), [
      ['k-batch-3', 2],
      ['k-batch-3', 1],
      ['k-batch-3', 0],
    ]);
    assert.deepEqual(remaining.filter((_, i) => i % 2 === 1).slice(0, 5), [
      ['k-batch-5', 4],
      ['k-batch-5', 3],
      ['k-batch-5', 2],
      ['k-batch-5', 1],
      ['k-batch-5', 0],
    ]);
    assert.equal((await counter('limits:key:k-batch-3', 'rpm:20300115T1230')).used, 3);
    assert.equal((await counter('limits:key:k-batch-5', 'rpm:20300115T1230')).used, 5);
    assert.equal((await counter('limits:project:p-batch', 'rpm:20300115T1230')).used, 5);
  });

  it('two replicas reserve tokens atomically and settle them to real usage', async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    const [a, b] = await Promise.all([replica(), replica()]);
    const scopes: Scope[] = [{ kind: 'key', id: 'k-tok', limits: { tpm: 10_000, token_budget: 50_000 } }];
    const decisions = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        (i % 2 === 0 ? a : b).admit(scopes, { tokens: 300, costNanoUsd: 0 }),
      ),
    );
    const admitted = wins(decisions);
    assert.equal(admitted.length, 33, '33 × 300 = 9900 ≤ 10 000 tokens per minute');
    assert.deepEqual(await counter('limits:key:k-tok', 'tpm:20300115T1230'), {
      used: 0,
      held: 9900,
      fields: [`tpm:20300115T1230:${holdMinute(now)}`],
    });
    await Promise.all(
      admitted.map((d) =>
        (decisions.indexOf(d) % 2 === 0 ? a : b).settle(d.reservation, { tokens: 100, costNanoUsd: 0 }),
      ),
    );
    for (const window of ['tpm:20300115T1230', 'token_budget:total']) {
      assert.deepEqual(await counter('limits:key:k-tok', window), { used: 3300, held: 0, fields: [window] });
    }
    assert.equal(await pttl('limits:key:k-tok'), -1, 'a hash holding a lifetime budget never expires');
  });

  it("a settled reservation that was its counter's only hold leaves the counter expiring with its window", async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    const limiter = await replica();
    const scopes: Scope[] = [{ kind: 'key', id: 'k-alone', limits: { tpm: 10_000 } }];
    const decision = await limiter.admit(scopes, { tokens: 300, costNanoUsd: 0 });
    assert.ok(decision.admitted);
    const ttlAtAdmission = await pttl('limits:key:k-alone');
    assert.ok(
      ttlAtAdmission > 40_000 && ttlAtAdmission <= 40_000 + 15 * 60_000,
      `a held counter's hash lives to its window's end plus the lease (${ttlAtAdmission} ms)`,
    );
    await limiter.settle(decision.reservation, { tokens: 120, costNanoUsd: 0 });
    assert.deepEqual(await scopeHash('limits:key:k-alone'), { 'tpm:20300115T1230': '120' });
    const ttl = await pttl('limits:key:k-alone');
    assert.ok(ttl > 0 && ttl <= ttlAtAdmission, `still expiring after settlement (pttl ${ttl})`);
  });

  it('reads back amounts near 2^53 nano-USD exactly: holds, spend and the headroom they leave', async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    const limiter = await replica();
    // $9,000,000 a day: 9e15 nano-USD, just under 2^53; the amounts are odd so a rounding double would show.
    const scopes: Scope[] = [{ kind: 'key', id: 'k-usd-large', budget: { daily_usd: 9_000_000 } }];
    const max = 9_000_000_000_000_000;
    const first = 4_503_599_627_370_497; // 2^52 + 1
    const second = 1_234_567_890_123_457;
    const a = await limiter.admit(scopes, { tokens: 0, costNanoUsd: first });
    assert.ok(a.admitted);
    assert.equal(a.tightest?.remaining, max - first);
    const b = await limiter.admit(scopes, { tokens: 0, costNanoUsd: second });
    assert.ok(b.admitted);
    // The second admission saw the first one's hold exactly.
    assert.equal(b.tightest?.remaining, max - first - second);
    await limiter.settle(a.reservation, { tokens: 0, costNanoUsd: first - 2 });
    const c = await limiter.admit(scopes, { tokens: 0, costNanoUsd: 3 });
    assert.ok(c.admitted);
    // Spent first - 2, still holding second, now reserving 3: every amount read back to the nano-USD.
    assert.equal(c.tightest?.remaining, max - (first - 2) - second - 3);
    assert.ok(!(await limiter.admit(scopes, { tokens: 0, costNanoUsd: max })).admitted);
  });

  it('50 concurrent reservations against $1.00 never exceed it, and settle to the exact spend', async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    const [a, b] = await Promise.all([replica(), replica()]);
    const budget = usdToNanos('1.00');
    const worst: Demand = { tokens: 0, costNanoUsd: usdToNanos('0.05') };
    const actual = { tokens: 0, costNanoUsd: usdToNanos('0.03') };

    // One burst: exactly 20 worst cases fit, whichever replica each came through.
    const burst: Scope[] = [{ kind: 'key', id: 'k-usd-burst', budget: { daily_usd: 1 } }];
    const decisions = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).admit(burst, worst)),
    );
    const admitted = wins(decisions);
    assert.equal(admitted.length, 20);
    assert.deepEqual(await counter('limits:key:k-usd-burst', 'daily_usd:20300115'), {
      used: 0,
      held: budget,
      fields: [`daily_usd:20300115:${holdMinute(now)}`],
    });
    // Each request settles on the replica that admitted it.
    await Promise.all(
      admitted.map((d) => (decisions.indexOf(d) % 2 === 0 ? a : b).settle(d.reservation, actual)),
    );
    assert.deepEqual(await counter('limits:key:k-usd-burst', 'daily_usd:20300115'), {
      used: 20 * actual.costNanoUsd,
      held: 0,
      fields: ['daily_usd:20300115'],
    });

    // 50 workers, each admitting and settling until refused: after every admission, committed + reserved is
    // read back and must be within $1.00. Each settles $0.03 of a $0.05 reservation, so admissions continue
    // while used ≤ $0.95 and the spend ends at exactly 32 × $0.03 = $0.96.
    const window = 'daily_usd:20300115';
    const scopes: Scope[] = [
      { kind: 'key', id: 'k-usd-loop', budget: { daily_usd: 1 } },
      { kind: 'org', id: 'o-usd-loop', budget: { daily_usd: 100, monthly_usd: 1000 } },
    ];
    let settled = 0;
    const worker = async (limiter: Limiter) => {
      for (;;) {
        const decision = await limiter.admit(scopes, worst);
        if (!decision.admitted) {
          assert.deepEqual([decision.scope.id, decision.limit], ['k-usd-loop', 'daily_usd']);
          return;
        }
        const seen = await counter('limits:key:k-usd-loop', window);
        assert.ok(
          seen.used + seen.held <= budget,
          `committed + reserved ${seen.used + seen.held} > ${budget}`,
        );
        await limiter.settle(decision.reservation, actual);
        settled++;
      }
    };
    await Promise.all(Array.from({ length: 50 }, (_, i) => worker(i % 2 === 0 ? a : b)));
    assert.equal(settled, 32);
    assert.deepEqual(await counter('limits:key:k-usd-loop', window), {
      used: usdToNanos('0.96'),
      held: 0,
      fields: [window],
    });
    assert.equal((await counter('limits:org:o-usd-loop', 'monthly_usd:203001')).used, usdToNanos('0.96'));
  });
});

describe('one hash per scope: windows, expiry, exactness', { timeout: 60_000 }, () => {
  const minuteMs = 60_000;

  it("a new window deletes the limit's earlier window; a replica whose clock is behind leaves the newer one alone", async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    let clock = now; // 12:30:20
    const limiter = await replica(() => clock);
    let behind = now + 30_000; // 12:30:50
    const late = await replica(() => behind);
    const scopes: Scope[] = [{ kind: 'key', id: 'k-windows', limits: { rpm: 10, rph: 100, tpm: 100_000 } }];
    const first = await limiter.admit(scopes, { tokens: 100, costNanoUsd: 0 });
    assert.ok(first.admitted);
    assert.deepEqual(await scopeHash('limits:key:k-windows'), {
      'rpm:20300115T1230': '1',
      'rph:20300115T12': '1',
      [`tpm:20300115T1230:${holdMinute(now)}`]: '100',
    });

    clock = now + minuteMs; // 12:31:20: the minute's windows start again, the hour's goes on
    const second = await limiter.admit(scopes, { tokens: 200, costNanoUsd: 0 });
    assert.ok(second.admitted);
    assert.deepEqual(await scopeHash('limits:key:k-windows'), {
      'rpm:20300115T1231': '1',
      'rph:20300115T12': '2',
      [`tpm:20300115T1231:${holdMinute(clock)}`]: '200',
    });
    // The first reservation's window is gone: settling it writes nothing (no field of a past window again).
    await limiter.settle(first.reservation, { tokens: 80, costNanoUsd: 0 });
    assert.equal((await counter('limits:key:k-windows', 'tpm:20300115T1230')).fields.length, 0);

    // A replica still in 12:30 counts in its own minute, and neither deletes nor counts 12:31.
    const lagging = await late.admit(scopes, { tokens: 0, costNanoUsd: 0 });
    assert.ok(lagging.admitted);
    assert.equal((await counter('limits:key:k-windows', 'rpm:20300115T1231')).used, 1);
    assert.equal((await counter('limits:key:k-windows', 'rpm:20300115T1230')).used, 1);
    behind = clock;
    // Back in step, the next admission drops what the lagging one wrote in the past minute.
    assert.ok((await late.admit(scopes, { tokens: 0, costNanoUsd: 0 })).admitted);
    assert.deepEqual(await scopeHash('limits:key:k-windows'), {
      'rpm:20300115T1231': '2',
      'rph:20300115T12': '4',
      [`tpm:20300115T1231:${holdMinute(clock)}`]: '200',
    });
  });

  it('a hash with only windowed fields expires with its latest window: set once, extended, never shortened', async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    let clock = now; // 12:30:20
    const limiter = await replica(() => clock);
    const requestsOnly: Scope[] = [{ kind: 'project', id: 'p-ttl', limits: { rpm: 10 } }];
    assert.ok((await limiter.admit(requestsOnly, { tokens: 0, costNanoUsd: 0 })).admitted);
    const minuteTtl = await pttl('limits:project:p-ttl');
    assert.ok(
      minuteTtl > 0 && minuteTtl <= 40_000,
      `to the minute's end, no grace for requests (${minuteTtl})`,
    );

    // A daily budget joins: the hash now lives to the day's end plus the lease (11 h 29 min 40 s + 15 min).
    const withBudget: Scope[] = [{ ...requestsOnly[0]!, budget: { daily_usd: 1 } }];
    assert.ok((await limiter.admit(withBudget, { tokens: 0, costNanoUsd: 1000 })).admitted);
    const dayTtl = 41_380_000 + 15 * minuteMs;
    const extended = await pttl('limits:project:p-ttl');
    assert.ok(extended > dayTtl - 60_000 && extended <= dayTtl, `extended to the day (${extended})`);

    // A new minute's window is written, but the day's fields still need the hash: its TTL is not shortened.
    clock = now + minuteMs;
    assert.ok((await limiter.admit(requestsOnly, { tokens: 0, costNanoUsd: 0 })).admitted);
    const after = await pttl('limits:project:p-ttl');
    assert.ok(after > dayTtl - 60_000, `not shortened by the minute's window (${after})`);
    assert.deepEqual(Object.keys(await scopeHash('limits:project:p-ttl')).sort(), [
      `daily_usd:20300115:${holdMinute(now)}`,
      'rpm:20300115T1231',
    ]);
  });

  it('a hash holding the lifetime token budget never gets a TTL; one that gets the budget later loses its TTL', async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    let clock = now;
    const limiter = await replica(() => clock);
    const budgeted: Scope[] = [{ kind: 'org', id: 'o-lifetime', limits: { rpm: 10, token_budget: 1000 } }];
    const first = await limiter.admit(budgeted, { tokens: 100, costNanoUsd: 0 });
    assert.ok(first.admitted);
    assert.equal(await pttl('limits:org:o-lifetime'), -1);
    await limiter.settle(first.reservation, { tokens: 50, costNanoUsd: 0 });
    // New minutes come (new windows written), and the budget is even taken off the scope: no TTL, ever.
    clock += minuteMs;
    assert.ok((await limiter.admit(budgeted, { tokens: 100, costNanoUsd: 0 })).admitted);
    clock += minuteMs;
    const withoutBudget: Scope[] = [{ kind: 'org', id: 'o-lifetime', limits: { rpm: 10 } }];
    assert.ok((await limiter.admit(withoutBudget, { tokens: 0, costNanoUsd: 0 })).admitted);
    assert.equal(await pttl('limits:org:o-lifetime'), -1);
    assert.deepEqual(await counter('limits:org:o-lifetime', 'token_budget:total'), {
      used: 50,
      held: 100,
      fields: ['token_budget:total', `token_budget:total:${holdMinute(now + minuteMs)}`],
    });

    // A hash made with a TTL (requests only) that then gets the lifetime budget is made persistent.
    const later: Scope[] = [{ kind: 'org', id: 'o-later-budget', limits: { rpm: 10 } }];
    assert.ok((await limiter.admit(later, { tokens: 0, costNanoUsd: 0 })).admitted);
    assert.ok((await pttl('limits:org:o-later-budget')) > 0);
    const laterBudgeted: Scope[] = [
      { kind: 'org', id: 'o-later-budget', limits: { rpm: 10, token_budget: 10 } },
    ];
    assert.ok((await limiter.admit(laterBudgeted, { tokens: 5, costNanoUsd: 0 })).admitted);
    assert.equal(await pttl('limits:org:o-later-budget'), -1);
  });

  it('a settlement after its hash expired creates nothing (no hash left without a TTL)', async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    const limiter = await replica();
    const scopes: Scope[] = [
      { kind: 'key', id: 'k-expired', limits: { tpm: 1000 }, budget: { daily_usd: 1 } },
      { kind: 'project', id: 'p-expired', limits: { tpm: 1000 } },
    ];
    const decision = await limiter.admit(scopes, { tokens: 100, costNanoUsd: 1000 });
    assert.ok(decision.admitted);
    // The key's hash expires (as its TTL would make it); the project's is still there.
    await redis().del(`${prefix}limits:key:k-expired`);
    await limiter.settle(decision.reservation, { tokens: 60, costNanoUsd: 600 });
    assert.equal(await redis().exists(`${prefix}limits:key:k-expired`), 0);
    assert.deepEqual(await scopeHash('limits:project:p-expired'), { 'tpm:20300115T1230': '60' });
    assert.ok((await pttl('limits:project:p-expired')) > 0);
  });

  it('a settlement whose own hold is gone still adds its usage while another hold keeps the window', async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    let clock = now; // 12:30:20, with a one-minute lease
    const limiter = await replica(() => clock, minuteMs);
    const scopes: Scope[] = [{ kind: 'user', id: 'u-other-hold', limits: { token_budget: 10_000 } }];
    // Nothing reserved (an estimate of 0), so nothing of its own is held: the other hold keeps the window.
    const free = await limiter.admit(scopes, { tokens: 0, costNanoUsd: 0 });
    const first = await limiter.admit(scopes, { tokens: 100, costNanoUsd: 0 });
    assert.ok(free.admitted && first.admitted);
    await limiter.settle(free.reservation, { tokens: 30, costNanoUsd: 0 });
    assert.equal((await counter('limits:user:u-other-hold', 'token_budget:total')).used, 30);
    clock = now + 50_000; // 12:31:10: a second hold, lapsing at 12:33:00
    const second = await limiter.admit(scopes, { tokens: 200, costNanoUsd: 0 });
    assert.ok(second.admitted);
    await redis().hdel(`${prefix}limits:user:u-other-hold`, 'token_budget:total');
    clock = now + 105_000; // 12:32:05: the first hold has lapsed, and this admission drops it
    assert.ok((await limiter.admit(scopes, { tokens: 0, costNanoUsd: 0 })).admitted);
    await limiter.settle(first.reservation, { tokens: 70, costNanoUsd: 0 });
    assert.deepEqual(await scopeHash('limits:user:u-other-hold'), {
      'token_budget:total': '70',
      [`token_budget:total:${holdMinute(now + 50_000, minuteMs)}`]: '200',
    });
  });

  it('holds lapse at the end of their minute, and even a refusal drops them', async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    let clock = now; // 12:30:20, with a one-minute lease: holds lapse at 12:32:00
    const limiter = await replica(() => clock, minuteMs);
    const scopes: Scope[] = [{ kind: 'user', id: 'u-lapse', limits: { token_budget: 1000 } }];
    assert.ok((await limiter.admit(scopes, { tokens: 800, costNanoUsd: 0 })).admitted);
    const lapsing = `token_budget:total:${holdMinute(now, minuteMs)}`;
    assert.deepEqual(await scopeHash('limits:user:u-lapse'), { [lapsing]: '800' });
    clock = now + 99_000; // 12:31:59: still held
    assert.ok(!(await limiter.admit(scopes, { tokens: 300, costNanoUsd: 0 })).admitted);
    assert.deepEqual(await scopeHash('limits:user:u-lapse'), { [lapsing]: '800' });
    clock = now + 100_000; // 12:32:00: lapsed; a refusal (more than the budget) still drops it
    const refused = await limiter.admit(scopes, { tokens: 1001, costNanoUsd: 0 });
    assert.ok(!refused.admitted);
    assert.equal(refused.tightest?.remaining, 1000);
    assert.equal(await redis().exists(`${prefix}limits:user:u-lapse`), 0);
  });

  it('two admissions in one script call see each other: the second adds to the hold the first made', async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    const limiter = await replica();
    const scopes: Scope[] = [
      { kind: 'key', id: 'k-pair', limits: { tpm: 1000 } },
      { kind: 'org', id: 'o-pair', limits: { tpm: 5000 } },
    ];
    // Asked in one turn of the event loop: one script call.
    const [a, b, c] = await Promise.all([
      limiter.admit(scopes, { tokens: 400, costNanoUsd: 0 }),
      limiter.admit(scopes, { tokens: 400, costNanoUsd: 0 }),
      limiter.admit(scopes, { tokens: 400, costNanoUsd: 0 }),
    ]);
    assert.deepEqual(
      [a, b, c].map((d) => (d.admitted ? d.tightest?.remaining : 'refused')),
      [600, 200, 'refused'],
    );
    const hold = `tpm:20300115T1230:${holdMinute(now)}`;
    assert.deepEqual(await scopeHash('limits:key:k-pair'), { [hold]: '800' });
    assert.deepEqual(await scopeHash('limits:org:o-pair'), { [hold]: '800' });
  });

  it('keeps usage past 2^53 exact (HINCRBY), and amounts below it written by the script exact', async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    const limiter = await replica();
    const scopes: Scope[] = [{ kind: 'key', id: 'k-2p53', budget: { daily_usd: 9_000_000 } }];
    const first = await limiter.admit(scopes, { tokens: 0, costNanoUsd: 9_007_199_254_740_991 - 9e15 });
    assert.ok(first.admitted);
    await limiter.settle(first.reservation, { tokens: 0, costNanoUsd: 4_503_599_627_370_497 });
    assert.deepEqual(await scopeHash('limits:key:k-2p53'), { 'daily_usd:20300115': '4503599627370497' });
    const second = await limiter.admit(scopes, { tokens: 0, costNanoUsd: 4_496_400_372_629_503 });
    assert.ok(second.admitted, 'exactly to the budget');
    assert.equal(second.tightest?.remaining, 0);
    assert.equal(
      (await scopeHash('limits:key:k-2p53'))[`daily_usd:20300115:${holdMinute(now)}`],
      '4496400372629503',
    );
    // Charged more than reserved: 4503599627370497 + 9007199254740990 = 13510798882111487, odd, past 2^53.
    await limiter.settle(second.reservation, { tokens: 0, costNanoUsd: 9_007_199_254_740_990 });
    assert.deepEqual(await scopeHash('limits:key:k-2p53'), { 'daily_usd:20300115': '13510798882111487' });
    assert.ok(!(await limiter.admit(scopes, { tokens: 0, costNanoUsd: 1 })).admitted);
  });

  it("a scope's counters listed apart are sent together, and the totals come back in the write's order", async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    const store = new RedisLimitStore(redisUrl, { keyPrefix: prefix });
    stores.push(store);
    await store.ready();
    const counter = (scopeKey: string, field: string, max: number, hold: boolean): StoreCounter => ({
      scopeKey,
      field,
      max,
      amount: hold ? 10 : 1,
      hold,
      ttlMs: 60_000,
    });
    const write: AdmissionWrite = {
      nowMs: now,
      holdUntilMinute: holdMinute(now),
      counters: [
        counter('limits:key:k-apart', 'rpm:20300115T1230', 5, false),
        counter('limits:project:p-apart', 'rpm:20300115T1230', 7, false),
        counter('limits:key:k-apart', 'tpm:20300115T1230', 100, true),
      ],
    };
    assert.deepEqual((await store.admit(write)).totals, [
      { used: 0, held: 0 },
      { used: 0, held: 0 },
      { used: 0, held: 0 },
    ]);
    const again = await store.admit(write);
    assert.deepEqual(again.totals, [
      { used: 1, held: 0 },
      { used: 1, held: 0 },
      { used: 0, held: 10 },
    ]);
    assert.deepEqual(await scopeHash('limits:key:k-apart'), {
      'rpm:20300115T1230': '2',
      [`tpm:20300115T1230:${holdMinute(now)}`]: '20',
    });
  });
});

describe('counters started from the usage ledger (a replica that starts, a Redis that came back empty)', () => {
  const service = (t: Parameters<typeof requireService>[0]) =>
    requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379');
  const spend = { dayNanoUsd: 900_000_000, monthNanoUsd: 5_000_000_000, tokens: 1_234, monthRequests: 7 };

  it('sets what a scope spent where its hash has nothing, with the windows a later admission counts in', async (t) => {
    if (!(await service(t))) return;
    const limiter = await replica();
    const scope: Scope = {
      kind: 'key',
      id: 'seed-budget',
      budget: { daily_usd: 1, monthly_usd: 10 },
      limits: { rpm: 100 },
    };
    assert.equal(await limiter.seed([scope, scope], () => spend), 2);
    assert.deepEqual(await scopeHash('limits:key:seed-budget'), {
      'daily_usd:20300115': '900000000',
      'monthly_usd:203001': '5000000000',
    });
    // The month's end plus the reservation lease: the longest window written.
    const monthEnd = Date.UTC(2030, 1, 1) - now + 15 * 60_000;
    const ttl = await pttl('limits:key:seed-budget');
    assert.ok(ttl > monthEnd - 5_000 && ttl <= monthEnd, `TTL ${ttl}`);
    // Another replica's admission counts from the seeded spend: $0.90 spent, $0.20 more does not fit in $1.
    const other = await replica();
    const refused = await other.admit([scope], { tokens: 0, costNanoUsd: 200_000_000 });
    assert.equal(refused.admitted, false);
    assert.equal(refused.admitted === false && refused.limit, 'daily_usd');
    assert.equal((await other.admit([scope], { tokens: 0, costNanoUsd: 100_000_000 })).admitted, true);
  });

  it('raises a counter Redis kept only where it holds less, never lowers one, and keeps a lifetime budget for ever', async (t) => {
    if (!(await service(t))) return;
    const limiter = await replica();
    const scope: Scope = {
      kind: 'project',
      id: 'seed-kept',
      limits: { token_budget: 10_000, monthly_requests: 50 },
    };
    // Counted before the seed: one request this month, its tokens held.
    const admission = await limiter.admit([scope], { tokens: 100, costNanoUsd: 0 });
    assert.equal(admission.admitted, true);
    const ttlBefore = await pttl('limits:project:seed-kept');
    assert.equal(await limiter.seed([scope], () => spend), 2);
    assert.deepEqual(await counter('limits:project:seed-kept', 'monthly_requests:203001'), {
      used: 7,
      held: 0,
      fields: ['monthly_requests:203001'],
    });
    const tokens = await counter('limits:project:seed-kept', 'token_budget:total');
    assert.equal(tokens.used, 1_234, 'the ledger amount, under the live hold');
    assert.equal(tokens.held, 100);
    assert.equal(
      await pttl('limits:project:seed-kept'),
      ttlBefore,
      'no window new to the hash: TTL as it was',
    );
    // A counter that holds more than the ledger says is not lowered.
    await limiter.seed([scope], () => ({ ...spend, monthRequests: 3, tokens: 99 }));
    assert.equal((await counter('limits:project:seed-kept', 'monthly_requests:203001')).used, 7);
    assert.equal((await counter('limits:project:seed-kept', 'token_budget:total')).used, 1_234);
    // A scope whose only counter is a seeded lifetime budget: its hash never expires.
    const lifetime: Scope = { kind: 'org', id: 'seed-lifetime', limits: { token_budget: 10_000 } };
    await limiter.seed([lifetime], () => spend);
    assert.deepEqual(await scopeHash('limits:org:seed-lifetime'), { 'token_budget:total': '1234' });
    assert.equal(await pttl('limits:org:seed-lifetime'), -1);
  });

  it('seeds nothing for a scope without spend or without the limits that outlive a restart', async (t) => {
    if (!(await service(t))) return;
    const limiter = await replica();
    const minuteOnly: Scope = { kind: 'key', id: 'seed-minute', limits: { rpm: 5, tpm: 100, rph: 10 } };
    const idle: Scope = { kind: 'key', id: 'seed-idle', budget: { daily_usd: 1 } };
    assert.equal(
      await limiter.seed([minuteOnly, idle], (scope) => (scope.id === 'seed-idle' ? undefined : spend)),
      0,
    );
    assert.equal(await pttl('limits:key:seed-minute'), -2);
    assert.equal(await pttl('limits:key:seed-idle'), -2);
  });
});
