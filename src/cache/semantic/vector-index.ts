import { normalize } from './embedder.ts';

/** A stored vector close to the query: its id and cosine similarity (−1…1). */
export interface Neighbour {
  readonly id: string;
  readonly similarity: number;
}

export interface VectorIndexOptions {
  /** Length of every vector. */
  readonly dimensions: number;
  /** Entries kept per partition; adding past it evicts the partition's least recently used entry. */
  readonly maxEntriesPerPartition: number;
  /** Entries kept in all partitions together; past it the least recently used entry anywhere goes. */
  readonly maxEntries: number;
  /** Called for every entry evicted to respect a bound (not for `remove` or `clear`). */
  readonly onEvict?: (partition: string, id: string) => void;
}

/** One partition's vectors, row `slot` of `rows`; removal moves the last row into the hole. */
class Partition {
  rows: Float32Array;
  ids: string[] = [];
  /** id → slot, in least-recently-used-first order (a touch moves the id to the end). */
  readonly slots = new Map<string, number>();

  constructor(readonly dimensions: number) {
    this.rows = new Float32Array(dimensions * 16);
  }

  get size(): number {
    return this.ids.length;
  }

  put(id: string, vector: Float32Array): void {
    const existing = this.slots.get(id);
    const slot = existing ?? this.ids.length;
    if (existing === undefined) {
      if ((slot + 1) * this.dimensions > this.rows.length) {
        const grown = new Float32Array(this.rows.length * 2);
        grown.set(this.rows);
        this.rows = grown;
      }
      this.ids.push(id);
    } else {
      this.slots.delete(id);
    }
    this.slots.set(id, slot);
    this.rows.set(vector, slot * this.dimensions);
  }

  touch(id: string): boolean {
    const slot = this.slots.get(id);
    if (slot === undefined) return false;
    this.slots.delete(id);
    this.slots.set(id, slot);
    return true;
  }

  delete(id: string): boolean {
    const slot = this.slots.get(id);
    if (slot === undefined) return false;
    this.slots.delete(id);
    const last = this.ids.length - 1;
    if (slot !== last) {
      const moved = this.ids[last]!;
      this.ids[slot] = moved;
      this.slots.set(moved, slot);
      this.rows.copyWithin(slot * this.dimensions, last * this.dimensions, (last + 1) * this.dimensions);
    }
    this.ids.pop();
    return true;
  }

  oldest(): string | undefined {
    return this.slots.keys().next().value;
  }

  /** The `k` rows most similar to the unit vector `query` at or above `minSimilarity`, best first. */
  search(query: Float32Array, k: number, minSimilarity: number): Neighbour[] {
    const found: Neighbour[] = [];
    const { rows, dimensions } = this;
    for (let slot = 0, base = 0; slot < this.ids.length; slot++, base += dimensions) {
      const dot = dotAt(rows, base, query);
      if (dot < minSimilarity) continue;
      if (found.length === k && dot <= found[k - 1]!.similarity) continue;
      let at = found.length === k ? k - 1 : found.length;
      while (at > 0 && found[at - 1]!.similarity < dot) {
        found[at] = found[at - 1]!;
        at--;
      }
      found[at] = { id: this.ids[slot]!, similarity: dot };
    }
    return found;
  }
}

/**
 * `rows[base…base + query.length)` · `query`. Four accumulators, because V8 does not vectorise: the
 * dependent chain of one sum is the bottleneck, and four independent sums scan ≈ 1.7× faster.
 */
function dotAt(rows: Float32Array, base: number, query: Float32Array): number {
  const length = query.length;
  const whole = length - (length % 4);
  let d0 = 0;
  let d1 = 0;
  let d2 = 0;
  let d3 = 0;
  let i = 0;
  for (; i < whole; i += 4) {
    d0 += rows[base + i]! * query[i]!;
    d1 += rows[base + i + 1]! * query[i + 1]!;
    d2 += rows[base + i + 2]! * query[i + 2]!;
    d3 += rows[base + i + 3]! * query[i + 3]!;
  }
  for (; i < length; i++) d0 += rows[base + i]! * query[i]!;
  return d0 + d1 + d2 + d3;
}

