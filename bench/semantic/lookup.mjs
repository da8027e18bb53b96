// npm run bench:semantic-lookup [-- --entries 100000] [-- --queries 600] [-- --prompts 100] [-- --sweep]
//                               [-- --out bench/results/semantic-lookup.md]
//
// What a semantic lookup costs once a partition is large, apart from the embedding, and what the embedding costs:
//
// 1. The local embedder (Universal Sentence Encoder Lite) on its worker thread, as the matcher uses it: its load,
//    then one prompt at a time (`embed([text])`, awaited from the main thread), p50 / p99 per prompt.
// 2. One partition filled with `--entries` prompts: the dev pairs' first questions (embedded once, cached under the
//    OS temp dir like `npm run eval:semantic`), topped up with synthetic vectors drawn from the same distribution
//    (a random Gaussian mix of 16 real embeddings around their mean, so their covariance is the real one's). The
//    fill's cost on the event loop (`remember`) and in the background (the HNSW graph inserts, done here with
//    `settle()`), and the RSS.
// 3. Lookups through `SemanticMatcher.lookup` with the shipped settings (second stage included) and an embedder
//    that returns the precomputed vector: p50 / p99 / max ms excluding the embedding. Queries: the dev pairs'
//    second questions, near-duplicates of stored synthetic vectors (cosine ≈ 0.8–0.97) and unrelated vectors.
// 4. Recall: the matcher's first candidate against an exact scan of the same entries, for the queries whose true
//    nearest is at or above the threshold (the ones a miss would cost a hit), and the exact scan's own time.
// 5. Where the exact/HNSW threshold comes from: exact scan against graph search at 250–4,000 entries.
//
// `--sweep` also builds a bare graph of the same vectors and prints recall and time per efSearch (slow: one more
// graph build). Bounded: stops after 20 minutes. Traffic: none; everything runs in this process and its thread.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { random } from '../measure.mjs';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..', '..');
const { values: args } = parseArgs({
  options: {
    entries: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '600' },
    prompts: { type: 'string', default: '100' },
    data: { type: 'string', default: resolve(root, '..', 'shared', 'data', 'semantic-cache-dev.jsonl') },
    sweep: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const entries = Number(args.entries);
const runLimitMs = 20 * 60_000;
const startedAt = Date.now();
const dimensions = 512;
const partition = 'bench-tenant|chat|gpt-4o-mini|system-prompt-digest';

function fail(message) {
  console.error(`bench:semantic-lookup: ${message}`);
  process.exit(1);
}
function bounded(step) {
  if (Date.now() - startedAt > runLimitMs) fail(`stopped after ${runLimitMs / 60_000} minutes, at ${step}`);
  console.error(`bench:semantic-lookup: ${step}`);
}
if (!existsSync(join(root, 'dist', 'src', 'main.js')))
  fail('no build: run it as npm run bench:semantic-lookup');
if (!existsSync(args.data)) fail(`no pairs at ${args.data} (--data FILE)`);

const dist = (path) => import(pathToFileURL(join(root, 'dist', 'src', path)).href);
const { VectorIndex, ANN_THRESHOLD } = await dist('cache/semantic/vector-index.js');
const { HnswGraph, HNSW_DEFAULTS } = await dist('cache/semantic/hnsw-graph.js');
const { SEMANTIC_DEFAULTS, SemanticMatcher } = await dist('cache/semantic/semantic-matcher.js');
const { WorkerEmbedder } = await dist('cache/semantic/worker-embedder.js');

const next = random(15);
const gaussian = () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
function unit(vector) {
  let sum = 0;
  for (const value of vector) sum += value * value;
  const scale = 1 / Math.sqrt(sum);
  for (let i = 0; i < vector.length; i++) vector[i] *= scale;
  return vector;
}
function quantiles(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1), n: sorted.length };
}
const ms = (value) => (value < 1 ? value.toFixed(3) : value.toFixed(2));
const loadBefore = loadavg();

// ---------------------------------------------------------------------------------------------------------
// 1. The embedder on its thread, and the dev texts' vectors.

