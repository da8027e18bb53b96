import { normalize } from './embedder.ts';
import { ExactRows, type Neighbour, type VectorHolder } from './exact-rows.ts';
import { HNSW_DEFAULTS, HnswGraph, type HnswSettings } from './hnsw-graph.ts';

export type { Neighbour } from './exact-rows.ts';

/**
 * Entries at which a partition moves to an HNSW graph (`npm run bench:semantic-lookup`, docs/semantic-cache.md).
 * An exact scan of 1,000 vectors of 512 dimensions took 0.7 / 0.9 ms (p50 / p99) on a busy 2-core machine, of
 * 2,000 1.7 / 3.7 ms, past the lookup's 2 ms budget. A graph search is faster from a few hundred entries on, but
 * each graph costs a fixed ≈ 2.6 MiB (hnswlib's lock table) and every vector a graph insert (0.3–1.5 ms of
 * background CPU), so small partitions stay exact.
 */
export const ANN_THRESHOLD = 1_000;

export interface VectorIndexOptions {
  /** Length of every vector. */
  readonly dimensions: number;
  /** Entries kept per partition; adding past it evicts the partition's least recently used entry. */
  readonly maxEntriesPerPartition: number;
  /** Entries kept in all partitions together; past it the least recently used entry anywhere goes. */
  readonly maxEntries: number;
  /** Called for every entry evicted to respect a bound (not for `remove` or `clear`). */
  readonly onEvict?: (partition: string, id: string) => void;
  /**
   * Entries at which a partition's vectors move into an HNSW graph (approximate search); they move back to exact
   * rows below half of it. Default `ANN_THRESHOLD`; `Infinity` keeps every partition exact.
   */
  readonly annThreshold?: number;
  /** The graphs' parameters; default `HNSW_DEFAULTS`. */
  readonly hnsw?: HnswSettings;
}

/** Where a partition's entries are: in exact rows, or in its HNSW graphs. */
export interface PartitionLayout {
  readonly exact: number;
  readonly graph: number;
}

/**
 * One partition's entries. Each lives in exactly one holder: `rows` (new entries, and all of them while the
 * partition is small), `graph`, or `draining` (an old graph being rebuilt into `graph`, because most of its
 * slots were deleted). A search asks every holder and merges, so it is right whatever is still being moved.
 */
class Partition {
  /** id → its holder, least recently used first (a touch moves the id to the end). */
  readonly recency = new Map<string, VectorHolder>();
  readonly rows: ExactRows;
  graph: HnswGraph | undefined;
  draining: HnswGraph | undefined;

  constructor(dimensions: number) {
    this.rows = new ExactRows(dimensions);
  }

  get size(): number {
    return this.recency.size;
  }

  get capacity(): number {
    return this.rows.capacity + (this.graph?.capacity ?? 0) + (this.draining?.capacity ?? 0);
  }

  search(query: Float32Array, k: number, minSimilarity: number): Neighbour[] {
    const found = this.rows.search(query, k, minSimilarity);
    for (const graph of [this.graph, this.draining]) {
      if (graph !== undefined && graph.size > 0) found.push(...graph.search(query, k, minSimilarity));
    }
    return found.length <= 1 ? found : found.sort((a, b) => b.similarity - a.similarity).slice(0, k);
  }

  /** Moves `id`'s vector from `from` to `to`, keeping its place in the recency order. */
  move(id: string, from: VectorHolder, to: VectorHolder): void {
    to.put(id, from.vectorOf(id));
    from.delete(id);
    this.recency.set(id, to);
  }
}

/** How long one background slice may move vectors before it yields to the event loop. */
const sliceMs = 2;

/** Joins a partition and an id into one key of the global recency list; NUL appears in neither in practice. */
const entryKey = (partition: string, id: string) => `${partition}\u0000${id}`;

/**
 * Cosine search over unit vectors, kept apart per hard partition: a query only ever sees vectors of its own
 * partition (the caller's opaque key: tenant, model, system prompt, tools, answer-changing parameters). Bounded
 * per partition and in total, least recently used first out.
 *
 * A small partition is searched exactly (a linear scan of its rows). Once it holds `annThreshold` entries, its
 * vectors move into an HNSW graph (hnswlib), searched approximately in well under a millisecond at 100,000
 * entries; it moves back to exact rows below half the threshold, and a graph whose slots are mostly deleted is
 * rebuilt. The moves run in the background, a few milliseconds at a time between other work (each vector costs
 * a graph insert, ≈ 0.5–1.5 ms), so `add` only ever appends a row: new vectors wait in the exact rows, searched
 * with the graph, until they are moved. `settle()` does all pending moves at once.
 */
