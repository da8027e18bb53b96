import { parentPort } from 'node:worker_threads';
import { LocalEmbedder } from './local-embedder.ts';

/** The embedding thread of `WorkerEmbedder`: embeds each batch it is sent with the local model. */
const embedder = new LocalEmbedder();
parentPort?.on('message', async ({ id, texts }: { id: number; texts: string[] }) => {
  try {
    const vectors = texts.length === 0 ? (await embedder.load(), []) : await embedder.embed(texts);
    parentPort?.postMessage({ id, vectors });
  } catch (error) {
    parentPort?.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