const pairs = readFileSync(args.data, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line));
const texts = [...new Set(pairs.flatMap((pair) => [pair.a, pair.b]))];
const embedder = new WorkerEmbedder();
bounded('loading the embedder on its thread');
let started = performance.now();
await embedder.load();
const loadMs = performance.now() - started;
bounded(`embedding ${args.prompts} prompts one at a time`);
const promptTimes = [];
for (const text of texts.slice(0, Number(args.prompts))) {
  started = performance.now();
  await embedder.embed([text]);
  promptTimes.push(performance.now() - started);
}
// The same cache file as `npm run eval:semantic` (same embedder name, same texts in the same order).
const cacheKey = createHash('sha256').update(embedder.name).update('\u0000').update(texts.join('\u0000'));
const cacheFile = join(tmpdir(), 'nexus-semantic-eval', `${cacheKey.digest('hex').slice(0, 32)}.f32`);
let flat;
if (existsSync(cacheFile)) {
  const bytes = readFileSync(cacheFile);
  flat = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}
if (flat?.length !== texts.length * dimensions) {
  bounded(`embedding the ${texts.length} dev texts once (cached in ${cacheFile})`);
  flat = new Float32Array(texts.length * dimensions);
  for (let from = 0; from < texts.length; from += 256) {
    const vectors = await embedder.embed(texts.slice(from, from + 256));
    for (const [offset, vector] of vectors.entries()) flat.set(vector, (from + offset) * dimensions);
  }
  mkdirSync(dirname(cacheFile), { recursive: true });
  writeFileSync(cacheFile, flat);
}
await embedder.close();
const vectorOf = new Map(texts.map((text, i) => [text, flat.subarray(i * dimensions, (i + 1) * dimensions)]));

// ---------------------------------------------------------------------------------------------------------
// 2. The stored prompts and the queries.

const mean = new Float64Array(dimensions);
for (const vector of vectorOf.values())
  for (let d = 0; d < dimensions; d++) mean[d] += vector[d] / texts.length;
const realVectors = [...vectorOf.values()];
/** A vector with the real embeddings' mean and covariance: a Gaussian mix of 16 of them. */
function synthetic() {
  const vector = Float32Array.from(mean);
  for (let j = 0; j < 16; j++) {
    const other = realVectors[Math.floor(next() * realVectors.length)];
    const weight = gaussian() / 4;
    for (let d = 0; d < dimensions; d++) vector[d] += weight * (other[d] - mean[d]);
  }
  return unit(vector);
}
const stored = [];
const storedTexts = new Set();
for (const { a } of pairs) {
  if (storedTexts.has(a)) continue;
  storedTexts.add(a);
  stored.push({ id: `real-${stored.length}`, text: a, vector: vectorOf.get(a) });
}
const realStored = stored.length;
while (stored.length < entries) {
  stored.push({
    id: `synthetic-${stored.length}`,
    text: `synthetic prompt ${stored.length}`,
    vector: synthetic(),
  });
}
const queryCount = Number(args.queries);
const queries = [];
const shuffled = pairs.filter(({ b }) => !storedTexts.has(b)).sort(() => next() - 0.5);
for (const { b } of shuffled.slice(0, Math.round(queryCount * 0.6))) {
  queries.push({ kind: 'dev pair', text: b, vector: vectorOf.get(b) });
}
for (let j = 0; j < Math.round(queryCount * 0.3); j++) {
  const base = stored[realStored + Math.floor(next() * (stored.length - realStored))];
  const noise = (0.25 + 0.5 * next()) / Math.sqrt(dimensions);
  const vector = unit(base.vector.map((value) => value + gaussian() * noise));
  queries.push({ kind: 'near-duplicate', text: `${base.text}, reworded ${j}`, vector });
}
for (let j = 0; j < Math.round(queryCount * 0.1); j++) {
  queries.push({ kind: 'unrelated', text: `unrelated prompt ${j}`, vector: synthetic() });
}
const queryVector = new Map(queries.map((query) => [query.text, query.vector]));

// ---------------------------------------------------------------------------------------------------------
// 3. The matcher as shipped, filled; the exact scan (the truth, and the old lookup's cost); the lookups.

