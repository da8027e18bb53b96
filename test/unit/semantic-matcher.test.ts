import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { providerEmbedder } from '../../src/cache/semantic/embedder.ts';
import { LocalEmbedder } from '../../src/cache/semantic/local-embedder.ts';
import { SEMANTIC_DEFAULTS, SemanticMatcher } from '../../src/cache/semantic/semantic-matcher.ts';

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((sum, value, i) => sum + value * b[i]!, 0);

describe('embedders', () => {
  it('the local model loads from node_modules and ranks a paraphrase above an unrelated question', async () => {
    const embedder = new LocalEmbedder();
    const started = performance.now();
    const [tea, recipe, unrelated] = await embedder.embed([
      'How do I make tea?',
      'Recipe for tea',
      'What is the capital of France?',
    ]);
    assert.ok(performance.now() - started < 30_000, 'loads and embeds within 30 s');
    assert.equal(tea!.length, 512);
    assert.ok(Math.abs(cosine(tea!, tea!) - 1) < 1e-5, 'unit length');
    assert.ok(cosine(tea!, recipe!) > cosine(tea!, unrelated!) + 0.2);
  });

  it('a provider embedder adapts number arrays to unit vectors and refuses a wrong reply', async () => {
    const calls: string[][] = [];
    const embedder = providerEmbedder({
      name: 'fake/embed',
      dimensions: 2,
      embed: async (texts) => {
        calls.push(texts);
        return texts.map((text) => (text === 'bad' ? [1, 2, 3] : [3, 4]));
      },
    });
    const [vector] = await embedder.embed(['hello']);
    assert.deepEqual(
      [...vector!].map((value) => Math.round(value * 10) / 10),
      [0.6, 0.8],
    );
    await assert.rejects(embedder.embed(['bad']), /3 dimensions, not 2/);
    assert.deepEqual(await embedder.embed([]), []);
    assert.deepEqual(calls, [['hello'], ['bad']], 'no call for no text');
  });
});

describe('semantic matcher', () => {
  /** Words → a vector over a small vocabulary: enough to drive the matcher without a model. */
  const vocabulary = ['tea', 'make', 'milk', 'eggs', 'boil', 'capital', 'france'];
  const bagOfWords = providerEmbedder({
    name: 'test/bag-of-words',
    dimensions: vocabulary.length,
    embed: async (texts) =>
      texts.map((text) => vocabulary.map((word) => (text.toLowerCase().includes(word) ? 1 : 0.01))),
  });

  it('serves a rephrasing from the same partition only, and never a near-miss', async () => {
    const matcher = new SemanticMatcher({ embedder: bagOfWords });
    await matcher.remember('tenant-a|model', 'answer-1', 'How do I make tea?');
    await matcher.remember('tenant-a|model', 'answer-2', 'How do I boil 2 eggs?');
    const hit = await matcher.lookup('tenant-a|model', 'How can I make tea?');
    assert.equal(hit.hit?.id, 'answer-1');
    assert.equal((await matcher.lookup('tenant-b|model', 'How can I make tea?')).hit, undefined);
    const nearMiss = await matcher.lookup('tenant-a|model', 'How do I boil 3 eggs?');
    assert.equal(nearMiss.hit, undefined);
    assert.deepEqual(
      nearMiss.rejected.map((candidate) => [candidate.id, candidate.reason]),
      [['answer-2', 'numbers']],
    );
    const negated = await matcher.lookup('tenant-a|model', 'How do I make tea without milk?');
    assert.equal(negated.hit, undefined);
  });

  it('forgets entries, clears a tenant and reports evictions', async () => {
    const evicted: string[] = [];
    const matcher = new SemanticMatcher({
      embedder: bagOfWords,
      settings: { ...SEMANTIC_DEFAULTS, maxEntries: 2 },
      onEvict: (partition, id) => evicted.push(`${partition}/${id}`),
    });
    await matcher.remember('a|m', '1', 'How do I make tea?');
    await matcher.remember('a|m', '2', 'How do I boil eggs?');
    await matcher.remember('b|m', '3', 'What is the capital of France?');
    assert.deepEqual(evicted, ['a|m/1']);
    matcher.forget('a|m', '2');
    assert.equal((await matcher.lookup('a|m', 'How do I boil eggs?')).hit, undefined);
    assert.equal(matcher.clear('b|'), 1);
    assert.equal(matcher.size, 0);
  });
});
