// node --import tsx bench/semantic/fit-stage.ts [-- --data FILE]
//
// Would a learned second stage beat the rules? Fits a small L2-regularised logistic regression over what the
// second stage already reads (similarity, the rules' verdict, how many topic words each side lacks, whether the
// swapped words stand in a verb's place) plus word-level alignment with the same embedder (each content word
// embedded alone: how close the least-matched swapped or missing word comes to a word of the other side), over
// the pairs the outright rules (numbers, names, negation, intent, frame…) let through at the default threshold.
//
// Prints (1) k-fold cross-validation over the whole file, several split seeds, for model selection only: wrong
// hits among the model's best-scored pairs at the rules' number of right hits, against the rules; (2) the model
// fitted on the tuning half with its cut chosen there (most right hits at tuning precision ≥ 0.97), scored on the
// tuning half, the held-out half and the whole file as eval.ts scores the shipped defaults; (3) what embedding
// the swapped words at lookup time would cost. Nothing here is shipped: see docs/semantic-cache.md ("Tried and
// dropped") for the outcome.
import { analyzeMatch } from '../../src/cache/semantic/confirm-match.ts';
import { LocalEmbedder } from '../../src/cache/semantic/local-embedder.ts';
import { decide, SEMANTIC_DEFAULTS } from '../../src/cache/semantic/semantic-matcher.ts';
import type { TextFeatures } from '../../src/cache/semantic/text-features.ts';
import { cosine, dataPathOf, embedAll, readPairs } from './data.ts';
import { SPLIT_SEED, splitHalves } from './score.ts';

const pairs = readPairs(dataPathOf(process.argv.slice(2)));
const vectors = await embedAll([...new Set(pairs.flatMap((pair) => [pair.a, pair.b]))]);
const surface = (features: TextFeatures, stemmed: string) =>
  features.words[features.stems.indexOf(stemmed)] ?? stemmed;

interface Row {
  readonly index: number;
  readonly duplicate: boolean;
  readonly rules: boolean;
  readonly features: number[];
}

const analysed = pairs.map((pair, index) => {
  const similarity = cosine(vectors.get(pair.a)!, vectors.get(pair.b)!);
  const analysis = analyzeMatch(pair.b, pair.a);
  return { index, pair, similarity, analysis, rules: decide(similarity, pair.b, pair.a).accept };
});
const inPool = analysed.filter(
  (row) => row.similarity >= SEMANTIC_DEFAULTS.threshold && row.analysis.rejection === undefined,
);
const words = (features: TextFeatures, stems: readonly string[]) => stems.map((s) => surface(features, s));
const wordVectors = await embedAll(
  [
    ...new Set(
      inPool.flatMap(({ analysis }) => [
        ...words(analysis.query, analysis.query.content),
        ...words(analysis.candidate, analysis.candidate.content),
      ]),
    ),
  ].sort(),
);
/** For each of `missing`, its best cosine to a word of `other`; the least of them (1 when none is missing). */
const worstAligned = (missing: readonly string[], other: readonly string[]) =>
  Math.min(
    1,
    ...missing.map((word) =>
      Math.max(0, ...other.map((o) => cosine(wordVectors.get(word)!, wordVectors.get(o)!))),
    ),
  );

const featureNames = [
  'similarity',
  'rules accept',
  'no topic word missing',
  'topic words missing (both sides)',
  'topic words missing (larger side)',
  'missing on one side only',
  'swapped words: least word cosine to the other side’s swapped words',
  'missing words: least word cosine to the other side’s topic words',
  'swapped words in a verb’s place',
];
const rows: Row[] = inPool.map(({ index, pair, similarity, analysis, rules }) => {
  const onlyQuery = words(analysis.query, analysis.onlyQuery);
  const onlyCandidate = words(analysis.candidate, analysis.onlyCandidate);
  const missing = onlyQuery.length + onlyCandidate.length;
  const swapCos = Math.min(worstAligned(onlyQuery, onlyCandidate), worstAligned(onlyCandidate, onlyQuery));
  const alignCos = Math.min(
    worstAligned(onlyQuery, words(analysis.candidate, analysis.candidate.content)),
    worstAligned(onlyCandidate, words(analysis.query, analysis.query.content)),
  );
  return {
    index,
    duplicate: pair.duplicate,
    rules,
    features: [
      similarity,
      rules ? 1 : 0,
      missing === 0 ? 1 : 0,
      missing,
      Math.max(onlyQuery.length, onlyCandidate.length),
      (onlyQuery.length === 0) !== (onlyCandidate.length === 0) ? 1 : 0,
      swapCos,
      alignCos,
      missing > 0 && analysis.verbs ? 1 : 0,
    ],
  };
});

