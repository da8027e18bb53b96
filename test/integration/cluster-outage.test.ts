/**
 * Three Nexus processes on a Redis and a PostgreSQL of this test's own (another port each; the shared servers
 * on 6379 and 5432 are never stopped), with traffic flowing while one of them goes away and comes back:
 * - Redis: request limits fail open on each replica's own counts, USD budgets fail closed (503
 *   `limits_unavailable`), as `limits/limiter.ts` documents; the replicas share their counters again by
 *   themselves once Redis is back.
 * - PostgreSQL: requests keep being served (keys are in memory), the usage ledger keeps what it could not write
 *   and writes all of it once the database is back: usage records = upstream calls.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openStore, type Store } from '../../src/store/sql/create-store.ts';
import {
  chat,
  Flow,
  issueKey,
  ledgerCounts,
  type Outcome,
  skipReason,
  spread,
  startReplicas,
  tally,
  untilEveryReplica,
  untilLedger,
  upstreamCalls,
  waitFor,
  withinOneWindow,
} from '../support/cluster.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { assertRunning, logLines, type NexusProcess } from '../support/nexus-process.ts';
import { PrivatePostgres, privatePostgresUnavailable } from '../support/private-postgres.ts';
import { freePort, haveRedisServer, PrivateRedis } from '../support/redis-server.ts';

const schema = 'nexus_outage';

const ok = (outcomes: readonly Outcome[]) => outcomes.every((outcome) => outcome.status === 200);

/** A replica's `/ready`: its status and the dependencies it reports. */
async function readiness(
  replica: NexusProcess,
): Promise<{ status: number; storage?: string; redis?: string }> {
  const response = await fetch(`${replica.origin}/ready`, { signal: AbortSignal.timeout(5_000) });
  const body = (await response.json()) as { dependencies?: { storage: string; redis: string } };
  return { status: response.status, ...body.dependencies };
}

