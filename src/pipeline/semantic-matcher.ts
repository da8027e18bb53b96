import { SEMANTIC_DEFAULTS, SemanticMatcher } from '../cache/semantic/semantic-matcher.ts';
import { WorkerEmbedder } from '../cache/semantic/worker-embedder.ts';
import type { Config } from '../config/schema.ts';

/**
 * The semantic cache's matcher as the gateway runs it: the local model on its own thread (never on the event
 * loop), the shipped settings (docs/semantic-cache.md) with the configured threshold, if any.
 */
export function openSemanticMatcher(settings: Config['cache']['semantic']): {
  readonly matcher: SemanticMatcher;
  /** Stops the embedding thread (at shutdown). */
  close(): Promise<void>;
} {
  const embedder = new WorkerEmbedder();
  const matcher = new SemanticMatcher({
    embedder,
    settings:
      settings.threshold === undefined
        ? SEMANTIC_DEFAULTS
        : { ...SEMANTIC_DEFAULTS, threshold: settings.threshold },
  });
  return { matcher, close: () => embedder.close() };
}
