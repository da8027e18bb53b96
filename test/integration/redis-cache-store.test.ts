import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { cacheKey } from '../../src/cache/cache-key.ts';
import type { CachedEntry, CacheKey } from '../../src/cache/cache-types.ts';
import type { EmbeddingsResponse } from '../../src/core/openai-types.ts';
import { RedisCacheStore, type RedisCacheStoreOptions } from '../../src/store/redis/cache-store.ts';
import { freePort } from '../support/redis-server.ts';
import { redisUrl, requireService } from '../support/services.ts';

// A fresh key prefix per run: nothing from an earlier run or another suite can leak in.
const prefix = `nexus-test-${randomUUID()}:`;
const stores: RedisCacheStore[] = [];
let inspector: Redis | undefined;

/** One replica's store: its own Redis connection, as two gateway processes would have. */
async function replica(options: RedisCacheStoreOptions = {}): Promise<RedisCacheStore> {
  const store = new RedisCacheStore(redisUrl, { keyPrefix: prefix, ...options });
  stores.push(store);
  await store.ready();
  return store;
}

function inspect(): Redis {
  inspector ??= new Redis(redisUrl);
  return inspector;
}

function entry(tenant: string, text: string): Extract<CachedEntry, { kind: 'embeddings' }> {
  return {
    kind: 'embeddings',
    tenant,
    model: 'text-embedding-3-small',
    provider: 'openai',
    usage: { inputTokens: 3, outputTokens: 0 },
    costUsd: 0.00002,
    createdAt: Date.now(),
    body: embedding(text),
  };
}

function embedding(text: string): EmbeddingsResponse {
  return {
    object: 'list',
    data: [{ object: 'embedding', index: 0, embedding: [0.1, -0.2, text.length] }],
    model: 'text-embedding-3-small',
    usage: { prompt_tokens: 3, total_tokens: 3 },
  };
}

function key(tenant: string, input: string): CacheKey {
  return cacheKey({ tenant, kind: 'embeddings', model: 'text-embedding-3-small', body: { input } });
}

