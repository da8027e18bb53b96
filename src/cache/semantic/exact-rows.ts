/** A stored vector close to the query: its id and cosine similarity (−1…1). */
export interface Neighbour {
  readonly id: string;
  readonly similarity: number;
}

/** What holds a partition's vectors: exact rows (`ExactRows`) or an HNSW graph (`hnsw-graph.ts`). */
export interface VectorHolder {
  /** Vectors stored. */
  readonly size: number;
  /** Vector slots allocated (stored, free, or deleted and not yet reused): what the holder costs in memory. */
  readonly capacity: number;
  /** Stores the unit vector `vector` under `id`, which the holder must not have yet. */
  put(id: string, vector: Float32Array): void;
  delete(id: string): boolean;
  /** A copy of `id`'s stored vector (to move it to another holder). */
  vectorOf(id: string): Float32Array;
  /** Some stored id (the next to move), or undefined when empty. */
  anyId(): string | undefined;
  /** Up to `k` stored vectors most similar to the unit vector `query`, at or above `minSimilarity`, best first. */
  search(query: Float32Array, k: number, minSimilarity: number): Neighbour[];
}

/** Rows allocated when a holder is created, and never fewer after shrinking. */
const minimumRows = 4;

/**
 * Vectors as rows of one contiguous `Float32Array`, searched exactly by a linear scan (≈ 0.5 µs per 512-dimension
 * row on this project's machine). Removal moves the last row into the hole; the array doubles when full and
 * halves when three quarters are unused, so its memory follows what it holds.
 */
export class ExactRows implements VectorHolder {
  #rows: Float32Array;
  readonly #ids: string[] = [];
  readonly #slots = new Map<string, number>();

  constructor(readonly dimensions: number) {
    this.#rows = new Float32Array(dimensions * minimumRows);
  }

  get size(): number {
    return this.#ids.length;
  }

  get capacity(): number {
    return this.#rows.length / this.dimensions;
  }

  put(id: string, vector: Float32Array): void {
    if (this.#slots.has(id)) throw new Error(`ExactRows already holds ${id}`);
    const slot = this.#ids.length;
    if ((slot + 1) * this.dimensions > this.#rows.length) this.#resize(this.capacity * 2);
    this.#ids.push(id);
    this.#slots.set(id, slot);
    this.#rows.set(vector, slot * this.dimensions);
  }

  delete(id: string): boolean {
    const slot = this.#slots.get(id);
    if (slot === undefined) return false;
    this.#slots.delete(id);
    const last = this.#ids.length - 1;
    const { dimensions } = this;
    if (slot !== last) {
      const moved = this.#ids[last]!;
      this.#ids[slot] = moved;
      this.#slots.set(moved, slot);
      this.#rows.copyWithin(slot * dimensions, last * dimensions, (last + 1) * dimensions);
    }
    this.#ids.pop();
    if (this.capacity > minimumRows && this.#ids.length * 4 < this.capacity) this.#resize(this.capacity / 2);
    return true;
  }

  vectorOf(id: string): Float32Array {
    const slot = this.#slots.get(id);
    if (slot === undefined) throw new Error(`ExactRows does not hold ${id}`);
    return this.#rows.slice(slot * this.dimensions, (slot + 1) * this.dimensions);
  }

  /** The last row's id: moving it out costs no row copy. */
  anyId(): string | undefined {
    return this.#ids.at(-1);
  }

  search(query: Float32Array, k: number, minSimilarity: number): Neighbour[] {
    const found: Neighbour[] = [];
    const rows = this.#rows;
    const { dimensions } = this;
    for (let slot = 0, base = 0; slot < this.#ids.length; slot++, base += dimensions) {
      const dot = dotAt(rows, base, query);
      if (dot < minSimilarity) continue;
      if (found.length === k && dot <= found[k - 1]!.similarity) continue;
      let at = found.length === k ? k - 1 : found.length;
      while (at > 0 && found[at - 1]!.similarity < dot) {
        found[at] = found[at - 1]!;
        at--;
      }
      found[at] = { id: this.#ids[slot]!, similarity: dot };
    }
    return found;
  }

  #resize(rows: number): void {
    const resized = new Float32Array(Math.max(minimumRows, rows) * this.dimensions);
    resized.set(this.#rows.subarray(0, this.#ids.length * this.dimensions));
    this.#rows = resized;
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
