import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { Admission, Decision } from '../../src/limits/limit-decision.ts';
import type { Demand, Scope } from '../../src/limits/limit-types.ts';
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
async function replica(): Promise<Limiter> {
  const store = new RedisLimitStore(redisUrl, { keyPrefix: prefix });
  stores.push(store);
  await store.ready();
  return new Limiter({ store, now: () => now });
}

/** A counter hash as stored: `used` and the sum of its `held:<minute>` fields. */
async function counter(key: string): Promise<{ used: number; held: number; fields: string[] }> {
  inspector ??= new Redis(redisUrl);
  const hash = await inspector.hgetall(prefix + key);
  const fields = Object.keys(hash);
  const held = fields
    .filter((field) => field.startsWith('held:'))
    .reduce((sum, f) => sum + Number(hash[f]), 0);
  return { used: Number(hash.used ?? 0), held, fields };
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
    assert.equal((await counter('limits:key:k-rpm:rpm:20300115T1230')).used, 60);
    assert.equal((await counter('limits:project:p-rpm:rpm:20300115T1230')).used, 60);
    assert.equal((await counter('limits:org:o-rpm:rph:20300115T12')).used, 60);
    const ttl = await inspector!.pttl(`${prefix}limits:key:k-rpm:rpm:20300115T1230`);
    assert.ok(ttl > 0 && ttl <= 40_000, `the minute's key expires with its window (${ttl} ms)`);
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
    assert.equal((await counter('limits:key:k-batch-3:rpm:20300115T1230')).used, 3);
    assert.equal((await counter('limits:key:k-batch-5:rpm:20300115T1230')).used, 5);
    assert.equal((await counter('limits:project:p-batch:rpm:20300115T1230')).used, 5);
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
    assert.deepEqual(await counter('limits:key:k-tok:tpm:20300115T1230'), {
      used: 0,
      held: 9900,
      fields: [`held:${Math.ceil((now + 15 * 60_000) / 60_000)}`],
    });
    await Promise.all(
      admitted.map((d) =>
        (decisions.indexOf(d) % 2 === 0 ? a : b).settle(d.reservation, { tokens: 100, costNanoUsd: 0 }),
      ),
    );
    for (const key of ['limits:key:k-tok:tpm:20300115T1230', 'limits:key:k-tok:token_budget:total']) {
      assert.deepEqual(await counter(key), { used: 3300, held: 0, fields: ['used'] });
    }
    assert.equal(
      await inspector!.pttl(`${prefix}limits:key:k-tok:token_budget:total`),
      -1,
      'a lifetime budget',
    );
  });

  it("a settled reservation that was its counter's only hold leaves the counter expiring with its window", async (t) => {
    if (!(await requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
    const limiter = await replica();
    const scopes: Scope[] = [{ kind: 'key', id: 'k-alone', limits: { tpm: 10_000 } }];
    const decision = await limiter.admit(scopes, { tokens: 300, costNanoUsd: 0 });
    assert.ok(decision.admitted);
    const key = 'limits:key:k-alone:tpm:20300115T1230';
    const ttlAtAdmission = await inspector!.pttl(prefix + key);
    assert.ok(ttlAtAdmission > 0, 'a windowed counter expires');
    await limiter.settle(decision.reservation, { tokens: 120, costNanoUsd: 0 });
    assert.deepEqual(await counter(key), { used: 120, held: 0, fields: ['used'] });
    const ttl = await inspector!.pttl(prefix + key);
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
    assert.deepEqual(await counter('limits:key:k-usd-burst:daily_usd:20300115'), {
      used: 0,
      held: budget,
      fields: [`held:${Math.ceil((now + 15 * 60_000) / 60_000)}`],
    });
    // Each request settles on the replica that admitted it.
    await Promise.all(
      admitted.map((d) => (decisions.indexOf(d) % 2 === 0 ? a : b).settle(d.reservation, actual)),
    );
    assert.deepEqual(await counter('limits:key:k-usd-burst:daily_usd:20300115'), {
      used: 20 * actual.costNanoUsd,
      held: 0,
      fields: ['used'],
    });

    // 50 workers, each admitting and settling until refused: after every admission, committed + reserved is
    // read back and must be within $1.00. Each settles $0.03 of a $0.05 reservation, so admissions continue
    // while used ≤ $0.95 and the spend ends at exactly 32 × $0.03 = $0.96.
    const key = 'limits:key:k-usd-loop:daily_usd:20300115';
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
        const seen = await counter(key);
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
    assert.deepEqual(await counter(key), { used: usdToNanos('0.96'), held: 0, fields: ['used'] });
    assert.equal((await counter('limits:org:o-usd-loop:monthly_usd:203001')).used, usdToNanos('0.96'));
  });
});