/** Solves `a x = b` (Gaussian elimination with partial pivoting; `a` is small and symmetric positive definite). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const factor = m[r]![col]! / m[col]![col]!;
      for (let c = col; c <= n; c++) m[r]![c]! -= factor * m[col]![c]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

interface Model {
  readonly mean: number[];
  readonly scale: number[];
  readonly weights: number[];
  readonly bias: number;
}

/** L2-regularised logistic regression (Newton's method) on standardised features; the bias is not penalised. */
function fit(train: readonly Row[], l2: number): Model {
  const d = train[0]!.features.length;
  const mean = Array.from(
    { length: d },
    (_, j) => train.reduce((s, r) => s + r.features[j]!, 0) / train.length,
  );
  const scale = mean.map(
    (mu, j) => Math.sqrt(train.reduce((s, r) => s + (r.features[j]! - mu) ** 2, 0) / train.length) || 1,
  );
  const x = train.map((r) => [...r.features.map((v, j) => (v - mean[j]!) / scale[j]!), 1]);
  const w = new Array<number>(d + 1).fill(0);
  for (let iteration = 0; iteration < 50; iteration++) {
    const gradient = w.map((wj, j) => (j < d ? l2 * wj : 0));
    const hessian = w.map((_, i) => w.map((_, j) => (i === j && i < d ? l2 : 0)));
    x.forEach((xi, n) => {
      const p = 1 / (1 + Math.exp(-xi.reduce((s, v, j) => s + v * w[j]!, 0)));
      const y = train[n]!.duplicate ? 1 : 0;
      for (let i = 0; i <= d; i++) {
        gradient[i]! += (p - y) * xi[i]!;
        for (let j = 0; j <= d; j++) hessian[i]![j]! += p * (1 - p) * xi[i]! * xi[j]!;
      }
    });
    const step = solve(hessian, gradient);
    step.forEach((s, j) => {
      w[j]! -= s;
    });
    if (Math.max(...step.map(Math.abs)) < 1e-8) break;
  }
  return { mean, scale, weights: w.slice(0, d), bias: w[d]! };
}

const scoreOf = (model: Model, row: Row) =>
  row.features.reduce(
    (s, v, j) => s + ((v - model.mean[j]!) / model.scale[j]!) * model.weights[j]!,
    model.bias,
  );

/** Wrong hits among the best-scored rows up to the first `right` right ones. */
function wrongAt(scored: ReadonlyArray<{ row: Row; score: number }>, right: number): number | undefined {
  let tp = 0;
  let fp = 0;
  for (const { row } of [...scored].sort((x, y) => y.score - x.score)) {
    if (row.duplicate) tp++;
    else fp++;
    if (tp >= right) return fp;
  }
  return undefined;
}

const L2 = 1;
const rulesRight = rows.filter((r) => r.rules && r.duplicate).length;
const rulesWrong = rows.filter((r) => r.rules && !r.duplicate).length;
console.log(
  `pool: ${rows.length} pairs at similarity ≥ ${SEMANTIC_DEFAULTS.threshold} that the outright rules let through (${rows.filter((r) => r.duplicate).length} duplicates); the rules accept ${rulesRight} right / ${rulesWrong} wrong`,
);
console.log(`\n5-fold cross-validation over the whole file (L2 ${L2}): wrong hits at N right hits`);
const targets = [230, 250, rulesRight];
console.log(`seed | ${targets.map((t) => `at ${t}`).join(' | ')}   (rules: ${rulesWrong} at ${rulesRight})`);
for (let seed = 1; seed <= 5; seed++) {
  const folds = splitFolds(rows.length, 5, seed);
  const scored = rows.map((row) => ({ row, score: 0 }));
  for (let fold = 0; fold < 5; fold++) {
    const model = fit(
      rows.filter((_, i) => folds[i] !== fold),
      L2,
    );
    scored.forEach((s, i) => {
      if (folds[i] === fold) s.score = scoreOf(model, s.row);
    });
  }
  console.log(
    `  ${seed}  | ${targets.map((t) => String(wrongAt(scored, t) ?? '-').padStart(5)).join(' | ')}`,
  );
}