describe('three replicas through a Redis outage and a PostgreSQL restart', { timeout: 180_000 }, () => {
  let fake: FakeOpenAI | undefined;
  let redis: PrivateRedis | undefined;
  let postgres: PrivatePostgres | undefined;
  let store: Store | undefined;
  let replicas: NexusProcess[] = [];
  let skip: string | undefined = 'not started';

  before(async () => {
    skip = skipReason(
      haveRedisServer()
        ? undefined
        : 'redis-server is not on PATH: this suite starts and stops a private one (apt-get install redis-server)',
      privatePostgresUnavailable(),
    );
    if (skip !== undefined) return;
    skip = 'the cluster did not start';
    fake = await startFakeOpenAI();
    redis = new PrivateRedis(await freePort());
    postgres = new PrivatePostgres(await freePort());
    await Promise.all([redis.start(), postgres.init().then(() => postgres!.start())]);
    store = await openStore({ dialect: 'postgres', url: postgres.url, schema, poolSize: 2 });
    replicas = await startReplicas(3, {
      OPENAI_BASE_URL: fake.url,
      DATABASE_URL: postgres.url,
      DATABASE_SCHEMA: schema,
      DATABASE_POOL_SIZE: '4',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'nexus-outage:',
    });
    skip = undefined;
  });

  after(async () => {
    for (const replica of replicas) replica.kill();
    await Promise.all(replicas.map((replica) => replica.closed));
    await store?.close();
    await fake?.close();
    await redis?.kill();
    await postgres?.destroy();
  });

  const ledger = (keyId: string) => ledgerCounts(postgres!.url, schema, keyId);

  test('Redis stopped: rate limits fail open per replica, budgets fail closed, then recovery by itself', async (context) => {
    if (skip !== undefined) return context.skip(skip);
    const flowKey = await issueKey(store!, { limits: { rpm: 1_000_000 } });
    const rpmKey = await issueKey(store!, { limits: { rpm: 5 } });
    const rpmAfterKey = await issueKey(store!, { limits: { rpm: 5 } });
    const budgetKey = await issueKey(store!, { budget: { dailyUsd: 100 } });
    for (const key of [flowKey, rpmKey, rpmAfterKey, budgetKey])
      await untilEveryReplica(replicas, key.secret, 200);
    const budget = (index: number) => chat(replicas, index, budgetKey.secret, { marker: budgetKey.keyId });
    assert.ok(ok(await Promise.all([0, 1, 2].map(budget))), 'the budget key is served while Redis is up');

    // The per-replica counts below must fall in one minute window.
    await withinOneWindow(60_000, 25_000);
    const flow = new Flow((index) => chat(replicas, index, flowKey.secret, { marker: flowKey.keyId }), 4, 20);
    await sleep(300);
    const killedAt = performance.now();
    await redis!.kill();

    const closed = await Promise.all([0, 1, 2].map(budget));
    for (const outcome of closed) {
      assert.deepEqual([outcome.status, outcome.code, outcome.retryAfter], [503, 'limits_unavailable', '1']);
    }
    // 8 requests per replica against a limit of 5: each replica admits 5 on its own counts.
    const open = await spread(24, 6, (index) =>
      chat(replicas, index, rpmKey.secret, { marker: rpmKey.keyId }),
    );
    const openPerReplica = [0, 1, 2].map(
      (replica) => open.filter((outcome) => outcome.replica === replica && outcome.status === 200).length,
    );
    for (const outcome of open.filter((outcome) => outcome.status !== 200)) {
      assert.deepEqual([outcome.status, outcome.code], [429, 'rate_limited']);
    }
    // Each replica stays ready (it serves on, by the outage policy) and says Redis is away.
    for (const replica of replicas) {
      assert.deepEqual(await readiness(replica), { status: 200, storage: 'ok', redis: 'unreachable' });
    }
    await sleep(500);

    await redis!.start();
    const restartedAt = performance.now();
    const recoveredAfter = await Promise.all(
      [0, 1, 2].map(async (replica) => {
        while (performance.now() - restartedAt < 20_000) {
          if ((await budget(replica)).status === 200) return Math.round(performance.now() - restartedAt);
          await sleep(50);
        }
        return Number.POSITIVE_INFINITY;
      }),
    );
    // Shared counters again: 24 requests through all three, 5 admitted in all.
    await withinOneWindow(60_000, 10_000);
    const shared = await spread(24, 6, (index) =>
      chat(replicas, index, rpmAfterKey.secret, { marker: rpmAfterKey.keyId }),
    );
    const flowed = await flow.stop();
    assertRunning(replicas);
    const duringOutage = flowed.filter(
      (outcome) => outcome.sentAt > killedAt && outcome.sentAt < restartedAt,
    );
    context.diagnostic(
      `Redis down ${Math.round(restartedAt - killedAt)} ms: budget key ${JSON.stringify(tally(closed))}; ` +
        `rpm 5 key admitted ${openPerReplica.join(' + ')} (per replica); ${duringOutage.length} flowing ` +
        `requests sent meanwhile, ${JSON.stringify(tally(duringOutage))}. Back: budget key served again after ` +
        `${recoveredAfter.join(', ')} ms; a fresh rpm 5 key admitted ${tally(shared)['200'] ?? 0} of 24 in all`,
    );
    assert.deepEqual(
      openPerReplica,
      [5, 5, 5],
      'fail open: each replica enforces the limit on its own traffic',
    );
    assert.ok(duringOutage.length > 0, 'traffic flowed during the outage');
    assert.ok(ok(flowed), `every flowing request was served: ${JSON.stringify(tally(flowed))}`);
    assert.ok(recoveredAfter.every(Number.isFinite), 'every replica serves the budget key again');
    assert.equal(tally(shared)['200'], 5, 'after recovery the replicas share one count again');
    // Log lines reach stdout in batches at most 250 ms old: wait for the recovery's before counting.
    await waitFor(
      async () => replicas.every((replica) => logLines(replica, 'redis is back').length > 0),
      'every replica logged the recovery',
      5_000,
    );
    for (const replica of replicas) {
      assert.equal(logLines(replica, 'redis unavailable').length, 1, 'one report per outage');
      assert.equal(logLines(replica, 'redis is back').length, 1);
    }
    for (const key of [flowKey, rpmKey, rpmAfterKey, budgetKey]) {
      const calls = upstreamCalls(fake!, key.keyId);
      const counts = await untilLedger(() => ledger(key.keyId), { upstream: calls });
      assert.equal(counts.upstream, calls, 'one usage record per upstream call');
    }
  });

  test('PostgreSQL restarted: requests keep being served, the ledger writes every record once it is back', async (context) => {
    if (skip !== undefined) return context.skip(skip);
    const { secret, keyId } = await issueKey(store!);
    await untilEveryReplica(replicas, secret, 200);
    const flow = new Flow(
      (index) => chat(replicas, index, secret, { marker: keyId, stream: index % 2 === 1 }),
      4,
      20,
    );
    await waitFor(async () => (await ledger(keyId)).upstream > 0, 'the ledger is being written', 10_000);
    const stoppedAt = performance.now();
    await postgres!.stop('fast');
    // Ready throughout (keys are in memory, usage is buffered), reporting the database as away once a poll failed.
    await waitFor(
      async () =>
        (await Promise.all(replicas.map(readiness))).every(
          (ready) => ready.status === 200 && ready.storage === 'unreachable',
        ),
      'every replica reports the database unreachable and stays ready',
      2_500,
    );
    await sleep(1_000);
    const restartingAt = performance.now();
    await postgres!.start();
    await sleep(1_000);
    const flowed = await flow.stop();
    assertRunning(replicas);
    const duringOutage = flowed.filter(
      (outcome) => outcome.sentAt > stoppedAt && outcome.sentAt < restartingAt,
    );
    assert.ok(duringOutage.length > 0, 'traffic flowed while PostgreSQL was down');
    assert.ok(ok(flowed), `every request was served: ${JSON.stringify(tally(flowed))}`);

    const calls = upstreamCalls(fake!, keyId);
    const written = await untilLedger(() => ledger(keyId), { upstream: calls }, 30_000);
    const failedWrites = replicas.map(
      (replica) => logLines(replica, 'usage records could not be written').length,
    );
    context.diagnostic(
      `PostgreSQL down ${Math.round(restartingAt - stoppedAt)} ms: ${duringOutage.length} requests served meanwhile; ` +
        `failed ledger flushes per replica ${failedWrites.join(', ')}; ${calls} upstream calls, ` +
        `${written.upstream} usage records once it was back`,
    );
    assert.equal(written.upstream, calls, 'every buffered usage record was written');
    assert.ok(
      failedWrites.some((count) => count > 0),
      'the ledger did meet the outage (a failed flush was reported)',
    );

    // The key directory recovered too: a key issued and revoked after the restart reaches every replica.
    const fresh = await issueKey(store!);
    await untilEveryReplica(replicas, fresh.secret, 200);
    await store!.apiKeys.revoke(fresh.keyId, { projectId: fresh.projectId });
    await untilEveryReplica(replicas, fresh.secret, 401);

    const codes = await Promise.all(replicas.map((replica) => replica.stop('SIGTERM')));
    assert.deepEqual(codes, [0, 0, 0]);
    const final = await ledger(keyId);
    assert.equal(final.upstream, calls, 'nothing written twice, nothing lost at shutdown');
  });
});
