import { confirmMatch, type MatchRule } from './confirm-match.ts';
import type { Embedder } from './embedder.ts';
import { VectorIndex } from './vector-index.ts';

/** The semantic cache's settings; `SEMANTIC_DEFAULTS` are the ones measured by `npm run eval:semantic`. */
export interface SemanticSettings {
  /** Cosine similarity a stored prompt needs before the second stage looks at it. */
  readonly threshold: number;
  /**
   * Similarity needed when the second stage found a topic word swapped for another that is not a verb in a verb's
   * place (a noun for a noun: a synonym, or another thing of the same kind). Verbs swapped in the same frame
   * (`raise` / `increase`) need only `threshold`.
   */
  readonly swapThreshold: number;
  /** Topic words per text that may be swapped (see `ConfirmOptions`). */
  readonly maxSwappedWords: number;
  /** Whether the second stage runs at all (off: cosine alone decides; for measurement only). */
  readonly secondStage: boolean;
  /** Nearest stored prompts checked, best first, until one passes the second stage. */
  readonly candidates: number;
  /**
   * Entries kept per partition: exact search up to 1,000, an HNSW graph past it (≈ 1 ms per lookup at 100,000;
   * `vector-index.ts`), so one partition may use the whole `maxEntries`.
   */
  readonly maxEntriesPerPartition: number;
  /** Entries kept in all partitions together (512 dimensions × 4 bytes ≈ 2 KiB each). */
  readonly maxEntries: number;
  /** Prompts longer than this are neither looked up nor stored: a sentence encoder reads questions. */
  readonly maxTextChars: number;
}

/** The shipped defaults, chosen on the tuning half of the dev pairs (docs/semantic-cache.md). */
export const SEMANTIC_DEFAULTS: SemanticSettings = Object.freeze({
  threshold: 0.82,
  swapThreshold: 0.96,
  maxSwappedWords: 1,
  secondStage: true,
  candidates: 3,
  maxEntriesPerPartition: 50_000,
  maxEntries: 50_000,
  maxTextChars: 2_000,
});

/** Whether a request may be served a stored prompt's answer, and why not. */
export interface MatchDecision {
  readonly accept: boolean;
  readonly reason: 'accepted' | 'below-threshold' | 'swap-below-threshold' | MatchRule;
  readonly detail?: string;
}

/**
 * The one decision rule, shared by the matcher and the evaluation: similarity ≥ `threshold`, then the second
 * stage, and a higher bar (`swapThreshold`) when it found a topic word swapped for another outside a verb's place.
 */
export function decide(
  similarity: number,
  queryText: string,
  candidateText: string,
  settings: SemanticSettings = SEMANTIC_DEFAULTS,
): MatchDecision {
  if (!(similarity >= settings.threshold)) return { accept: false, reason: 'below-threshold' };
  if (!settings.secondStage) return { accept: true, reason: 'accepted' };
  const verdict = confirmMatch(queryText, candidateText, { maxSwappedWords: settings.maxSwappedWords });
  if (!verdict.accept) return verdict;
  if ((verdict.swappedWords ?? 0) > 0 && !verdict.swappedVerbs && similarity < settings.swapThreshold) {
    return { accept: false, reason: 'swap-below-threshold' };
  }
  return verdict;
}

/** One remembered prompt as replicas share it: where it belongs, what it said, its vector, its expiry. */
export interface SharedPrompt {
  /** The tenant partition (for a purge). */
  readonly tenant: string;
  readonly partition: string;
  /** The exact-cache digest of its answer. */
  readonly id: string;
  readonly text: string;
  readonly vector: Float32Array;
  /** Epoch ms after which the answer is gone (the prompt goes with it). */
  readonly expiresAt: number;
}

export interface SemanticHit {
  /** The stored entry's id (the caller's cache key for its answer). */
  readonly id: string;
  readonly similarity: number;
}

export interface SemanticLookup {
  readonly hit: SemanticHit | undefined;
  /** The query's vector, to `remember` on a miss without embedding twice; undefined when not embedded. */
  readonly vector: Float32Array | undefined;
  /** Candidates above the threshold that the second stage turned down, for logs and metrics. */
  readonly rejected: ReadonlyArray<SemanticHit & { readonly reason: MatchDecision['reason'] }>;
}

