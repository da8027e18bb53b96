import type { ProviderRegistry } from '../providers/registry.ts';
import type { ProviderInstance } from '../providers/types.ts';
import type { ProviderKeys } from '../tenancy/provider-key-cipher.ts';
import type { Principal } from './request.ts';
import type { OwnInstances } from './resolve-model.ts';

const none: OwnInstances = new Map();

/** Built once per loaded set of a project's keys (the key directory replaces the object when they change). */
const built = new WeakMap<ProviderKeys, OwnInstances>();

/**
 * The provider instances a caller brings (seed 004: a project's own `openaiKey` / `anthropicKey`), which serve
 * its traffic to those providers in place of the gateway's keys. Empty for the master key, an open gateway,
 * and projects without keys of their own. The instances are built once per loaded set of keys, so their ids
 * (`openai@proj_…`) and the circuits and health numbers kept under them last across requests.
 */
export function ownInstances(principal: Principal | undefined, registry: ProviderRegistry): OwnInstances {
  if (principal?.kind !== 'key') return none;
  const { providerKeys, projectId } = principal.key;
  if (providerKeys === null || projectId === null) return none;
  let instances = built.get(providerKeys);
  if (instances === undefined) {
    const byProvider = new Map<string, ProviderInstance>();
    for (const [providerId, apiKey] of Object.entries(providerKeys)) {
      if (typeof apiKey !== 'string' || apiKey === '') continue;
      const instance = registry.ownInstance(providerId, projectId, apiKey);
      if (instance !== undefined) byProvider.set(providerId, instance);
    }
    instances = byProvider.size === 0 ? none : byProvider;
    built.set(providerKeys, instances);
  }
  return instances;
}
