import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { limitsWithDefaults } from '../../src/limits/admission-plan.ts';
import type { Admission, Decision, Refusal } from '../../src/limits/limit-decision.ts';
import type { Demand, Scope, StoreCounter } from '../../src/limits/limit-types.ts';
import { Limiter } from '../../src/limits/limiter.ts';
import { MemoryLimitStore } from '../../src/limits/memory-limit-store.ts';
import { usdToNanos } from '../../src/limits/usd-nanos.ts';

/** 30 s before a minute, hour, UTC day and month all end at once (2025-02-01T00:00:00Z). */
const start = Date.UTC(2025, 0, 31, 23, 59, 30);
const boundary = Date.UTC(2025, 1, 1);

function clock(at = start) {
  let now = at;
  return { now: () => now, advance: (ms: number) => (now += ms), set: (ms: number) => (now = ms) };
}

const oneRequest: Demand = { tokens: 0, costNanoUsd: 0 };

function admitted(decision: Decision): Admission {
  assert.equal(decision.admitted, true, `refused: ${JSON.stringify(decision)}`);
  return decision as Admission;
}

function refused(decision: Decision): Refusal {
  assert.equal(decision.admitted, false, 'admitted');
  return decision as Refusal;
}

describe('limiter: request limits in wall-clock windows', () => {
  it('resets a minute window on its boundary, not 60 s after the first request', async () => {
    const time = clock();
    const limiter = new Limiter({ now: time.now });
    const scopes: Scope[] = [{ kind: 'key', id: 'k1', limits: { rpm: 2 } }];
    admitted(await limiter.admit(scopes, oneRequest));
    admitted(await limiter.admit(scopes, oneRequest));
    const refusal = refused(await limiter.admit(scopes, oneRequest));
    assert.equal(refusal.status, 429);
    assert.deepEqual([refusal.limit, refusal.scope], ['rpm', { kind: 'key', id: 'k1' }]);
    assert.equal(refusal.retryAfterSeconds, 30);
    assert.equal(refusal.tightest?.resetAtMs, boundary);
    assert.equal(refusal.tightest?.remaining, 0);
    time.set(boundary - 1);
    assert.equal(refused(await limiter.admit(scopes, oneRequest)).retryAfterSeconds, 1);
    time.set(boundary);
    const next = admitted(await limiter.admit(scopes, oneRequest));
    assert.equal(next.tightest?.remaining, 1);
    assert.equal(next.tightest?.resetSeconds, 60);
  });

  it('counts requests per hour across minutes, refusing until the hour ends', async () => {
    const time = clock(Date.UTC(2025, 0, 31, 23, 0, 0));
    const limiter = new Limiter({ now: time.now });
    const scopes: Scope[] = [{ kind: 'key', id: 'k1', limits: { rpm: 100, rph: 3 } }];
    for (let minute = 0; minute < 3; minute++) {
      admitted(await limiter.admit(scopes, oneRequest));
      time.advance(10 * 60_000);
    }
    const refusal = refused(await limiter.admit(scopes, oneRequest));
    assert.equal(refusal.limit, 'rph');
    assert.equal(refusal.retryAfterSeconds, 30 * 60);
    time.set(boundary);
    admitted(await limiter.admit(scopes, oneRequest));
  });

  it('admits only when every scope has room, and a refusal counts in no scope', async () => {
    const time = clock();
    const limiter = new Limiter({ now: time.now });
    const key = { kind: 'key', id: 'k1', limits: { rpm: 5 } } as const;
    const project = { kind: 'project', id: 'p1', limits: { rpm: 3 } } as const;
    const org = { kind: 'org', id: 'o1', limits: { rpm: 100 } } as const;
    for (let i = 0; i < 3; i++) admitted(await limiter.admit([key, project, org], oneRequest));
    for (let i = 0; i < 4; i++) {
      const refusal = refused(await limiter.admit([key, project, org], oneRequest));
      assert.deepEqual([refusal.scope, refusal.limit], [{ kind: 'project', id: 'p1' }, 'rpm']);
    }
    // The four refusals were not counted against the key or the org: the key still has exactly 2 left.
    const alone = admitted(await limiter.admit([key, org], oneRequest));
    assert.deepEqual(alone.tightest, {
      scope: { kind: 'key', id: 'k1' },
      limit: 'rpm',
      max: 5,
      remaining: 1,
      resetAtMs: boundary,
      resetSeconds: 30,
    });
    admitted(await limiter.admit([key, org], oneRequest));
    assert.equal(refused(await limiter.admit([key, org], oneRequest)).scope.kind, 'key');
  });

  it('reports the limit with the smallest share left as the tightest', async () => {
    const limiter = new Limiter({ now: clock().now });
    const decision = admitted(
      await limiter.admit(
        [
          { kind: 'key', id: 'k1', limits: { rpm: 10, tpm: 1000 } },
          { kind: 'org', id: 'o1', limits: { rpm: 4 } },
        ],
        { tokens: 100, costNanoUsd: 0 },
      ),
    );
    assert.deepEqual([decision.tightest?.scope.kind, decision.tightest?.limit], ['org', 'rpm']);
    assert.equal(decision.tightest?.remaining, 3);
  });

  it('treats absent and null limits as unlimited, and fills seed 003 defaults when enabled without values', async () => {
    const limiter = new Limiter({ now: clock().now });
    const open: Scope[] = [
      { kind: 'key', id: 'k1' },
      { kind: 'org', id: 'o1', limits: { rpm: null, tpm: null }, budget: { daily_usd: null } },
    ];
    for (let i = 0; i < 500; i++) {
      const decision = admitted(await limiter.admit(open, { tokens: 1_000_000, costNanoUsd: 10 ** 12 }));
      assert.equal(decision.tightest, undefined);
      assert.equal(decision.reservation.store, 'none');
    }
    assert.deepEqual(limitsWithDefaults(), { rpm: 60, rph: 1000, token_budget: 100_000 });
    assert.deepEqual(limitsWithDefaults({ rpm: null, tpm: 5000, rph: undefined }), {
      rpm: null,
      rph: 1000,
      tpm: 5000,
      token_budget: 100_000,
    });
    const seeded: Scope[] = [{ kind: 'key', id: 'k2', limits: limitsWithDefaults() }];
    for (let i = 0; i < 60; i++) admitted(await limiter.admit(seeded, oneRequest));
    assert.equal(refused(await limiter.admit(seeded, oneRequest)).limit, 'rpm');
  });

  it('rejects malformed input as a bug, not as a refusal', async () => {
    const limiter = new Limiter({ now: clock().now });
    const key: Scope = { kind: 'key', id: 'k1', limits: { rpm: 5 } };
    await assert.rejects(limiter.admit([key, key], oneRequest), TypeError);
    await assert.rejects(limiter.admit([key], { tokens: -1, costNanoUsd: 0 }), TypeError);
    await assert.rejects(limiter.admit([key], { tokens: 1.5, costNanoUsd: 0 }), TypeError);
    await assert.rejects(
      limiter.admit([{ kind: 'key', id: 'k2', limits: { rpm: 2.5 } }], oneRequest),
      TypeError,
    );
    const decision = admitted(await limiter.admit([key], oneRequest));
    await assert.rejects(
      limiter.settle(decision.reservation, { tokens: Number.NaN, costNanoUsd: 0 }),
      TypeError,
    );
  });
});