bounded(`filling the matcher with ${entries} entries`);
const threshold = SEMANTIC_DEFAULTS.threshold;
const precomputed = {
  name: 'bench/precomputed',
  dimensions,
  embed: async (batch) => batch.map((text) => queryVector.get(text) ?? stored[0].vector),
};
const matcher = new SemanticMatcher({
  embedder: precomputed,
  settings: { ...SEMANTIC_DEFAULTS, maxEntriesPerPartition: entries, maxEntries: entries },
});
const rssBefore = process.memoryUsage().rss;
started = performance.now();
for (const { id, text, vector } of stored) await matcher.remember(partition, id, text, vector);
const rememberUs = ((performance.now() - started) * 1000) / entries;
bounded('building the graph (the background moves, all at once)');
started = performance.now();
matcher.settle();
const settleMs = performance.now() - started;
const rssAfter = process.memoryUsage().rss;

bounded(`exact scan of ${entries} entries for ${queries.length} queries`);
const exact = new VectorIndex({
  dimensions,
  maxEntriesPerPartition: entries,
  maxEntries: entries,
  annThreshold: Number.POSITIVE_INFINITY,
});
for (const { id, vector } of stored) exact.add(partition, id, vector);
const exactTimes = [];
const truth = queries.map(({ vector }) => {
  const began = performance.now();
  const [nearest] = exact.search(partition, vector, { k: 1 });
  exactTimes.push(performance.now() - began);
  return nearest;
});
exact.clear('');

bounded(`${queries.length} lookups, twice`);
const lookupTimes = [];
const outcomes = new Map();
for (let round = 0; round < 2; round++) {
  for (const [index, query] of queries.entries()) {
    const began = performance.now();
    const result = await matcher.lookup(partition, query.text);
    if (round === 1) lookupTimes.push(performance.now() - began);
    const expected = truth[index];
    if (round === 0 && expected !== undefined && expected.similarity >= threshold) {
      const first = result.rejected.length > 0 ? result.rejected[0] : result.hit;
      const same = first !== undefined && first.id === expected.id;
      const counts = outcomes.get(query.kind) ?? { found: 0, of: 0, hits: 0 };
      counts.of++;
      if (same) counts.found++;
      if (result.hit !== undefined) counts.hits++;
      outcomes.set(query.kind, counts);
    }
  }
}

bounded('steady state: 2,000 more prompts into the full partition (evicting), then the background moves');
started = performance.now();
for (let j = 0; j < 2_000; j++) {
  await matcher.remember(partition, `late-${j}`, `late prompt ${j}`, synthetic());
}
const lateRememberUs = ((performance.now() - started) * 1000) / 2_000;
started = performance.now();
matcher.settle();
const lateInsertUs = ((performance.now() - started) * 1000) / 2_000;

// ---------------------------------------------------------------------------------------------------------
// 4. Exact against HNSW by partition size (where ANN_THRESHOLD comes from).

bounded('exact scan against graph search, 250 to 4,000 entries');
const crossover = [];
for (const size of [250, 500, 1_000, 2_000, 4_000]) {
  const times = { exact: [], graph: [] };
  for (const mode of ['exact', 'graph']) {
    const index = new VectorIndex({
      dimensions,
      maxEntriesPerPartition: size,
      maxEntries: size,
      annThreshold: mode === 'exact' ? Number.POSITIVE_INFINITY : 2,
    });
    for (const { id, vector } of stored.slice(realStored, realStored + size)) index.add('p', id, vector);
    index.settle();
    for (let round = 0; round < 2; round++) {
      for (const { vector } of queries.slice(0, 200)) {
        const began = performance.now();
        index.search('p', vector, { k: 3, minSimilarity: threshold });
        if (round === 1) times[mode].push(performance.now() - began);
      }
    }
  }
  crossover.push({ size, exact: quantiles(times.exact), graph: quantiles(times.graph) });
}

// ---------------------------------------------------------------------------------------------------------
// 5. Optional: recall and time per efSearch, on a bare graph of the same vectors.

const sweep = [];
if (args.sweep) {
  bounded(`--sweep: a bare graph of ${entries} entries`);
  const graph = new HnswGraph(dimensions, entries, entries, HNSW_DEFAULTS);
  for (const { id, vector } of stored) graph.put(id, vector);
  for (const ef of [8, 16, 32, 64, 128]) {
    graph.efSearch = ef;
    const times = [];
    let found = 0;
    let of = 0;
    for (const [index, { vector }] of queries.entries()) {
      const began = performance.now();
      const [first] = graph.search(vector, 3, threshold);
      times.push(performance.now() - began);
      if (truth[index]?.similarity >= threshold) {
        of++;
        if (first?.id === truth[index].id) found++;
      }
    }
    sweep.push({ ef, found, of, times: quantiles(times) });
  }
}

