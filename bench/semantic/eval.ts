// npm run eval:semantic [-- --data FILE] [-- --no-cache]
//
// Measures the semantic cache's shipped default settings on labelled question pairs ({a, b, duplicate} per
// line; default ../shared/data/semantic-cache-dev.jsonl from the repository root): b would be served a's
// cached answer when cosine(a, b) ≥ threshold and the second stage accepts. Prints the precision / recall /
// false-hit-rate curve over thresholds, with and without the second stage, on a fixed seeded half used for
// tuning, on the other (held-out) half and on the whole file; the last line is one JSON object for the
// defaults on the whole file. The data stays outside the repository (research use only).
//
// Embeddings are cached under the OS temp dir (keyed by the embedder and the texts), so a second run takes
// seconds; a clean clone embeds everything once (≈ 1 min for 2,000 pairs on 2 cores).
import { decide, SEMANTIC_DEFAULTS } from '../../src/cache/semantic/semantic-matcher.ts';
import { cosine, dataPathOf, embedAll, readPairs } from './data.ts';
import { type Decision, SPLIT_SEED, score, splitHalves, thresholds } from './score.ts';

const args = process.argv.slice(2);
const dataPath = dataPathOf(args);
const useCache = !args.includes('--no-cache');

const pairs = readPairs(dataPath);
const vectors = await embedAll([...new Set(pairs.flatMap((pair) => [pair.a, pair.b]))], useCache);
const threshold = SEMANTIC_DEFAULTS.threshold;
const defaultStep = thresholds.findIndex((t) => Math.abs(t - threshold) < 1e-9);
if (defaultStep < 0) throw new Error(`the default threshold ${threshold} is not on the curve's grid`);
// In the cache, a is the stored prompt and b the new request.
const checkStarted = performance.now();
const reasons = pairs.map((pair) => {
  const similarity = cosine(vectors.get(pair.a)!, vectors.get(pair.b)!);
  return { similarity, decision: decide(similarity, pair.b, pair.a) };
});
const checkMicros = ((performance.now() - checkStarted) * 1000) / pairs.length;
const decisions: Decision[] = pairs.map((pair, i) => ({
  duplicate: pair.duplicate,
  similarity: reasons[i]!.similarity,
  accepted: thresholds.map(
    (t) => decide(reasons[i]!.similarity, pair.b, pair.a, { ...SEMANTIC_DEFAULTS, threshold: t }).accept,
  ),
}));
const { tune, heldOut } = splitHalves(decisions, SPLIT_SEED);

const pct = (value: number) => (Number.isNaN(value) ? '   -  ' : `${(value * 100).toFixed(1).padStart(5)}%`);
function curve(name: string, set: Decision[]): void {
  const positives = set.filter((d) => d.duplicate).length;
  console.log(`\n${name}: ${set.length} pairs, ${positives} duplicates`);
  console.log(
    'threshold | cosine only: precision recall false-hits | + second stage: precision recall false-hits',
  );
  for (const [step, t] of thresholds.entries()) {
    const raw = score(set, step, false);
    const checked = score(set, step, true);
    const mark = step === defaultStep ? ' <- default' : '';
    console.log(
      `   ${t.toFixed(2)}   |   ${pct(raw.precision)}  ${pct(raw.recall)}  ${pct(raw.falseHitRate)}    |   ${pct(checked.precision)}  ${pct(checked.recall)}  ${pct(checked.falseHitRate)}${mark}`,
    );
  }
}

console.log(`data ${dataPath}: ${pairs.length} pairs; second stage ${checkMicros.toFixed(1)} µs per pair`);
curve(`tuning half (seed ${SPLIT_SEED})`, tune);
curve('held-out half', heldOut);
curve('whole file', decisions);

// What the second stage rejected above the threshold, per rule: wrong hits avoided vs right hits lost.
const rules = new Map<string, { avoided: number; lost: number }>();
pairs.forEach((pair, i) => {
  const { decision } = reasons[i]!;
  if (decision.accept || decision.reason === 'below-threshold') return;
  const counts = rules.get(decision.reason) ?? { avoided: 0, lost: 0 };
  counts[pair.duplicate ? 'lost' : 'avoided']++;
  rules.set(decision.reason, counts);
});
console.log(
  `\nsecond-stage rejections at ${threshold} (whole file): rule, wrong hits avoided, right hits lost`,
);
for (const [rule, counts] of [...rules].sort((x, y) => y[1].avoided - x[1].avoided)) {
  console.log(
    `  ${rule.padEnd(22)} ${String(counts.avoided).padStart(4)} ${String(counts.lost).padStart(4)}`,
  );
}
for (const [name, set] of [
  ['tuning half', tune],
  ['held-out half', heldOut],
] as const) {
  const at = score(set, defaultStep, SEMANTIC_DEFAULTS.secondStage);
  console.log(
    `default on ${name}: precision ${pct(at.precision)} recall ${pct(at.recall)} (${set.length} pairs)`,
  );
}
const final = score(decisions, defaultStep, SEMANTIC_DEFAULTS.secondStage);
const round = (value: number) => Math.round(value * 10_000) / 10_000;
console.log(
  JSON.stringify({
    precision: round(final.precision),
    recall: round(final.recall),
    pairs: pairs.length,
    threshold,
  }),
);