describe('limiter: token limits with reservations', () => {
  it('reserves the estimate, then refunds or charges the difference at settlement', async () => {
    const limiter = new Limiter({ now: clock().now });
    const scopes: Scope[] = [{ kind: 'key', id: 'k1', limits: { tpm: 1000 } }];
    const first = admitted(await limiter.admit(scopes, { tokens: 600, costNanoUsd: 0 }));
    assert.equal(first.tightest?.remaining, 400);
    const refusal = refused(await limiter.admit(scopes, { tokens: 600, costNanoUsd: 0 }));
    assert.equal(refusal.limit, 'tpm');
    await limiter.settle(first.reservation, { tokens: 200, costNanoUsd: 0 }); // refunds 400
    const second = admitted(await limiter.admit(scopes, { tokens: 600, costNanoUsd: 0 }));
    assert.equal(second.tightest?.remaining, 200);
    await limiter.settle(second.reservation, { tokens: 750, costNanoUsd: 0 }); // charges 150 more
    const third = admitted(await limiter.admit(scopes, { tokens: 50, costNanoUsd: 0 }));
    assert.equal(third.tightest?.remaining, 0, '200 + 750 + 50 = the whole minute');
  });

  it('lets an unsettled reservation lapse after the reservation TTL; its late settlement counts once', async () => {
    const time = clock();
    const limiter = new Limiter({ now: time.now, reservationTtlMs: 5 * 60_000 });
    const scopes: Scope[] = [{ kind: 'key', id: 'k1', limits: { token_budget: 1000 } }];
    const stuck = admitted(await limiter.admit(scopes, { tokens: 800, costNanoUsd: 0 }));
    const refusal = refused(await limiter.admit(scopes, { tokens: 300, costNanoUsd: 0 }));
    assert.deepEqual([refusal.limit, refusal.retryAfterSeconds], ['token_budget', 1]);
    time.advance(5 * 60_000);
    refused(await limiter.admit(scopes, { tokens: 300, costNanoUsd: 0 }));
    time.advance(60_000); // the hold's minute has ended
    const later = admitted(await limiter.admit(scopes, { tokens: 300, costNanoUsd: 0 }));
    assert.equal(later.tightest?.remaining, 700);
    await limiter.settle(stuck.reservation, { tokens: 500, costNanoUsd: 0 });
    await limiter.settle(stuck.reservation, { tokens: 500, costNanoUsd: 0 }); // a second settle: nothing
    const after = admitted(await limiter.admit(scopes, { tokens: 200, costNanoUsd: 0 }));
    assert.equal(after.tightest?.remaining, 0, '500 used + 300 and 200 held');
  });

  it('refuses for good, without Retry-After, once the token budget is spent', async () => {
    const limiter = new Limiter({ now: clock().now });
    const scopes: Scope[] = [{ kind: 'key', id: 'k1', limits: { token_budget: 1000, tpm: 100_000 } }];
    const big = admitted(await limiter.admit(scopes, { tokens: 1000, costNanoUsd: 0 }));
    await limiter.settle(big.reservation, { tokens: 990, costNanoUsd: 0 });
    const over = refused(await limiter.admit(scopes, { tokens: 20, costNanoUsd: 0 }));
    assert.deepEqual(
      [over.limit, over.retryAfterSeconds, over.tightest?.remaining],
      ['token_budget', undefined, 10],
    );
    const last = admitted(await limiter.admit(scopes, { tokens: 10, costNanoUsd: 0 }));
    await limiter.settle(last.reservation, { tokens: 10, costNanoUsd: 0 });
    const spent = refused(await limiter.admit(scopes, { tokens: 0, costNanoUsd: 0 }));
    assert.deepEqual([spent.limit, spent.retryAfterSeconds], ['token_budget', undefined]);
  });

  it('gives no Retry-After to a request larger than the limit itself', async () => {
    const limiter = new Limiter({ now: clock().now });
    const refusal = refused(
      await limiter.admit([{ kind: 'key', id: 'k1', limits: { tpm: 100 } }], { tokens: 150, costNanoUsd: 0 }),
    );
    assert.deepEqual([refusal.limit, refusal.retryAfterSeconds], ['tpm', undefined]);
  });

  it('release gives the whole reservation back but keeps the request counted', async () => {
    const limiter = new Limiter({ now: clock().now });
    const scopes: Scope[] = [{ kind: 'key', id: 'k1', limits: { tpm: 1000, rpm: 3 } }];
    const first = admitted(await limiter.admit(scopes, { tokens: 900, costNanoUsd: 0 }));
    await limiter.release(first.reservation);
    await limiter.release(first.reservation);
    const second = admitted(await limiter.admit(scopes, { tokens: 900, costNanoUsd: 0 }));
    assert.deepEqual([second.tightest?.limit, second.tightest?.remaining], ['tpm', 100]);
    await limiter.release(second.reservation);
    admitted(await limiter.admit(scopes, { tokens: 900, costNanoUsd: 0 }));
    assert.equal(refused(await limiter.admit(scopes, { tokens: 0, costNanoUsd: 0 })).limit, 'rpm');
    // A reservation is settled where it was made: another limiter refuses it loudly rather than ignoring it.
    await assert.rejects(new Limiter().settle(second.reservation, { tokens: 0, costNanoUsd: 0 }), TypeError);
  });
});