// ---------------------------------------------------------------------------------------------------------

const loadAfter = loadavg();
const embedding = quantiles(promptTimes);
const lookup = quantiles(lookupTimes);
const scan = quantiles(exactTimes);
const totals = [...outcomes.values()].reduce(
  (sum, c) => ({ found: sum.found + c.found, of: sum.of + c.of }),
  {
    found: 0,
    of: 0,
  },
);
const { m, efConstruction, efSearch } = HNSW_DEFAULTS;
const lines = [
  `## Semantic lookup at ${entries.toLocaleString('en')} entries in one partition`,
  '',
  `${new Date().toISOString()}, node ${process.version}; HNSW M ${m}, efConstruction ${efConstruction}, efSearch ` +
    `${efSearch}, exact below ${ANN_THRESHOLD} entries; load average ${loadBefore.map((n) => n.toFixed(2)).join(' ')} ` +
    `before, ${loadAfter.map((n) => n.toFixed(2)).join(' ')} after. ${realStored} stored prompts are real dev ` +
    `questions, the rest synthetic; ${queries.length} queries.`,
  '',
  '| what | p50 ms | p99 ms | max ms | n |',
  '|---|---:|---:|---:|---:|',
  `| lookup excluding the embedding (\`SemanticMatcher.lookup\`: HNSW search, second stage) | ${ms(lookup.p50)} | ${ms(lookup.p99)} | ${ms(lookup.max)} | ${lookup.n} |`,
  `| exact scan of the same partition (the index before HNSW) | ${ms(scan.p50)} | ${ms(scan.p99)} | ${ms(scan.max)} | ${scan.n} |`,
  `| embedding one prompt on the worker thread (local USE Lite) | ${ms(embedding.p50)} | ${ms(embedding.p99)} | ${ms(embedding.max)} | ${embedding.n} |`,
  '',
  `Embedder load on its thread: ${loadMs.toFixed(0)} ms.`,
  '',
  `Top-1 recall of the lookup's first candidate against the exact scan, queries whose true nearest is at or above ` +
    `${threshold}: **${totals.found} / ${totals.of}** (${((totals.found / totals.of) * 100).toFixed(2)}%); ` +
    [...outcomes]
      .map(([kind, c]) => `${kind} ${c.found} / ${c.of} (${c.hits} served after the second stage)`)
      .join(', ') +
    '.',
  '',
  `Insert: \`remember\` ${rememberUs.toFixed(1)} µs per prompt on the event loop (a row appended); the background ` +
    `moves into the graph ${((settleMs * 1000) / entries).toFixed(0)} µs per prompt while filling (${(settleMs / 1000).toFixed(1)} s ` +
    `for ${entries.toLocaleString('en')}), ${lateInsertUs.toFixed(0)} µs per prompt into the full graph (evicting; ` +
    `\`remember\` ${lateRememberUs.toFixed(1)} µs). RSS +${((rssAfter - rssBefore) / 2 ** 20).toFixed(0)} MiB for the ` +
    `filled matcher (vectors, graph, prompt texts).`,
  '',
  '| entries | exact scan p50 / p99 ms | HNSW p50 / p99 ms |',
  '|---:|---:|---:|',
  ...crossover.map(
    ({ size, exact: e, graph: g }) =>
      `| ${size.toLocaleString('en')} | ${ms(e.p50)} / ${ms(e.p99)} | ${ms(g.p50)} / ${ms(g.p99)} |`,
  ),
];
if (sweep.length > 0) {
  lines.push(
    '',
    '| efSearch | recall@1 (true nearest ≥ threshold) | search p50 / p99 ms |',
    '|---:|---:|---:|',
  );
  for (const { ef, found, of, times } of sweep) {
    lines.push(`| ${ef} | ${found} / ${of} | ${ms(times.p50)} / ${ms(times.p99)} |`);
  }
}
const report = `${lines.join('\n')}\n`;
console.log(report);
if (args.out !== undefined) {
  mkdirSync(dirname(resolve(args.out)), { recursive: true });
  writeFileSync(args.out, report);
}