/** Joins a partition and an id into one key of the global recency list; NUL appears in neither in practice. */
const entryKey = (partition: string, id: string) => `${partition}\u0000${id}`;

/**
 * Exact cosine search over unit vectors, kept apart per hard partition: a query only ever sees vectors of its
 * own partition (the caller's opaque key: tenant, model, system prompt, tools, answer-changing parameters).
 * Bounded per partition and in total, least recently used first out. A search is a linear scan of one
 * partition: ≈ 1 ms per 2,000 entries of 512 dimensions on this machine (docs/semantic-cache.md), which is
 * why the per-partition bound matters.
 */
export class VectorIndex {
  readonly #options: VectorIndexOptions;
  readonly #partitions = new Map<string, Partition>();
  /** Every entry as `entryKey` → its partition and id, least recently used first. */
  readonly #recency = new Map<string, readonly [string, string]>();

  constructor(options: VectorIndexOptions) {
    if (!(options.maxEntriesPerPartition >= 1 && options.maxEntries >= 1 && options.dimensions >= 1)) {
      throw new RangeError('VectorIndex bounds and dimensions must be at least 1');
    }
    this.#options = options;
  }

  /** Entries in all partitions. */
  get size(): number {
    return this.#recency.size;
  }

  /** Entries in one partition. */
  sizeOf(partition: string): number {
    return this.#partitions.get(partition)?.size ?? 0;
  }

  /** Stores (or replaces) `id`'s vector in `partition`, a unit-length copy; evicts to stay within bounds. */
  add(partition: string, id: string, vector: Float32Array): void {
    const unit = normalize(Float32Array.from(this.#checked(vector)));
    let rows = this.#partitions.get(partition);
    if (rows === undefined) {
      rows = new Partition(this.#options.dimensions);
      this.#partitions.set(partition, rows);
    }
    if (!rows.slots.has(id) && rows.size >= this.#options.maxEntriesPerPartition) {
      this.#evict(partition, rows.oldest()!);
    }
    rows.put(id, unit);
    const key = entryKey(partition, id);
    this.#recency.delete(key);
    this.#recency.set(key, [partition, id]);
    while (this.#recency.size > this.#options.maxEntries) {
      const [oldestPartition, oldestId] = this.#recency.values().next().value!;
      this.#evict(oldestPartition, oldestId);
    }
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
    if (!this.#partitions.get(partition)?.touch(id)) return false;
    const key = entryKey(partition, id);
    this.#recency.delete(key);
    this.#recency.set(key, [partition, id]);
    return true;
  }

  /** Removes one entry; false when it was not there. */
  remove(partition: string, id: string): boolean {
    const rows = this.#partitions.get(partition);
    if (!rows?.delete(id)) return false;
    this.#recency.delete(entryKey(partition, id));
    if (rows.size === 0) this.#partitions.delete(partition);
    return true;
  }

  /** Removes every partition whose key starts with `prefix` ('' clears all); returns the entries removed. */
  clear(prefix: string): number {
    let removed = 0;
    for (const [partition, rows] of this.#partitions) {
      if (!partition.startsWith(prefix)) continue;
      for (const id of rows.ids) this.#recency.delete(entryKey(partition, id));
      removed += rows.size;
      this.#partitions.delete(partition);
    }
    return removed;
  }

  #evict(partition: string, id: string): void {
    this.remove(partition, id);
    this.#options.onEvict?.(partition, id);
  }

  #checked(vector: Float32Array): Float32Array {
    if (vector.length !== this.#options.dimensions) {
      throw new RangeError(`vector has ${vector.length} dimensions, the index ${this.#options.dimensions}`);
    }
    return vector;
  }
}