describe('limiter: USD budgets', () => {
  it('admits exactly what fits of 50 concurrent worst cases, then settles to the exact spend', async () => {
    const limiter = new Limiter({ now: clock().now });
    const scopes: Scope[] = [
      { kind: 'key', id: 'k1', budget: { daily_usd: 1 } },
      { kind: 'org', id: 'o1', budget: { monthly_usd: 10 } },
    ];
    const worst = { tokens: 0, costNanoUsd: usdToNanos('0.05') };
    const decisions = await Promise.all(Array.from({ length: 50 }, () => limiter.admit(scopes, worst)));
    const winners = decisions.filter((decision): decision is Admission => decision.admitted);
    assert.equal(winners.length, 20, '20 × $0.05 = $1.00');
    for (const decision of decisions.filter((decision) => !decision.admitted)) {
      assert.deepEqual([refused(decision).limit, refused(decision).retryAfterSeconds], ['daily_usd', 30]);
    }
    await Promise.all(
      winners.map((winner) =>
        limiter.settle(winner.reservation, { tokens: 0, costNanoUsd: usdToNanos('0.0123') }),
      ),
    );
    const probe = admitted(await limiter.admit(scopes, { tokens: 0, costNanoUsd: 0 }));
    assert.deepEqual([probe.tightest?.limit, probe.tightest?.remaining], ['daily_usd', usdToNanos('0.754')]);
  });

  it('starts a new UTC day and a new UTC month on their boundaries', async () => {
    const time = clock();
    const limiter = new Limiter({ now: time.now });
    const daily: Scope[] = [{ kind: 'key', id: 'k1', budget: { daily_usd: 0.1 } }];
    const monthly: Scope[] = [{ kind: 'key', id: 'k2', budget: { monthly_usd: 0.1 } }];
    for (const scopes of [daily, monthly]) {
      const spend = admitted(await limiter.admit(scopes, { tokens: 0, costNanoUsd: usdToNanos(0.1) }));
      await limiter.settle(spend.reservation, { tokens: 0, costNanoUsd: usdToNanos(0.1) });
      refused(await limiter.admit(scopes, { tokens: 0, costNanoUsd: 1 }));
    }
    time.set(boundary);
    admitted(await limiter.admit(daily, { tokens: 0, costNanoUsd: 1 }));
    const month = admitted(await limiter.admit(monthly, { tokens: 0, costNanoUsd: 1 }));
    assert.equal(month.tightest?.resetAtMs, Date.UTC(2025, 2, 1), 'February ends on March 1');
  });
});

