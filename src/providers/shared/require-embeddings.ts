import { NexusError } from '../../core/errors.ts';
import type { UpstreamTarget } from '../types.ts';

/**
 * Throws `unsupported_capability` unless the catalogue says the target's provider serves embeddings
 * (`quirks.supportsEmbeddings`): an adapter whose wire format has an embeddings endpoint asks this first.
 */
export function requireEmbeddings(target: UpstreamTarget): void {
  const provider = target.instance.provider;
  if (!provider.quirks.supportsEmbeddings) {
    throw new NexusError('unsupported_capability', `${provider.name} does not serve embeddings.`, {
      param: 'model',
    });
  }
}
