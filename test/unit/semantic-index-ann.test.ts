import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Neighbour, VectorIndex } from '../../src/cache/semantic/vector-index.ts';

const dimensions = 32;

/** Seeded PRNG (mulberry32), so every run sees the same vectors. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function unit(vector: Float32Array): Float32Array {
  const length = Math.hypot(...vector);
  return vector.map((value) => value / length);
}

/** Random unit vectors, and near-duplicates of them (cosine ≈ 0.95 to the original). */
function vectors(seed: number) {
  const next = random(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
  const any = () => unit(Float32Array.from({ length: dimensions }, gaussian));
  const near = (of: Float32Array) => unit(of.map((value) => value + gaussian() * 0.06));
  return { any, near };
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((sum, value, i) => sum + value * b[i]!, 0);

/** What an exact scan of `stored` answers: the `k` most similar at or above `min`, best first. */
function exact(stored: Map<string, Float32Array>, query: Float32Array, k: number, min = -2): Neighbour[] {
  return [...stored]
    .map(([id, vector]) => ({ id, similarity: dot(vector, query) }))
    .filter((neighbour) => neighbour.similarity >= min)
    .sort((a, b) => b.similarity - a.similarity)
    .slice(0, k);
}

function filled(count: number, options: { annThreshold: number; seed?: number; maxEntries?: number }) {
  const evicted: string[] = [];
  const index = new VectorIndex({
    dimensions,
    maxEntriesPerPartition: options.maxEntries ?? 10_000,
    maxEntries: options.maxEntries ?? 10_000,
    annThreshold: options.annThreshold,
    onEvict: (partition, id) => evicted.push(`${partition}/${id}`),
  });
  const { any, near } = vectors(options.seed ?? 1);
  const stored = new Map<string, Float32Array>();
  for (let i = 0; i < count; i++) {
    const vector = any();
    stored.set(`id${i}`, vector);
    index.add('p', `id${i}`, vector);
  }
  return { index, stored, evicted, any, near };
}

describe('vector index: large partitions on an HNSW graph', () => {
  it('below the threshold a partition is searched exactly: the same neighbours and similarities as a scan', () => {
    const { index, stored, any } = filled(300, { annThreshold: 1_000 });
    index.settle();
    assert.deepEqual(index.layoutOf('p'), { exact: 300, graph: 0 });
    for (let i = 0; i < 50; i++) {
      const query = any();
      const found = index.search('p', query, { k: 3 });
      const expected = exact(stored, query, 3);
      assert.deepEqual(
        found.map((neighbour) => neighbour.id),
        expected.map((neighbour) => neighbour.id),
      );
      for (const [at, neighbour] of found.entries()) {
        assert.ok(Math.abs(neighbour.similarity - expected[at]!.similarity) < 1e-5);
      }
    }
  });

  it('past the threshold its vectors move into the graph, and near-duplicates are still found', () => {
    const { index, stored, near } = filled(600, { annThreshold: 100 });
    index.settle();
    assert.deepEqual(index.layoutOf('p'), { exact: 0, graph: 600 });
    for (const [id, vector] of [...stored].slice(0, 200)) {
      const query = near(vector);
      const found = index.search('p', query, { k: 3, minSimilarity: 0.82 });
      assert.equal(found[0]?.id, exact(stored, query, 1)[0]!.id);
      assert.equal(found[0]?.id, id);
      assert.ok(Math.abs(found[0]!.similarity - dot(vector, query)) < 1e-5, 'the similarity is the cosine');
    }
  });

  it('answers rightly while vectors are still moving, and moves them in the background', async () => {
    const { index, stored, near } = filled(300, { annThreshold: 100 });
    const [id, vector] = [...stored].at(-1)!;
    assert.equal(index.layoutOf('p').exact, 300, 'add never waits for a graph insert');
    assert.equal(index.nearest('p', near(vector))?.id, id);
    for (let turn = 0; turn < 10_000 && index.layoutOf('p').graph < 300; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(index.layoutOf('p'), { exact: 0, graph: 300 });
    index.add(
      'p',
      'late',
      vector.map((value) => -value),
    );
    assert.deepEqual(index.layoutOf('p'), { exact: 1, graph: 300 }, 'a new entry waits in the exact rows');
    assert.equal(
      index.nearest('p', near(vector))?.id,
      id,
      'the graph and the new rows are searched together',
    );
    assert.equal(
      index.nearest(
        'p',
        vector.map((value) => -value),
      )?.id,
      'late',
    );
  });

  it('never returns an evicted or removed entry, also after its slot is reused', () => {
    const { index, stored, evicted, any, near } = filled(400, { annThreshold: 100, maxEntries: 400 });
    index.settle();
    const removed = new Map<string, Float32Array>();
    for (const [id, vector] of [...stored].slice(100, 200)) {
      assert.equal(index.remove('p', id), true);
      removed.set(id, vector);
    }
    // 250 more: 100 fill the room left, 150 evict the least recently used (id0…id99, then id200…).
    for (let i = 400; i < 650; i++) index.add('p', `id${i}`, any());
    index.settle();
    assert.equal(evicted.length, 150);
    assert.equal(index.sizeOf('p'), 400);
    for (const entry of evicted) {
      const id = entry.slice('p/'.length);
      removed.set(id, stored.get(id)!);
    }
    for (const [id, vector] of removed) {
      for (const query of [vector, near(vector)]) {
        const found = index.search('p', query, { k: 3 });
        assert.ok(!found.some((neighbour) => removed.has(neighbour.id)), `${id} came back`);
      }
    }
    assert.equal(index.remove('p', 'id150'), false);
    assert.equal(index.touch('p', 'id150'), false);
  });

  it('keeps the least recently used order across the move: a touched entry outlives the others', () => {
    const { index, evicted, any } = filled(200, { annThreshold: 50, maxEntries: 200 });
    index.settle();
    assert.equal(index.touch('p', 'id0'), true);
    index.add('p', 'new', any());
    assert.deepEqual(evicted, ['p/id1']);
  });

  it('clear removes graph partitions by prefix, and a partition gone small is exact again', () => {
    const evicted: string[] = [];
    const index = new VectorIndex({
      dimensions,
      maxEntriesPerPartition: 1_000,
      maxEntries: 1_000,
      annThreshold: 100,
      onEvict: (partition, id) => evicted.push(`${partition}/${id}`),
    });
    const { any } = vectors(3);
    const kept = new Map<string, Float32Array>();
    for (let i = 0; i < 150; i++) {
      index.add('tenant-a|m1', `a${i}`, any());
      index.add('tenant-a|m2', `a${i}`, any());
      const vector = any();
      kept.set(`b${i}`, vector);
      index.add('tenant-b|m1', `b${i}`, vector);
    }
    index.settle();
    assert.equal(index.layoutOf('tenant-a|m1').graph, 150);
    assert.equal(index.clear('tenant-a|'), 300);
    assert.equal(index.size, 150);
    assert.deepEqual(index.search('tenant-a|m1', any(), { k: 3 }), []);
    for (let i = 0; i < 110; i++) {
      index.remove('tenant-b|m1', `b${i}`);
      kept.delete(`b${i}`);
    }
    index.settle();
    assert.deepEqual(index.layoutOf('tenant-b|m1'), { exact: 40, graph: 0 });
    for (const [id, vector] of kept) assert.equal(index.nearest('tenant-b|m1', vector)?.id, id);
    assert.deepEqual(evicted, [], 'clear and remove are not evictions');
    assert.equal(index.clear(''), 40);
    assert.equal(index.capacity, 0);
  });

  it('keeps the memory of its vectors bounded by maxEntries, however the entries move between partitions', () => {
    const maxEntries = 1_000;
    const index = new VectorIndex({
      dimensions,
      maxEntriesPerPartition: maxEntries,
      maxEntries,
      annThreshold: 100,
    });
    const { any } = vectors(4);
    let peak = 0;
    // Each partition in turn takes most of the index, pushing the previous one down to 150 entries (a graph with
    // most of its slots deleted) or 30 (back to exact rows).
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < maxEntries - (round % 2 === 0 ? 150 : 30); i++) {
        index.add(`partition-${round}`, `id${i}`, any());
        if (i % 100 === 0) peak = Math.max(peak, index.capacity);
      }
      index.settle();
      peak = Math.max(peak, index.capacity);
      assert.ok(index.capacity <= 2 * maxEntries, `at most 2 slots per entry once moved (${index.capacity})`);
      if (round > 0) {
        const left = round % 2 === 0 ? 150 : 30;
        assert.equal(index.size, maxEntries);
        assert.equal(index.sizeOf(`partition-${round - 1}`), left);
        assert.equal(index.layoutOf(`partition-${round - 1}`).exact, left < 50 ? left : 0);
      }
    }
    // One partition churning at the bound: every add evicts, every eviction leaves a deleted slot in the graph.
    for (let i = 0; i < 5 * maxEntries; i++) {
      index.add('busy', `churn${i}`, any());
      if (i % 50 === 0) {
        index.settle();
        assert.ok(index.capacity <= 3 * maxEntries, `deleted slots are reclaimed (${index.capacity})`);
      }
    }
    assert.equal(index.sizeOf('busy'), maxEntries);
    assert.ok(peak <= 4 * maxEntries, `at most 4 slots per entry while moving (peak ${peak})`);
  });
});