describe('memory limit store', () => {
  it('keeps counters by scope and field, each expiring with its window, and sweeps empty scopes', async () => {
    const store = new MemoryLimitStore();
    const counter = (scopeKey: string, field: string, ttlMs: number | undefined): StoreCounter => ({
      scopeKey,
      field,
      max: 10,
      amount: 1,
      hold: false,
      ttlMs,
    });
    const a = [
      counter('limits:key:a', 'rpm:20250101T0000', 60_000),
      counter('limits:key:a', 'token_budget:total', undefined),
    ];
    const b = [counter('limits:key:b', 'rpm:20250101T0000', 60_000)];
    await store.admit({ nowMs: 0, holdUntilMinute: 16, counters: [...a, ...b] });
    const again = await store.admit({ nowMs: 1000, holdUntilMinute: 17, counters: a });
    assert.deepEqual(again.totals, [
      { used: 1, held: 0 },
      { used: 1, held: 0 },
    ]);
    assert.equal(store.size, 3);
    // A minute on, the sweep drops both minute counters (and scope b, now empty); the lifetime one stays.
    const c = [counter('limits:key:c', 'rpm:20250101T0001', 60_000)];
    await store.admit({ nowMs: 61_000, holdUntilMinute: 17, counters: c });
    assert.equal(store.size, 2);
    await store.settle({
      reservationId: 'r1',
      holdUntilMinute: 16,
      counters: [{ scopeKey: 'limits:key:a', field: 'token_budget:total', reserved: 0, actual: 5 }],
      rememberMs: 60_000,
    });
    const after = await store.admit({ nowMs: 62_000, holdUntilMinute: 18, counters: a });
    assert.deepEqual(after.totals, [
      { used: 0, held: 0 },
      { used: 7, held: 0 },
    ]);
  });
});