export class VectorIndex {
  readonly #options: VectorIndexOptions;
  readonly #threshold: number;
  readonly #hnsw: HnswSettings;
  readonly #partitions = new Map<string, Partition>();
  /** Every entry as `entryKey` → its partition and id, least recently used first. */
  readonly #recency = new Map<string, readonly [string, string]>();
  /** Partitions with vectors to move. */
  readonly #moving = new Set<Partition>();
  #scheduled = false;

  constructor(options: VectorIndexOptions) {
    if (!(options.maxEntriesPerPartition >= 1 && options.maxEntries >= 1 && options.dimensions >= 1)) {
      throw new RangeError('VectorIndex bounds and dimensions must be at least 1');
    }
    this.#options = options;
    this.#threshold = Math.max(2, options.annThreshold ?? ANN_THRESHOLD);
    this.#hnsw = options.hnsw ?? HNSW_DEFAULTS;
  }

  /** Entries in all partitions. */
  get size(): number {
    return this.#recency.size;
  }

  /**
   * Vector slots allocated in all partitions (stored, free, or deleted and kept in a graph): what the vectors cost
   * in memory, ≈ 2 KiB each at 512 dimensions plus ≈ 0.4 KiB of links per graph slot (M 24), and a fixed ≈ 2.6 MiB
   * per graph, of which there are at most 2 × maxEntries / annThreshold. A small multiple of `maxEntries`: rows
   * halve when three quarters are free, and a graph is rebuilt once it has more deleted slots than live ones.
   */
  get capacity(): number {
    let slots = 0;
    for (const partition of this.#partitions.values()) slots += partition.capacity;
    return slots;
  }

  /** Entries in one partition. */
  sizeOf(partition: string): number {
    return this.#partitions.get(partition)?.size ?? 0;
  }

  /** How many of a partition's entries are in exact rows and how many in its graphs. */
  layoutOf(partition: string): PartitionLayout {
    const rows = this.#partitions.get(partition);
    if (rows === undefined) return { exact: 0, graph: 0 };
    return { exact: rows.rows.size, graph: rows.size - rows.rows.size };
  }

  /** Stores (or replaces) `id`'s vector in `partition`, a unit-length copy; evicts to stay within bounds. */
  add(partition: string, id: string, vector: Float32Array): void {
    const unit = normalize(Float32Array.from(this.#checked(vector)));
    const existing = this.#partitions.get(partition);
    const holder = existing?.recency.get(id);
    if (holder !== undefined) {
      holder.delete(id);
      existing!.recency.delete(id);
    } else if (existing !== undefined && existing.size >= this.#options.maxEntriesPerPartition) {
      this.#evict(partition, existing.recency.keys().next().value!);
    }
    // Looked up again: evicting the last entry of a partition (a bound of 1) drops it.
    let rows = this.#partitions.get(partition);
    if (rows === undefined) {
      rows = new Partition(this.#options.dimensions);
      this.#partitions.set(partition, rows);
    }
    rows.rows.put(id, unit);
    rows.recency.set(id, rows.rows);
    const key = entryKey(partition, id);
    this.#recency.delete(key);
    this.#recency.set(key, [partition, id]);
    while (this.#recency.size > this.#options.maxEntries) {
      const [oldestPartition, oldestId] = this.#recency.values().next().value!;
      this.#evict(oldestPartition, oldestId);
    }
    this.#wake(rows);
  }

  /** The most similar entry of `partition`, or undefined when it is empty. Does not count as a use. */
  nearest(partition: string, vector: Float32Array): Neighbour | undefined {
    return this.search(partition, vector, { k: 1 })[0];
  }

  /** Up to `k` (default 1) entries of `partition` at or above `minSimilarity`, most similar first. */
  search(
    partition: string,
    vector: Float32Array,
    options: { readonly k?: number; readonly minSimilarity?: number } = {},
  ): Neighbour[] {
    const query = normalize(Float32Array.from(this.#checked(vector)));
    const rows = this.#partitions.get(partition);
    const k = options.k ?? 1;
    if (rows === undefined || k < 1) return [];
    return rows.search(query, k, options.minSimilarity ?? Number.NEGATIVE_INFINITY);
  }

  /** Marks an entry as just used (a served hit), so it is evicted last. False when it is not stored. */
  touch(partition: string, id: string): boolean {
    const rows = this.#partitions.get(partition);
    const holder = rows?.recency.get(id);
    if (rows === undefined || holder === undefined) return false;
    rows.recency.delete(id);
    rows.recency.set(id, holder);
    const key = entryKey(partition, id);
    this.#recency.delete(key);
    this.#recency.set(key, [partition, id]);
    return true;
  }

  /** Removes one entry; false when it was not there. */
  remove(partition: string, id: string): boolean {
    const rows = this.#partitions.get(partition);
    const holder = rows?.recency.get(id);
    if (rows === undefined || holder === undefined) return false;
    holder.delete(id);
    rows.recency.delete(id);
    this.#recency.delete(entryKey(partition, id));
    if (rows.size === 0) {
      this.#partitions.delete(partition);
      this.#moving.delete(rows);
    } else {
      this.#wake(rows);
    }
    return true;
  }

  /** Removes every partition whose key starts with `prefix` ('' clears all); returns the entries removed. */
  clear(prefix: string): number {
    let removed = 0;
    for (const [partition, rows] of this.#partitions) {
      if (!partition.startsWith(prefix)) continue;
      for (const id of rows.recency.keys()) this.#recency.delete(entryKey(partition, id));
      removed += rows.size;
      this.#partitions.delete(partition);
      this.#moving.delete(rows);
    }
    return removed;
  }

  /** Does every pending move now (the background would do them a slice at a time). */
  settle(): void {
    for (const rows of this.#moving) {
      while (this.#step(rows, Number.POSITIVE_INFINITY));
      this.#moving.delete(rows);
    }
  }

  #evict(partition: string, id: string): void {
    this.remove(partition, id);
    this.#options.onEvict?.(partition, id);
  }

  /** Queues `rows` for the background when its vectors are not where its size wants them. */
  #wake(rows: Partition): void {
    if (!this.#needsMoves(rows)) return;
    this.#moving.add(rows);
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Unref'd: pending moves never keep a process alive, and a search is right before they are done.
    setImmediate(() => this.#slice()).unref();
  }

  #slice(): void {
    this.#scheduled = false;
    const deadline = performance.now() + sliceMs;
    for (const rows of this.#moving) {
      if (!this.#step(rows, deadline)) this.#moving.delete(rows);
      if (performance.now() >= deadline) break;
    }
    if (this.#moving.size > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#slice()).unref();
    }
  }

  #needsMoves(rows: Partition): boolean {
    const { graph, draining } = rows;
    if (graph === undefined) return draining !== undefined || rows.size >= this.#threshold;
    if (rows.size < this.#threshold / 2) return true;
    return draining !== undefined || rows.rows.size > 0 || this.#rebuildDue(graph);
  }

  /** A graph is rebuilt when most of its slots are deleted (memory), or when its labels are used up. */
  #rebuildDue(graph: HnswGraph): boolean {
    return graph.exhausted || graph.deletedSlots > Math.max(graph.size, this.#threshold);
  }

  /**
   * Moves vectors of `rows` toward where its size wants them until `deadline` (performance.now() ms); at least
   * one move per call. True while moves remain.
   */
  #step(rows: Partition, deadline: number): boolean {
    if (rows.size < this.#threshold / 2) {
      // Small again: back to exact rows (a few hundred vectors read out of the graphs).
      for (const graph of [rows.draining, rows.graph]) {
        while (graph !== undefined && graph.size > 0) {
          rows.move(graph.anyId()!, graph, rows.rows);
          if (performance.now() >= deadline) return true;
        }
      }
      rows.graph = undefined;
      rows.draining = undefined;
      return false;
    }
    if (rows.graph === undefined) {
      if (rows.draining === undefined && rows.size < this.#threshold) return false;
      rows.graph = this.#newGraph(rows.size);
    }
    if (rows.draining === undefined && this.#rebuildDue(rows.graph)) {
      rows.draining = rows.graph;
      rows.graph = this.#newGraph(rows.size);
    }
    const graph = rows.graph;
    for (;;) {
      const from = rows.draining !== undefined && rows.draining.size > 0 ? rows.draining : rows.rows;
      const id = from.anyId();
      if (id === undefined) break;
      rows.move(id, from, graph);
      if (rows.draining?.size === 0) rows.draining = undefined;
      if (performance.now() >= deadline) return this.#needsMoves(rows);
    }
    rows.draining = undefined;
    return false;
  }

  #newGraph(entries: number): HnswGraph {
    // Live entries stay within the partition's bound; deleted slots within max(live, threshold) (`#rebuildDue`,
    // checked before each run of moves into the graph, which deletes nothing from it).
    const limit = 2 * this.#options.maxEntriesPerPartition + this.#threshold;
    return new HnswGraph(this.#options.dimensions, Math.ceil(entries * 1.5), limit, this.#hnsw);
  }

  #checked(vector: Float32Array): Float32Array {
    if (vector.length !== this.#options.dimensions) {
      throw new RangeError(`vector has ${vector.length} dimensions, the index ${this.#options.dimensions}`);
    }
    return vector;
  }
}
