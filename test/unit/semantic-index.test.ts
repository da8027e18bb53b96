import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VectorIndex } from '../../src/cache/semantic/vector-index.ts';

const vector = (...values: number[]) => Float32Array.from(values);

function index(maxEntriesPerPartition = 10, maxEntries = 100, evicted: string[] = []) {
  return new VectorIndex({
    dimensions: 3,
    maxEntriesPerPartition,
    maxEntries,
    onEvict: (partition, id) => evicted.push(`${partition}/${id}`),
  });
}

describe('vector index', () => {
  it('finds the most similar vector, as cosine of unit vectors', () => {
    const vectors = index();
    vectors.add('p', 'x', vector(1, 0, 0));
    vectors.add('p', 'y', vector(0, 5, 0));
    vectors.add('p', 'xy', vector(1, 1, 0));
    const found = vectors.nearest('p', vector(0, 2, 0.1));
    assert.equal(found?.id, 'y');
    assert.ok(Math.abs(found.similarity - 2 / Math.hypot(2, 0.1)) < 1e-6);
    const top = vectors.search('p', vector(1, 0.2, 0), { k: 2 });
    assert.deepEqual(
      top.map((neighbour) => neighbour.id),
      ['x', 'xy'],
    );
    assert.deepEqual(vectors.search('p', vector(0, 0, 1), { k: 3, minSimilarity: 0.5 }), []);
  });

  it('never answers from another partition, even with an identical vector', () => {
    const vectors = index();
    vectors.add('tenant-a|model|system', 'answer-a', vector(1, 0, 0));
    assert.equal(vectors.nearest('tenant-b|model|system', vector(1, 0, 0)), undefined);
    assert.equal(vectors.nearest('tenant-a|model|other system', vector(1, 0, 0)), undefined);
    vectors.add('tenant-b|model|system', 'answer-b', vector(0, 1, 0));
    assert.equal(vectors.nearest('tenant-b|model|system', vector(1, 0, 0))?.id, 'answer-b');
    assert.equal(vectors.nearest('tenant-a|model|system', vector(0, 1, 0))?.id, 'answer-a');
  });

  it('keeps each partition within its bound, evicting its least recently used entry', () => {
    const evicted: string[] = [];
    const vectors = index(2, 100, evicted);
    vectors.add('p', 'first', vector(1, 0, 0));
    vectors.add('p', 'second', vector(0, 1, 0));
    assert.equal(vectors.touch('p', 'first'), true);
    vectors.add('p', 'third', vector(0, 0, 1));
    vectors.add('q', 'other', vector(0, 1, 0));
    assert.deepEqual(evicted, ['p/second']);
    assert.equal(vectors.sizeOf('p'), 2);
    assert.equal(vectors.nearest('p', vector(0, 1, 0))?.similarity, 0, 'second is gone');
    assert.equal(vectors.nearest('p', vector(1, 0, 0))?.id, 'first');
  });

  it('keeps all partitions together within the total bound', () => {
    const evicted: string[] = [];
    const vectors = index(10, 3, evicted);
    for (const [partition, id] of [
      ['a', '1'],
      ['b', '1'],
      ['c', '1'],
      ['a', '2'],
      ['d', '1'],
    ] as const) {
      vectors.add(partition, id, vector(1, 0, 0));
    }
    assert.equal(vectors.size, 3);
    assert.deepEqual(evicted, ['a/1', 'b/1']);
    assert.equal(vectors.nearest('b', vector(1, 0, 0)), undefined);
  });

  it('replaces a vector under the same id without growing', () => {
    const vectors = index(2);
    vectors.add('p', 'x', vector(1, 0, 0));
    vectors.add('p', 'x', vector(0, 1, 0));
    assert.equal(vectors.size, 1);
    assert.equal(vectors.nearest('p', vector(0, 1, 0))?.similarity, 1);
  });

  it('removes one entry, and clears partitions by prefix', () => {
    const vectors = index();
    vectors.add('tenant-a|m1', 'x', vector(1, 0, 0));
    vectors.add('tenant-a|m1', 'y', vector(0, 1, 0));
    vectors.add('tenant-a|m2', 'x', vector(1, 0, 0));
    vectors.add('tenant-b|m1', 'x', vector(1, 0, 0));
    assert.equal(vectors.remove('tenant-a|m1', 'x'), true);
    assert.equal(vectors.remove('tenant-a|m1', 'x'), false);
    assert.equal(vectors.nearest('tenant-a|m1', vector(1, 0, 0))?.id, 'y', 'the moved row is still found');
    assert.equal(vectors.clear('tenant-a|'), 2);
    assert.equal(vectors.size, 1);
    assert.equal(vectors.nearest('tenant-b|m1', vector(1, 0, 0))?.id, 'x');
  });

  it('refuses vectors of the wrong length', () => {
    assert.throws(() => index().add('p', 'x', vector(1, 0)), RangeError);
    assert.throws(() => index().nearest('p', vector(1, 0, 0, 0)), RangeError);
  });

  it('grows past its initial capacity and still finds every row', () => {
    const vectors = index(100);
    for (let i = 0; i < 40; i++) vectors.add('p', `id${i}`, vector(Math.cos(i / 10), Math.sin(i / 10), 0));
    assert.equal(vectors.nearest('p', vector(Math.cos(3.3), Math.sin(3.3), 0))?.id, 'id33');
  });
});
