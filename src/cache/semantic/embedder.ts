/**
 * What the semantic cache needs from an embedding model: texts in, one unit-length vector per text out, in
 * order. Two shapes ship: the local offline model (`local-embedder.ts`) and a thin adapter over a provider's
 * embeddings endpoint (`providerEmbedder` below).
 */
export interface Embedder {
  /** Names the model, so vectors of different embedders are never compared (part of a cache's partition). */
  readonly name: string;
  /** Length of every vector `embed` returns. */
  readonly dimensions: number;
  /** One unit-length vector per text, in the order of `texts`. */
  embed(texts: string[]): Promise<Float32Array[]>;
}

/** Scales `vector` to unit length in place and returns it; a zero vector stays zero. */
export function normalize(vector: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
  if (sum === 0) return vector;
  const scale = 1 / Math.sqrt(sum);
  for (let i = 0; i < vector.length; i++) vector[i]! *= scale;
  return vector;
}

/** Converts an embedding model's raw output to unit vectors, checking count and length. */
export function toUnitVectors(name: string, dimensions: number, texts: number, raw: ArrayLike<number>[]) {
  if (raw.length !== texts) {
    throw new Error(`embedder ${name} returned ${raw.length} vectors for ${texts} texts`);
  }
  return raw.map((values, index) => {
    if (values.length !== dimensions) {
      throw new Error(`embedder ${name}: vector ${index} has ${values.length} dimensions, not ${dimensions}`);
    }
    return normalize(Float32Array.from(values));
  });
}

export interface ProviderEmbedderOptions {
  /** The provider and model, e.g. `openai/text-embedding-3-small`. */
  readonly name: string;
  readonly dimensions: number;
  /** Calls the provider's embeddings endpoint: one vector per text, in order. */
  readonly embed: (texts: string[]) => Promise<number[][]>;
}

/**
 * An `Embedder` over a configured provider's `/v1/embeddings`, called through `options.embed` (the gateway
 * supplies it). A reply with the wrong count or length is an error, never a silently wrong vector.
 */
export function providerEmbedder(options: ProviderEmbedderOptions): Embedder {
  const { name, dimensions } = options;
  return {
    name,
    dimensions,
    async embed(texts) {
      if (texts.length === 0) return [];
      return toUnitVectors(name, dimensions, texts.length, await options.embed(texts));
    },
  };
}