describe('counters started from the usage ledger, in process', () => {
  const at = Date.UTC(2030, 0, 15, 12, 30, 20);
  const spend = { dayNanoUsd: 900_000_000, monthNanoUsd: 4_500_000_000, tokens: 9_000, monthRequests: 99 };

  it('refuses what the ledger says the scopes already spent, each limit in its own window', async () => {
    let clock = at;
    const limiter = new Limiter({ now: () => clock });
    const key: Scope = { kind: 'key', id: 'k', budget: { daily_usd: 1 }, limits: { token_budget: 10_000 } };
    const user: Scope = { kind: 'user', id: 'u', limits: { monthly_requests: 100 } };
    const org: Scope = { kind: 'org', id: 'o', budget: { monthly_usd: 5 } };
    const offered = await limiter.seed([key, user, org, key], (scope) =>
      scope.id === 'nobody' ? undefined : spend,
    );
    assert.equal(offered, 4, 'daily USD and tokens of the key, requests of the user, monthly USD of the org');
    // $0.90 of $1 spent today: $0.20 more does not fit, $0.10 does.
    const tooDear = await limiter.admit([key], { tokens: 0, costNanoUsd: 200_000_000 });
    assert.equal(tooDear.admitted === false && tooDear.limit, 'daily_usd');
    assert.equal((await limiter.admit([key], { tokens: 0, costNanoUsd: 100_000_000 })).admitted, true);
    // 9,000 of 10,000 lifetime tokens used.
    const tooLong = await limiter.admit([key], { tokens: 1_001, costNanoUsd: 0 });
    assert.equal(tooLong.admitted === false && tooLong.limit, 'token_budget');
    // 99 of 100 requests this month: one more, then none.
    assert.equal((await limiter.admit([user], { tokens: 0, costNanoUsd: 0 })).admitted, true);
    const quota = await limiter.admit([user], { tokens: 0, costNanoUsd: 0 });
    assert.equal(quota.admitted === false && quota.limit, 'monthly_requests');
    // $4.50 of the org's $5 this month.
    const orgRefusal = await limiter.admit([org], { tokens: 0, costNanoUsd: 600_000_000 });
    assert.equal(orgRefusal.admitted === false && orgRefusal.limit, 'monthly_usd');
    // The next day starts from nothing for the daily budget; the month and the lifetime tokens carry on.
    clock = at + 24 * 3_600_000;
    assert.equal((await limiter.admit([key], { tokens: 0, costNanoUsd: 900_000_000 })).admitted, true);
    assert.equal((await limiter.admit([org], { tokens: 0, costNanoUsd: 600_000_000 })).admitted, false);
  });

  it('never lowers a counter that holds more than the ledger, and seeds nothing for minute and hour windows', async () => {
    const store = new MemoryLimitStore();
    const limiter = new Limiter({ store, now: () => at });
    const scope: Scope = { kind: 'key', id: 'k', budget: { daily_usd: 1 }, limits: { rpm: 10, tpm: 10 } };
    const first = await limiter.admit([scope], { tokens: 1, costNanoUsd: 950_000_000 });
    assert.equal(first.admitted, true);
    await limiter.settle((first as Admission).reservation, { tokens: 1, costNanoUsd: 950_000_000 });
    assert.equal(await limiter.seed([scope], () => spend), 1, 'only the daily budget outlives a restart');
    // $0.95 counted, more than the ledger's $0.90: $0.10 does not fit, $0.05 does.
    assert.equal((await limiter.admit([scope], { tokens: 1, costNanoUsd: 100_000_000 })).admitted, false);
    assert.equal((await limiter.admit([scope], { tokens: 1, costNanoUsd: 50_000_000 })).admitted, true);
    assert.equal(await new Limiter({ now: () => at }).seed([scope], () => ({ ...spend, dayNanoUsd: 0 })), 0);
  });
});
