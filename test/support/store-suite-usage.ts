import assert from 'node:assert/strict';
import { it } from 'node:test';
import { StoreError } from '../../src/store/sql/store-error.ts';
import type { UsageRecord } from '../../src/store/sql/usage-types.ts';
import type { StoreBackend } from './store-backends.ts';
import { withStore } from './store-suite-tenancy.ts';

const hourMs = 3_600_000;
const day0 = Date.UTC(2026, 0, 10);
const day1 = day0 + 24 * hourMs;

/** A successful non-streamed attempt; each test overrides what it is about. */
function usage(fields: Partial<UsageRecord> & Pick<UsageRecord, 'requestId'>): UsageRecord {
  return {
    attempt: 1,
    createdAt: day0,
    orgId: 'org_a',
    projectId: 'proj_a',
    keyId: 'key_a1',
    userId: null,
    provider: 'OpenAI (Key #1)',
    model: 'gpt-4o-mini',
    route: '/v1/chat/completions',
    status: 200,
    errorCode: null,
    promptTokens: 0,
    completionTokens: 0,
    cachedTokens: 0,
    cacheWriteTokens: 0,
    costNanoUsd: 0,
    savingsNanoUsd: 0,
    latencyMs: 120,
    ttftMs: null,
    cacheResult: 'MISS',
    streamed: false,
    outcome: 'ok',
    ...fields,
  };
}

/** Two organizations' traffic over two UTC days, with a failover, a cache hit and exact costs. */
const known: UsageRecord[] = [
  usage({
    requestId: 'r1',
    createdAt: day0 + hourMs,
    status: 500,
    errorCode: 'upstream_error',
    outcome: 'failed',
  }),
  usage({
    requestId: 'r1',
    attempt: 2,
    createdAt: day0 + hourMs + 1_000,
    provider: 'Groq (Key #1)',
    model: 'llama-3.1-8b-instant',
    promptTokens: 100,
    completionTokens: 50,
    costNanoUsd: 1_500,
    streamed: true,
    ttftMs: 80,
  }),
  usage({
    requestId: 'r2',
    createdAt: day0 + 2 * hourMs,
    keyId: 'key_a2',
    promptTokens: 10,
    completionTokens: 5,
    costNanoUsd: 100_000_000,
  }),
  usage({
    requestId: 'r3',
    attempt: 0,
    createdAt: day1 + hourMs,
    keyId: 'key_a2',
    provider: null,
    cacheResult: 'HIT',
    savingsNanoUsd: 100_000_000,
  }),
  usage({
    requestId: 'r4',
    createdAt: day1 + 3 * hourMs,
    promptTokens: 1,
    completionTokens: 1,
    costNanoUsd: 200_000_000,
  }),
  usage({
    requestId: 'r5',
    createdAt: day0 + 5 * hourMs,
    orgId: 'org_b',
    projectId: 'proj_b',
    keyId: 'key_b',
    promptTokens: 1_000,
    completionTokens: 1_000,
    costNanoUsd: 9_000_000_000,
  }),
];

function totals(
  requests: number,
  attempts: number,
  prompt: number,
  completion: number,
  cost: bigint,
  savings = 0n,
  cacheHits = 0,
) {
  return {
    requests,
    attempts,
    promptTokens: prompt,
    completionTokens: completion,
    costNanoUsd: cost,
    savingsNanoUsd: savings,
    cacheHits,
  };
}

