import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cacheKey } from '../../src/cache/cache-key.ts';
import type { CachedEntry, CacheKey } from '../../src/cache/cache-types.ts';
import { MemoryCacheStore } from '../../src/cache/memory-cache-store.ts';

function entry(tenant: string, text: string, createdAt = 1_000): CachedEntry {
  return {
    kind: 'chat',
    tenant,
    model: 'gpt-4o-mini',
    provider: 'openai',
    usage: { inputTokens: 5, outputTokens: 7 },
    costUsd: 0.0001,
    createdAt,
    body: {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
    },
  };
}

function key(tenant: string, prompt: string): CacheKey {
  return cacheKey({
    tenant,
    kind: 'chat',
    model: 'gpt-4o-mini',
    body: { messages: [{ role: 'user', content: prompt }] },
  });
}

const size = (value: CachedEntry) => Buffer.byteLength(JSON.stringify(value));

describe('memory cache store', () => {
  it('returns what was stored, as a frozen copy: neither the request that stored it nor a hit can change it', async () => {
    const store = new MemoryCacheStore();
    const k = key('t1', 'tea');
    const stored = entry('t1', 'Boil water.');
    await store.set(k, stored, 60);
    const message = (answer: CachedEntry | undefined) =>
      (answer?.kind === 'chat' ? answer.body : undefined)!.choices[0]!.message;
    message(stored).content = 'changed by the request that stored it';
    const first = await store.get(k);
    assert.deepEqual(first, entry('t1', 'Boil water.'));
    assert.throws(() => {
      message(first).content = 'changed by a hit';
    }, TypeError);
    assert.deepEqual(await store.get(k), entry('t1', 'Boil water.'));
    assert.equal(await store.get(key('t1', 'coffee')), undefined);
  });

  it('never returns another tenant’s entry, even under the same digest', async () => {
    const store = new MemoryCacheStore();
    const a = key('tA', 'tea');
    await store.set(a, entry('tA', 'A’s answer'), 60);
    assert.equal(await store.get({ tenant: 'tB', digest: a.digest }), undefined);
    assert.equal(await store.get(key('tB', 'tea')), undefined);
    await assert.rejects(store.set({ tenant: 'tB', digest: a.digest }, entry('tA', 'x'), 60), /own tenant/);
    assert.equal((await store.get(a))?.tenant, 'tA');
  });

  it('expires an entry at its TTL', async () => {
    let now = 1_000_000;
    const store = new MemoryCacheStore({ now: () => now });
    const short = key('t1', 'short');
    const long = key('t1', 'long');
    await store.set(short, entry('t1', 'a'), 60);
    await store.set(long, entry('t1', 'b'), 3600);
    now += 59_999;
    assert.ok(await store.get(short));
    now += 2;
    assert.equal(await store.get(short), undefined);
    assert.ok(await store.get(long));
    assert.deepEqual(
      (await store.list('t1', 10)).map((summary) => summary.digest),
      [long.digest],
    );
    now += 3_600_000;
    assert.equal(await store.get(long), undefined);
  });

  it('is bounded in bytes and evicts the least recently used entry', async () => {
    const one = size(entry('t1', 'x'.repeat(1000)));
    const store = new MemoryCacheStore({ maxBytes: one * 3 + 10 });
    const keys = ['a', 'b', 'c', 'd'].map((prompt) => key('t1', prompt));
    for (const k of keys.slice(0, 3)) await store.set(k, entry('t1', 'x'.repeat(1000)), 60);
    assert.equal(store.bytes, one * 3);
    // Touch a, so b is now the least recently used.
    assert.ok(await store.get(keys[0]!));
    await store.set(keys[3]!, entry('t1', 'x'.repeat(1000)), 60);
    assert.equal(store.size, 3);
    assert.ok(store.bytes <= one * 3 + 10);
    assert.equal(await store.get(keys[1]!), undefined);
    for (const k of [keys[0]!, keys[2]!, keys[3]!]) assert.ok(await store.get(k));
    // The evicted entry is gone from its tenant's index too.
    assert.equal((await store.list('t1', 10)).length, 3);
  });

  it('does not store an entry over the per-entry cap', async () => {
    const store = new MemoryCacheStore({ maxEntryBytes: 2000 });
    const big = key('t1', 'big');
    await store.set(big, entry('t1', 'y'.repeat(3000)), 60);
    assert.equal(await store.get(big), undefined);
    assert.equal(store.bytes, 0);
    const small = key('t1', 'small');
    await store.set(small, entry('t1', 'ok'), 60);
    assert.ok(await store.get(small));
  });

  it('lists and purges one tenant only', async () => {
    const store = new MemoryCacheStore();
    await store.set(key('tA', '1'), entry('tA', 'one', 1), 100);
    await store.set(key('tA', '2'), entry('tA', 'two', 2), 300);
    await store.set(key('tA', '3'), entry('tA', 'three', 3), 200);
    await store.set(key('tB', '1'), entry('tB', 'b-one'), 100);
    const listed = await store.list('tA', 2);
    assert.deepEqual(
      listed.map((summary) => summary.digest),
      [key('tA', '2').digest, key('tA', '3').digest],
    );
    assert.equal(listed[0]?.kind, 'chat');
    assert.equal(listed[0]?.sizeBytes, size(entry('tA', 'two', 2)));
    assert.equal(await store.purge('tA'), 3);
    assert.equal(await store.get(key('tA', '1')), undefined);
    assert.deepEqual(await store.list('tA', 10), []);
    assert.ok(await store.get(key('tB', '1')));
    assert.equal(await store.purge('tA'), 0);
  });

  it('replacing an entry keeps it indexed once', async () => {
    const store = new MemoryCacheStore();
    const k = key('t1', 'q');
    await store.set(k, entry('t1', 'old'), 60);
    await store.set(k, entry('t1', 'new'), 60);
    assert.deepEqual(await store.get(k), entry('t1', 'new'));
    assert.equal((await store.list('t1', 10)).length, 1);
    assert.equal(await store.purge('t1'), 1);
  });
});