export interface SemanticMatcherOptions {
  readonly embedder: Embedder;
  readonly settings?: SemanticSettings;
  /** Told when an entry is evicted to respect a bound, so the caller can drop its stored answer. */
  readonly onEvict?: (partition: string, id: string) => void;
}

const entryKey = (partition: string, id: string) => `${partition}\u0000${id}`;

/**
 * The semantic cache's matching brain: embeds a prompt, finds the nearest stored prompts of the same partition,
 * and accepts one only through `decide`. It stores prompts and ids, never answers: the caller keeps those.
 */
export class SemanticMatcher {
  readonly settings: SemanticSettings;
  readonly #embedder: Embedder;
  readonly #index: VectorIndex;
  /** The stored prompt texts, for the second stage. */
  readonly #texts = new Map<string, string>();

  constructor(options: SemanticMatcherOptions) {
    this.settings = options.settings ?? SEMANTIC_DEFAULTS;
    this.#embedder = options.embedder;
    this.#index = new VectorIndex({
      dimensions: options.embedder.dimensions,
      maxEntriesPerPartition: this.settings.maxEntriesPerPartition,
      maxEntries: this.settings.maxEntries,
      onEvict: (partition, id) => {
        this.#texts.delete(entryKey(partition, id));
        options.onEvict?.(partition, id);
      },
    });
  }

  /** Entries stored in all partitions. */
  get size(): number {
    return this.#index.size;
  }

  /** The stored prompt of `partition` whose answer also answers `text`, if any. */
  async lookup(partition: string, text: string): Promise<SemanticLookup> {
    if (text.length > this.settings.maxTextChars) return { hit: undefined, vector: undefined, rejected: [] };
    const [vector] = await this.#embedder.embed([text]);
    const rejected: Array<SemanticHit & { reason: MatchDecision['reason'] }> = [];
    const candidates = this.#index.search(partition, vector!, {
      k: this.settings.candidates,
      minSimilarity: this.settings.threshold,
    });
    for (const candidate of candidates) {
      const stored = this.#texts.get(entryKey(partition, candidate.id));
      if (stored === undefined) continue;
      const decision = decide(candidate.similarity, text, stored, this.settings);
      if (decision.accept) {
        this.#index.touch(partition, candidate.id);
        return { hit: candidate, vector, rejected };
      }
      rejected.push({ ...candidate, reason: decision.reason });
    }
    return { hit: undefined, vector, rejected };
  }

  /** Stores `text` under `id` in `partition` (embedding it unless `vector` from `lookup` is given). */
  async remember(partition: string, id: string, text: string, vector?: Float32Array): Promise<void> {
    if (text.length > this.settings.maxTextChars) return;
    const embedded = vector ?? (await this.#embedder.embed([text]))[0]!;
    this.#texts.set(entryKey(partition, id), text);
    this.#index.add(partition, id, embedded);
  }

  /** The vector `remember` would store for `text` (to share it with other replicas), or undefined past `maxTextChars`. */
  async vectorOf(text: string): Promise<Float32Array | undefined> {
    if (text.length > this.settings.maxTextChars) return undefined;
    const [vector] = await this.#embedder.embed([text]);
    return vector;
  }

  /** Forgets one entry (its answer expired or was purged). */
  forget(partition: string, id: string): void {
    this.#texts.delete(entryKey(partition, id));
    this.#index.remove(partition, id);
  }

  /**
   * Moves every vector now to where its partition's size wants it (exact rows or an HNSW graph), which the index
   * otherwise does in the background a few milliseconds at a time: for tests and benchmarks.
   */
  settle(): void {
    this.#index.settle();
  }

  /** Forgets every partition whose key starts with `prefix` (a tenant's purge); returns the entries removed. */
  clear(prefix: string): number {
    for (const key of this.#texts.keys()) if (key.startsWith(prefix)) this.#texts.delete(key);
    return this.#index.clear(prefix);
  }
}