/** The usage ledger: idempotent batches, aggregates, log paging and spend; the same tests on every backend. */
export function usageSuite(backend: StoreBackend): void {
  it('a batch written twice, or twice at once, leaves one row per (request_id, attempt)', async (context) => {
    await withStore(backend, context, async (store) => {
      const batch = [
        usage({ requestId: 'a' }),
        usage({ requestId: 'a', attempt: 2 }),
        usage({ requestId: 'b' }),
      ];
      assert.equal(await store.usage.insert([...batch, batch[0]!]), 3);
      assert.equal(await store.usage.insert(batch), 0);
      const racing = await Promise.all([
        store.usage.insert([...batch, usage({ requestId: 'c' })]),
        store.usage.insert([usage({ requestId: 'c' }), batch[1]!]),
      ]);
      assert.equal(racing[0] + racing[1], 1, 'only the new record c was added');
      assert.equal((await store.usage.aggregate({})).attempts, 4);

      // Larger than one INSERT statement: still one row each, and again nothing on a retry.
      const large = Array.from({ length: 1_234 }, (_, index) =>
        usage({ requestId: `bulk-${index}`, costNanoUsd: 1 }),
      );
      assert.equal(await store.usage.insert(large), 1_234);
      assert.equal(await store.usage.insert(large), 0);
      const summary = await store.usage.aggregate({});
      assert.equal(summary.attempts, 1_238);
      assert.equal(summary.costNanoUsd, 1_234n);
    });
  });

  it('adds money exactly: ten $0.10 records are exactly $1, sums beyond 2^53 nano-USD stay exact', async (context) => {
    await withStore(backend, context, async (store) => {
      await store.usage.insert(
        Array.from({ length: 10 }, (_, index) =>
          usage({ requestId: `dime-${index}`, costNanoUsd: 100_000_000 }),
        ),
      );
      assert.equal((await store.usage.aggregate({})).costNanoUsd, 1_000_000_000n);
      await store.usage.insert(
        Array.from({ length: 3 }, (_, index) =>
          usage({ requestId: `big-${index}`, orgId: 'org_big', costNanoUsd: Number.MAX_SAFE_INTEGER }),
        ),
      );
      const big = await store.usage.spendSince({ orgId: 'org_big' }, 0);
      assert.equal(big.costNanoUsd, 3n * BigInt(Number.MAX_SAFE_INTEGER));
    });
  });

  it('aggregates known data by day, model, provider and key, within the scope and range', async (context) => {
    await withStore(backend, context, async (store) => {
      await store.usage.insert(known);
      const orgA = { orgId: 'org_a' };
      assert.deepEqual(await store.usage.aggregate(orgA), {
        ...totals(4, 5, 111, 56, 300_001_500n, 100_000_000n, 1),
        groups: [],
      });
      assert.deepEqual((await store.usage.aggregate({ ...orgA, groupBy: 'day' })).groups, [
        { group: '2026-01-10', ...totals(2, 3, 110, 55, 100_001_500n) },
        { group: '2026-01-11', ...totals(2, 2, 1, 1, 200_000_000n, 100_000_000n, 1) },
      ]);
      assert.deepEqual((await store.usage.aggregate({ ...orgA, groupBy: 'model' })).groups, [
        { group: 'gpt-4o-mini', ...totals(4, 4, 11, 6, 300_000_000n, 100_000_000n, 1) },
        { group: 'llama-3.1-8b-instant', ...totals(1, 1, 100, 50, 1_500n) },
      ]);
      assert.deepEqual((await store.usage.aggregate({ ...orgA, groupBy: 'provider' })).groups, [
        { group: 'OpenAI (Key #1)', ...totals(3, 3, 11, 6, 300_000_000n) },
        { group: 'Groq (Key #1)', ...totals(1, 1, 100, 50, 1_500n) },
        { group: null, ...totals(1, 1, 0, 0, 0n, 100_000_000n, 1) },
      ]);
      assert.deepEqual((await store.usage.aggregate({ ...orgA, groupBy: 'key' })).groups, [
        { group: 'key_a1', ...totals(2, 3, 101, 51, 200_001_500n) },
        { group: 'key_a2', ...totals(2, 2, 10, 5, 100_000_000n, 100_000_000n, 1) },
      ]);
      // `from` inclusive, `to` exclusive.
      assert.deepEqual(
        await store.usage.aggregate({ ...orgA, from: day0 + 2 * hourMs, to: day1 + 3 * hourMs }),
        { ...totals(2, 2, 10, 5, 100_000_000n, 100_000_000n, 1), groups: [] },
      );
      assert.deepEqual(
        await store.usage.aggregate({ projectId: 'proj_a', keyId: 'key_a2', groupBy: 'model' }),
        {
          ...totals(2, 2, 10, 5, 100_000_000n, 100_000_000n, 1),
          groups: [{ group: 'gpt-4o-mini', ...totals(2, 2, 10, 5, 100_000_000n, 100_000_000n, 1) }],
        },
      );
      // Another organization's key named inside my scope: nothing.
      assert.deepEqual(await store.usage.aggregate({ ...orgA, keyId: 'key_b', groupBy: 'key' }), {
        ...totals(0, 0, 0, 0, 0n),
        groups: [],
      });
      const everything = await store.usage.aggregate({ groupBy: 'key' });
      assert.equal(everything.costNanoUsd, 9_300_001_500n);
      assert.deepEqual(
        everything.groups.map((group) => group.group),
        ['key_b', 'key_a1', 'key_a2'],
      );
    });
  });

  it('pages the request log newest first with an opaque cursor, filtered by key, model, status and time', async (context) => {
    await withStore(backend, context, async (store) => {
      await store.usage.insert(known);
      const times = [0, 0, 0, 1, 2, 2, 3];
      await store.usage.insert(
        times.map((offset, index) =>
          usage({
            requestId: `page-${index % 3}`,
            attempt: index + 1,
            createdAt: day1 + offset,
            keyId: 'key_page',
          }),
        ),
      );
      const whole = await store.usage.searchLogs({ keyId: 'key_page', limit: 1_000 });
      assert.equal(whole.data.length, 7);
      assert.equal(whole.nextCursor, null);
      for (let index = 1; index < whole.data.length; index++) {
        assert.ok(whole.data[index - 1]!.createdAt >= whole.data[index]!.createdAt, 'newest first');
      }
      const pages: string[][] = [];
      let cursor: string | undefined;
      do {
        const page = await store.usage.searchLogs({ keyId: 'key_page', limit: 3, cursor });
        pages.push(page.data.map((record) => `${record.requestId}#${record.attempt}`));
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      assert.deepEqual(
        pages.map((page) => page.length),
        [3, 3, 1],
      );
      assert.deepEqual(
        pages.flat(),
        whole.data.map((record) => `${record.requestId}#${record.attempt}`),
      );

      assert.deepEqual(await store.usage.searchLogs({ orgId: 'org_a', keyId: 'key_a1', status: 500 }), {
        data: [known[0]],
        nextCursor: null,
      });
      const llama = await store.usage.searchLogs({ model: 'llama-3.1-8b-instant' });
      assert.deepEqual(llama.data, [known[1]]);
      const windowed = await store.usage.searchLogs({ orgId: 'org_a', from: day0, to: day1 });
      assert.deepEqual(
        windowed.data.map((record) => record.requestId),
        ['r2', 'r1', 'r1'],
      );
      assert.deepEqual((await store.usage.searchLogs({ orgId: 'org_a', keyId: 'key_b' })).data, []);

      const invalid = (error: unknown) => error instanceof StoreError && error.code === 'invalid_input';
      await assert.rejects(store.usage.searchLogs({ cursor: 'not a cursor' }), invalid);
      await assert.rejects(
        store.usage.searchLogs({ cursor: Buffer.from('[1,2,3]').toString('base64url') }),
        invalid,
      );
      await assert.rejects(store.usage.searchLogs({ limit: 0 }), invalid);
      await assert.rejects(store.usage.searchLogs({ limit: 1_001 }), invalid);
    });
  });

  it('reports what a key, project or organization spent since an instant', async (context) => {
    await withStore(backend, context, async (store) => {
      await store.usage.insert(known);
      assert.deepEqual(await store.usage.spendSince({ keyId: 'key_a1' }, day0), {
        costNanoUsd: 200_001_500n,
        tokens: 152,
        requests: 2,
      });
      assert.deepEqual(await store.usage.spendSince({ orgId: 'org_a' }, day1), {
        costNanoUsd: 200_000_000n,
        tokens: 2,
        requests: 2,
      });
      assert.deepEqual(await store.usage.spendSince({ projectId: 'proj_none' }, 0), {
        costNanoUsd: 0n,
        tokens: 0,
        requests: 0,
      });
    });
  });

  it("reads each scope's spend in the windows limits count in: today, this month, ever, and admitted requests", async (context) => {
    await withStore(backend, context, async (store) => {
      // The month starts on day0 - 9 days (2026-01-01); "today" is day1.
      const monthStartMs = Date.UTC(2026, 0, 1);
      const lastMonth = monthStartMs - hourMs;
      await store.usage.insert([
        // Last month: lifetime tokens only.
        usage({
          requestId: 's1',
          createdAt: lastMonth,
          promptTokens: 1_000,
          completionTokens: 1,
          costNanoUsd: 7,
        }),
        // This month, before today: the month's cost and requests.
        usage({ requestId: 's2', createdAt: day0, promptTokens: 10, completionTokens: 5, costNanoUsd: 300 }),
        // Today: a request retried on a second attempt (two records, one request).
        usage({
          requestId: 's3',
          createdAt: day1,
          promptTokens: 4,
          costNanoUsd: 40,
          outcome: 'failed',
          status: 500,
        }),
        usage({
          requestId: 's3',
          attempt: 2,
          createdAt: day1,
          promptTokens: 4,
          completionTokens: 2,
          costNanoUsd: 60,
        }),
        // Today: a cache hit (admitted, nothing upstream) and a refusal (never admitted).
        usage({ requestId: 's4', attempt: 0, createdAt: day1 + 1, cacheResult: 'HIT', savingsNanoUsd: 100 }),
        usage({
          requestId: 's5',
          attempt: 0,
          createdAt: day1 + 2,
          status: 429,
          errorCode: 'rate_limited',
          cacheResult: null,
          outcome: 'failed',
        }),
        // Another org's key, with a user: counted under its own ids only.
        usage({
          requestId: 's6',
          createdAt: day1,
          orgId: 'org_b',
          projectId: null,
          keyId: 'key_b1',
          userId: 'user_b',
          promptTokens: 3,
          costNanoUsd: 9_000_000_000,
        }),
      ]);
      const since = { dayStartMs: day1, monthStartMs };
      const a = { dayNanoUsd: 100, monthNanoUsd: 400, tokens: 1_026, monthRequests: 3 };
      const b = { dayNanoUsd: 9_000_000_000, monthNanoUsd: 9_000_000_000, tokens: 3, monthRequests: 1 };
      const sorted = (map: Map<string, unknown>) => [...map.entries()].sort(([x], [y]) => x.localeCompare(y));
      assert.deepEqual(sorted(await store.usage.limitSpendByScope('org', since)), [
        ['org_a', a],
        ['org_b', b],
      ]);
      assert.deepEqual(sorted(await store.usage.limitSpendByScope('project', since)), [['proj_a', a]]);
      assert.deepEqual(sorted(await store.usage.limitSpendByScope('key', since)), [
        ['key_a1', a],
        ['key_b1', b],
      ]);
      assert.deepEqual(sorted(await store.usage.limitSpendByScope('user', since)), [['user_b', b]]);
      // Only the scopes asked for (those whose limits just changed), through the level's index.
      assert.deepEqual(sorted(await store.usage.limitSpendByScope('key', since, ['key_b1', 'key_none'])), [
        ['key_b1', b],
      ]);
      assert.equal((await store.usage.limitSpendByScope('org', since, [])).size, 0);
    });
  });

  it('keeps a record whose client-supplied text no database could store, and refuses impossible numbers', async (context) => {
    await withStore(backend, context, async (store) => {
      const hostileModel = `a\u0000b\uD800${'m'.repeat(5_000)}`;
      const hostileId = "'; DROP TABLE usage; --";
      assert.equal(
        await store.usage.insert([
          usage({ requestId: hostileId, model: hostileModel }),
          usage({ requestId: 'ok', model: '名前 🚀' }),
        ]),
        2,
      );
      const [stored] = (await store.usage.searchLogs({ model: '名前 🚀' })).data;
      assert.equal(stored?.model, '名前 🚀');
      const [cleaned] = (await store.usage.searchLogs({ status: 200, limit: 2 })).data.filter(
        (record) => record.requestId === hostileId,
      );
      assert.equal(cleaned?.model, `a\uFFFDb\uFFFD${'m'.repeat(996)}`);

      const invalid = (error: unknown) => error instanceof StoreError && error.code === 'invalid_input';
      await assert.rejects(store.usage.insert([usage({ requestId: 'x', promptTokens: -1 })]), invalid);
      await assert.rejects(store.usage.insert([usage({ requestId: 'x', costNanoUsd: 0.5 })]), invalid);
      await assert.rejects(store.usage.insert([usage({ requestId: '' })]), invalid);
      assert.equal((await store.usage.aggregate({})).attempts, 2, 'a refused batch writes nothing');
    });
  });
}