/** Fold of each of `n` items: a seeded shuffle dealt round-robin. */
function splitFolds(n: number, k: number, seed: number): number[] {
  const folds = new Array<number>(n);
  const { tune, heldOut } = splitHalves(
    Array.from({ length: n }, (_, i) => i),
    seed * 7919,
  );
  [...tune, ...heldOut].forEach((item, position) => {
    folds[item] = position % k;
  });
  return folds;
}

// The fixed split of eval.ts: fit on the tuning half, choose the cut there, score all three sets.
const { tune } = splitHalves(
  pairs.map((_, i) => i),
  SPLIT_SEED,
);
const tuning = new Set(tune);
const duplicates = (inTune: boolean | undefined) =>
  pairs.filter((p, i) => p.duplicate && (inTune === undefined || tuning.has(i) === inTune)).length;
const model = fit(
  rows.filter((r) => tuning.has(r.index)),
  L2,
);
console.log('\nfitted on the tuning half (standardised weights):');
featureNames.forEach((name, j) => {
  console.log(`  ${model.weights[j]!.toFixed(2).padStart(6)}  ${name}`);
});
const count = (cut: number, inTune: boolean | undefined) => {
  const hits = rows.filter(
    (r) => scoreOf(model, r) >= cut && (inTune === undefined || tuning.has(r.index) === inTune),
  );
  const right = hits.filter((r) => r.duplicate).length;
  return { right, wrong: hits.length - right };
};
let best: number | undefined;
for (const cut of rows.filter((r) => tuning.has(r.index)).map((r) => scoreOf(model, r))) {
  const { right, wrong } = count(cut, true);
  if (right / (right + wrong) >= 0.97 && (best === undefined || right > count(best, true).right)) best = cut;
}
const line = (
  name: string,
  inTune: boolean | undefined,
  at: (inTune: boolean | undefined) => {
    right: number;
    wrong: number;
  },
) => {
  const { right, wrong } = at(inTune);
  return `${name.padEnd(14)} precision ${((100 * right) / (right + wrong)).toFixed(1)}% recall ${((100 * right) / duplicates(inTune)).toFixed(1)}% (${right} right / ${wrong} wrong)`;
};
const rules = (inTune: boolean | undefined) => {
  const hits = rows.filter((r) => r.rules && (inTune === undefined || tuning.has(r.index) === inTune));
  const right = hits.filter((r) => r.duplicate).length;
  return { right, wrong: hits.length - right };
};
console.log(`\ncut chosen on the tuning half (most right hits at precision ≥ 97%): ${best?.toFixed(3)}`);
for (const [name, inTune] of [
  ['tuning half', true],
  ['held-out half', false],
  ['whole file', undefined],
] as const) {
  console.log(`  model  ${line(name, inTune, (t) => count(best ?? Number.POSITIVE_INFINITY, t))}`);
  console.log(`  rules  ${line(name, inTune, rules)}`);
}

// Lookup cost of word-level alignment: embedding a prompt's swapped words alone (one batch of 1–4 words).
const embedder = new LocalEmbedder();
await embedder.load();
const timings: number[] = [];
const sample = [...wordVectors.keys()];
for (let i = 0; i < 40; i++) {
  const batch = sample.slice((i * 3) % (sample.length - 3), ((i * 3) % (sample.length - 3)) + 1 + (i % 3));
  const started = performance.now();
  await embedder.embed(batch);
  timings.push(performance.now() - started);
}
timings.sort((x, y) => x - y);
console.log(
  `\nembedding 1–3 words in one batch (this thread, 40 calls): p50 ${timings[20]!.toFixed(1)} ms, p90 ${timings[36]!.toFixed(1)} ms`,
);
