import hnswlib, { type HierarchicalNSW } from 'hnswlib-node';
import type { Neighbour, VectorHolder } from './exact-rows.ts';

/** How an HNSW graph is built and searched (hnswlib's parameters). */
export interface HnswSettings {
  /** Links per node (hnswlib's `M`): more finds near neighbours more surely, costs `M` × 8 bytes and insert time. */
  readonly m: number;
  /** Candidates weighed when a node is linked in: more builds a better graph, slower. */
  readonly efConstruction: number;
  /** Candidates kept while searching (at least `k`): more raises recall, costs search time. */
  readonly efSearch: number;
}

/**
 * Chosen at 100,000 entries of 512 dimensions (docs/semantic-cache.md, `npm run bench:semantic-lookup -- --sweep`):
 * every query whose true nearest is at or above the matcher's threshold found it (top-1 recall 1.0 on real
 * paraphrases and on synthetic near-duplicates, from efSearch 32 up; 48 leaves a margin). M 16 missed 2 of 324
 * near-duplicates at efSearch 64 and needed 96; efConstruction 200 doubled the insert time for no better recall.
 */
export const HNSW_DEFAULTS: HnswSettings = Object.freeze({ m: 24, efConstruction: 100, efSearch: 48 });

/** hnswlib-node takes labels as uint32: a graph that has used them all is rebuilt (`exhausted`). */
const lastLabel = 2 ** 32 - 1;

/**
 * An approximate nearest-neighbour graph (hnswlib's HNSW, inner product on unit vectors, so 1 − distance is the
 * cosine similarity) holding a partition's vectors when it is large. A deleted vector is only marked deleted: the
 * graph still walks through it but never returns it. Its slot is not reused: hnswlib's slot replacement repairs
 * the links of every neighbour and measured ten times the cost of a fresh insert (2.8 ms against 0.3 ms at 5,000
 * entries), so the owner rebuilds a graph once most of its slots are deleted instead (`deletedSlots`), which costs
 * about one insert per deletion. Slots grow by doubling, up to `limit`. Every insert takes a fresh label.
 */
export class HnswGraph implements VectorHolder {
  readonly #graph: HierarchicalNSW;
  readonly #labels = new Map<string, number>();
  readonly #ids = new Map<number, string>();
  #nextLabel = 0;
  #capacity: number;

  /**
   * @param capacity slots allocated at first (grown by doubling when full)
   * @param limit most slots ever allocated (live and deleted together)
   */
  constructor(
    readonly dimensions: number,
    capacity: number,
    readonly limit: number,
    settings: HnswSettings,
  ) {
    this.#capacity = Math.max(1, Math.min(capacity, limit));
    this.#graph = new hnswlib.HierarchicalNSW('ip', dimensions);
    this.#graph.initIndex({
      maxElements: this.#capacity,
      m: settings.m,
      efConstruction: settings.efConstruction,
      randomSeed: 100,
    });
    this.#graph.setEf(settings.efSearch);
  }

  get size(): number {
    return this.#labels.size;
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Slots of deleted vectors: walked through by a search (graph links), never returned, never reused. */
  get deletedSlots(): number {
    return this.#graph.getCurrentCount() - this.#labels.size;
  }

  /** Candidates kept while searching (`HnswSettings.efSearch`); changed by the benchmark's sweep. */
  set efSearch(ef: number) {
    this.#graph.setEf(ef);
  }

  /** True once the labels are used up: the graph must be rebuilt before it takes another vector. */
  get exhausted(): boolean {
    return this.#nextLabel >= lastLabel;
  }

  put(id: string, vector: Float32Array): void {
    if (this.#labels.has(id)) throw new Error(`HnswGraph already holds ${id}`);
    if (this.exhausted) throw new Error('HnswGraph has used every label: rebuild it');
    if (this.#graph.getCurrentCount() >= this.#capacity) {
      if (this.#capacity >= this.limit) throw new Error(`HnswGraph is full (${this.limit} slots)`);
      this.#capacity = Math.min(this.#capacity * 2, this.limit);
      this.#graph.resizeIndex(this.#capacity);
    }
    const label = this.#nextLabel++;
    this.#graph.addPoint(Array.from(vector), label);
    this.#labels.set(id, label);
    this.#ids.set(label, id);
  }

  delete(id: string): boolean {
    const label = this.#labels.get(id);
    if (label === undefined) return false;
    this.#graph.markDelete(label);
    this.#labels.delete(id);
    this.#ids.delete(label);
    return true;
  }

  vectorOf(id: string): Float32Array {
    const label = this.#labels.get(id);
    if (label === undefined) throw new Error(`HnswGraph does not hold ${id}`);
    return Float32Array.from(this.#graph.getPoint(label));
  }

  anyId(): string | undefined {
    return this.#labels.keys().next().value;
  }

  search(query: Float32Array, k: number, minSimilarity: number): Neighbour[] {
    if (this.#labels.size === 0) return [];
    const { distances, neighbors } = this.#graph.searchKnn(Array.from(query), Math.min(k, this.#labels.size));
    const found: Neighbour[] = [];
    for (const [index, label] of neighbors.entries()) {
      const similarity = 1 - distances[index]!;
      const id = this.#ids.get(label);
      // A label the graph returns is live (hnswlib skips deleted slots); the check costs nothing and keeps it so.
      if (id !== undefined && similarity >= minSimilarity) found.push({ id, similarity });
    }
    return found;
  }
}
