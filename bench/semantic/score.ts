// Scoring for bench/semantic/eval.ts: the seeded split and precision / recall / false-hit rate at a threshold.

/** One labelled pair: would `b` be served `a`'s cached answer, and should it be? */
export interface Pair {
  readonly a: string;
  readonly b: string;
  readonly duplicate: boolean;
}

/** A pair's label, cosine similarity and, per threshold of `thresholds`, whether the full rule served a hit. */
export interface Decision {
  readonly duplicate: boolean;
  readonly similarity: number;
  /** `decide(...)` with the defaults but `thresholds[i]` as the threshold. */
  readonly accepted: readonly boolean[];
}

/** The thresholds of the published curve: 0.70 to 0.99 by 0.01. */
export const thresholds: readonly number[] = Array.from({ length: 30 }, (_, i) => (70 + i) / 100);

export interface Score {
  /** Served hits that were right (NaN with no hit). */
  readonly precision: number;
  /** Duplicates that were served a hit. */
  readonly recall: number;
  /** Non-duplicates that were served a (wrong) hit. */
  readonly falseHitRate: number;
}

/** The fixed seed of the tuning / held-out split: tuning used only the first half. */
export const SPLIT_SEED = 15;

/** A deterministic PRNG (mulberry32), so the split is the same on every machine. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Shuffles with `seed` (Fisher–Yates) and cuts in two halves: the first for tuning, the second held out. */
export function splitHalves<T>(items: readonly T[], seed: number): { tune: T[]; heldOut: T[] } {
  const next = random(seed);
  const order = items.map((_, index) => index);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const half = Math.floor(order.length / 2);
  return {
    tune: order.slice(0, half).map((index) => items[index]!),
    heldOut: order.slice(half).map((index) => items[index]!),
  };
}

/** Scores `set` at `thresholds[step]`: cosine alone, or (with `secondStage`) the full decision. */
export function score(set: readonly Decision[], step: number, secondStage: boolean): Score {
  const threshold = thresholds[step]!;
  let truePositives = 0;
  let falsePositives = 0;
  let positives = 0;
  for (const d of set) {
    if (d.duplicate) positives++;
    const hit = secondStage ? d.accepted[step]! : d.similarity >= threshold;
    if (!hit) continue;
    if (d.duplicate) truePositives++;
    else falsePositives++;
  }
  const negatives = set.length - positives;
  return {
    precision: truePositives / (truePositives + falsePositives),
    recall: positives === 0 ? Number.NaN : truePositives / positives,
    falseHitRate: negatives === 0 ? Number.NaN : falsePositives / negatives,
  };
}
