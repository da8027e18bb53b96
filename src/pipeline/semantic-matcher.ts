import { type Embedder, providerEmbedder } from '../cache/semantic/embedder.ts';
import { SEMANTIC_DEFAULTS, SemanticMatcher } from '../cache/semantic/semantic-matcher.ts';
import { WorkerEmbedder } from '../cache/semantic/worker-embedder.ts';
import type { Config } from '../config/schema.ts';

/**
 * The semantic cache's matcher as the gateway runs it: the local model on its own thread (never on the event
 * loop), or a routed model's embeddings through `embed` (`cache.semantic.embedder`); the shipped settings
 * (docs/semantic-cache.md) with the configured threshold, if any.
 */
export function openSemanticMatcher(
  settings: Config['cache']['semantic'],
  embed?: (texts: string[]) => Promise<number[][]>,
): {
  readonly matcher: SemanticMatcher;
  /** Stops the embedding thread (at shutdown). */
  close(): Promise<void>;
} {
  const local = settings.embedder === 'local' ? new WorkerEmbedder() : undefined;
  let embedder: Embedder;
  if (local !== undefined) embedder = local;
  else {
    if (embed === undefined || settings.dimensions === undefined) {
      throw new Error(
        'cache.semantic.embedder names a model: set cache.semantic.dimensions (SEMANTIC_CACHE_DIMENSIONS) too',
      );
    }
    embedder = providerEmbedder({ name: settings.embedder, dimensions: settings.dimensions, embed });
  }
  const matcher = new SemanticMatcher({
    embedder,
    settings:
      settings.threshold === undefined
        ? SEMANTIC_DEFAULTS
        : { ...SEMANTIC_DEFAULTS, threshold: settings.threshold },
  });
  return { matcher, close: async () => local?.close() };
}