const needRedis = (t: Parameters<typeof requireService>[0]) =>
  requireService(t, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379 --save "" --appendonly no');

after(async () => {
  if (inspector !== undefined) {
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

describe('exact cache on a shared Redis', { timeout: 60_000 }, () => {
  it('stores with SET EX under nexus:cache:v1 and reads it back', async (t) => {
    if (!(await needRedis(t))) return;
    const store = await replica();
    const k = key('org:o1/project:p1', 'hello');
    const stored = entry('org:o1/project:p1', 'hello');
    await store.set(k, stored, 120);
    assert.deepEqual(await store.get(k), stored);
    const entryKey = `${prefix}cache:v1:{org%3Ao1%2Fproject%3Ap1}:${k.digest}`;
    const ttl = await inspect().ttl(entryKey);
    assert.ok(ttl > 110 && ttl <= 120, `ttl ${ttl}`);
    assert.equal(await store.get(key('org:o1/project:p1', 'other')), undefined);
  });

  it('an entry expires at its TTL', async (t) => {
    if (!(await needRedis(t))) return;
    const store = await replica();
    const k = key('t-expiry', 'short');
    await store.set(k, entry('t-expiry', 'short'), 1);
    assert.ok(await store.get(k));
    await sleep(1100);
    assert.equal(await store.get(k), undefined);
    assert.deepEqual(await store.list('t-expiry', 10), []);
  });

  it('two replicas share entries', async (t) => {
    if (!(await needRedis(t))) return;
    const [a, b] = await Promise.all([replica(), replica()]);
    const k = key('t-shared', 'tea');
    const stored = entry('t-shared', 'tea');
    await a.set(k, stored, 300);
    assert.deepEqual(await b.get(k), stored);
    assert.deepEqual(
      (await b.list('t-shared', 10)).map((summary) => summary.digest),
      [k.digest],
    );
    assert.equal(await b.purge('t-shared'), 1);
    assert.equal(await a.get(k), undefined);
  });

  it('never returns another tenant’s entry', async (t) => {
    if (!(await needRedis(t))) return;
    const store = await replica();
    const a = key('tenant-A', 'secret');
    await store.set(a, entry('tenant-A', 'secret'), 300);
    assert.equal(await store.get(key('tenant-B', 'secret')), undefined);
    // The same digest under another tenant is another Redis key, and the entry's own tenant is checked too.
    assert.equal(await store.get({ tenant: 'tenant-B', digest: a.digest }), undefined);
    const forged = `${prefix}cache:v1:{tenant-B}:${a.digest}`;
    await inspect().set(forged, JSON.stringify(entry('tenant-A', 'secret')), 'EX', 60);
    assert.equal(await store.get({ tenant: 'tenant-B', digest: a.digest }), undefined);
    await assert.rejects(
      store.set({ tenant: 'tenant-B', digest: 'x' }, entry('tenant-A', 'y'), 60),
      /own tenant/,
    );
  });

  it('purge and list work per tenant from its index, never touching another tenant', async (t) => {
    if (!(await needRedis(t))) return;
    const store = await replica();
    await store.set(key('list-A', '1'), entry('list-A', '1'), 100);
    await store.set(key('list-A', '2'), entry('list-A', '2'), 300);
    await store.set(key('list-A', '3'), entry('list-A', '3'), 200);
    await store.set(key('list-B', '1'), entry('list-B', '1'), 300);
    const listed = await store.list('list-A', 2);
    assert.deepEqual(
      listed.map((summary) => summary.digest),
      [key('list-A', '2').digest, key('list-A', '3').digest],
    );
    assert.equal(listed[0]?.kind, 'embeddings');
    assert.equal(listed[0]?.provider, 'openai');
    assert.equal(
      listed[0]?.sizeBytes,
      Buffer.byteLength(JSON.stringify(await store.get(key('list-A', '2')))),
    );
    assert.ok(listed[0]!.expiresAt > Date.now() + 290_000);
    assert.equal((await store.list('list-A', 10)).length, 3);
    assert.equal(await store.purge('list-A'), 3);
    assert.deepEqual(await store.list('list-A', 10), []);
    assert.equal(await store.get(key('list-A', '1')), undefined);
    assert.equal(await inspect().exists(`${prefix}cache:v1:{list-A}:index`), 0);
    assert.ok(await store.get(key('list-B', '1')));
    assert.equal(await store.purge('list-A'), 0);
  });

  it('caps a tenant at maxEntriesPerTenant, evicting the soonest to expire', async (t) => {
    if (!(await needRedis(t))) return;
    const store = await replica({ maxEntriesPerTenant: 3 });
    for (const [input, ttl] of [
      ['a', 500],
      ['b', 100],
      ['c', 300],
      ['d', 400],
    ] as const) {
      await store.set(key('cap', input), entry('cap', input), ttl);
    }
    assert.equal(await store.get(key('cap', 'b')), undefined);
    for (const input of ['a', 'c', 'd']) assert.ok(await store.get(key('cap', input)), input);
    assert.equal(await inspect().zcard(`${prefix}cache:v1:{cap}:index`), 3);
  });

  it('does not store an entry over the per-entry cap', async (t) => {
    if (!(await needRedis(t))) return;
    const store = await replica({ maxEntryBytes: 200 });
    const k = key('big', 'x');
    const big: CachedEntry = {
      ...entry('big', 'x'),
      body: {
        ...embedding('x'),
        data: [{ object: 'embedding', index: 0, embedding: Array.from({ length: 100 }, () => 0.123456) }],
      },
    };
    await store.set(k, big, 60);
    assert.equal(await store.get(k), undefined);
  });

  it('fails open when Redis is unreachable: get misses, set drops, both fast and reported', async () => {
    const port = await freePort();
    const errors: string[] = [];
    const store = new RedisCacheStore(`redis://127.0.0.1:${port}`, {
      keyPrefix: prefix,
      onError: (operation) => errors.push(operation),
    });
    stores.push(store);
    const k = key('down', 'q');
    const started = performance.now();
    await store.set(k, entry('down', 'q'), 60);
    assert.equal(await store.get(k), undefined);
    assert.ok(performance.now() - started < 1000, 'the cache never holds a request up');
    assert.deepEqual(errors, ['set', 'get']);
    await assert.rejects(store.purge('down'));
    await assert.rejects(store.ready(200), /did not become ready/);
  });

  it('a server that stops answering costs at most the command timeout', async (t) => {
    if (!(await needRedis(t))) return;
    const errors: unknown[] = [];
    const store = await replica({ commandTimeoutMs: 100, onError: (_, error) => errors.push(error) });
    const k = key('hang', 'q');
    await store.set(k, entry('hang', 'q'), 60);
    const pauser = new Redis(redisUrl);
    try {
      // CLIENT PAUSE holds every client's commands for 500 ms, as a hung server would.
      await pauser.call('CLIENT', 'PAUSE', '500', 'ALL');
      const started = performance.now();
      const result = await store.get(k);
      const elapsed = performance.now() - started;
      assert.equal(result, undefined);
      assert.ok(elapsed < 400, `waited ${Math.round(elapsed)} ms`);
      assert.equal(errors.length, 1);
    } finally {
      await pauser.call('CLIENT', 'UNPAUSE');
      pauser.disconnect();
    }
    // Back to normal once the server answers again.
    assert.ok(await store.get(k));
  });
});
