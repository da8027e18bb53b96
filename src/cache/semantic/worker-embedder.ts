import { Worker } from 'node:worker_threads';
import type { Embedder } from './embedder.ts';

/** A request to the embedding thread and its answer. */
interface Job {
  readonly id: number;
  readonly texts: string[];
}
type Answer =
  | { readonly id: number; readonly vectors: Float32Array[] }
  | { readonly id: number; readonly error: string };

/**
 * The local embedder on a thread of its own: one embedding takes about 25 ms of CPU (docs/semantic-cache.md),
 * which on the gateway's event loop would hold every other request up for that long. Texts asked for while the
 * thread is busy are sent together as one batch (several texts per call cost less each). The thread starts on
 * the first call, loads the model there, and is unref'd, so it never keeps the process alive.
 */
export class WorkerEmbedder implements Embedder {
  readonly name = 'local/universal-sentence-encoder-lite';
  readonly dimensions = 512;
  #worker: Worker | undefined;
  #nextId = 0;
  readonly #pending = new Map<
    number,
    { resolve: (vectors: Float32Array[]) => void; reject: (error: Error) => void }
  >();
  /** Texts waiting for the thread while it works on a batch. */
  #queue: Array<{ text: string; resolve: (vector: Float32Array) => void; reject: (error: Error) => void }> =
    [];
  #busy = false;

  async embed(texts: string[]): Promise<Float32Array[]> {
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
          batch.forEach((item, index) => item.resolve(vectors[index]!));
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
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ id, texts } satisfies Job);
    });
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const script = new URL(
      `./embed-thread${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
      import.meta.url,
    );
    const worker = new Worker(script);
    worker.unref();
    worker.on('message', (answer: Answer) => {
      const waiting = this.#pending.get(answer.id);
      if (waiting === undefined) return;
      this.#pending.delete(answer.id);
      if ('error' in answer) waiting.reject(new Error(answer.error));
      else waiting.resolve(answer.vectors);
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

/** Most texts sent to the thread in one call. */
const maxBatch = 32;
