// Shared by the semantic benchmarks (eval.ts, fit-stage.ts): reading labelled pairs and embedding texts with
// the local model, cached under the OS temp dir (keyed by the embedder and the texts), so a second run takes
// seconds. The data stays outside the repository (research use only).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalEmbedder } from '../../src/cache/semantic/local-embedder.ts';
import type { Pair } from './score.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The dev pairs: `--data FILE` among `args`, or ../shared/data/semantic-cache-dev.jsonl from the repository root. */
export function dataPathOf(args: readonly string[]): string {
  const at = args.indexOf('--data');
  return at >= 0 ? resolve(args[at + 1] ?? '') : resolve(root, '../shared/data/semantic-cache-dev.jsonl');
}

export function readPairs(path: string): Pair[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, index) => {
      const value = JSON.parse(line) as Partial<Pair>;
      if (
        typeof value.a !== 'string' ||
        typeof value.b !== 'string' ||
        typeof value.duplicate !== 'boolean'
      ) {
        throw new Error(`${path}:${index + 1}: expected {a: string, b: string, duplicate: boolean}`);
      }
      return { a: value.a, b: value.b, duplicate: value.duplicate };
    });
}

/** Every distinct text's unit vector, from the temp-dir cache when the same texts were embedded before. */
export async function embedAll(texts: string[], useCache = true): Promise<Map<string, Float32Array>> {
  const embedder = new LocalEmbedder();
  const key = createHash('sha256').update(embedder.name).update('\u0000').update(texts.join('\u0000'));
  const cacheFile = join(tmpdir(), 'nexus-semantic-eval', `${key.digest('hex').slice(0, 32)}.f32`);
  const dimensions = embedder.dimensions;
  let flat: Float32Array | undefined;
  if (useCache) {
    try {
      const bytes = readFileSync(cacheFile);
      flat = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      if (flat.length !== texts.length * dimensions) flat = undefined;
    } catch {}
  }
  if (flat === undefined) {
    const started = performance.now();
    await embedder.load();
    const loadMs = performance.now() - started;
    flat = new Float32Array(texts.length * dimensions);
    const batch = 64;
    const embedStarted = performance.now();
    for (let from = 0; from < texts.length; from += batch) {
      const vectors = await embedder.embed(texts.slice(from, from + batch));
      for (const [offset, vector] of vectors.entries()) flat.set(vector, (from + offset) * dimensions);
      process.stderr.write(`\rembedded ${Math.min(from + batch, texts.length)}/${texts.length}`);
    }
    const perText = (performance.now() - embedStarted) / texts.length;
    process.stderr.write(`\n`);
    console.log(
      `embedder ${embedder.name}: load ${loadMs.toFixed(0)} ms, ${perText.toFixed(1)} ms per text (batches of ${batch})`,
    );
    if (useCache) {
      mkdirSync(join(tmpdir(), 'nexus-semantic-eval'), { recursive: true });
      writeFileSync(cacheFile, flat);
    }
  } else {
    console.log(`embeddings from ${cacheFile}`);
  }
  return new Map(texts.map((text, i) => [text, flat!.subarray(i * dimensions, (i + 1) * dimensions)]));
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot;
}
