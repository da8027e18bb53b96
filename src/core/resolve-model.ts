import { findModel, findModelsById } from '../catalog/load.ts';
import type { Catalog } from '../catalog/types.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { ProviderInstance, UpstreamTarget } from '../providers/types.ts';
import { NexusError } from './errors.ts';

/**
 * The route stage: turns the `model` a client asked for into an instance and the provider's own model id.
 * Accepted forms, tried in order:
 *  1. a configured alias (`fast` → `groq/llama-3.1-8b-instant`), resolved once;
 *  2. `auto`: the first configured provider's default model;
 *  3. an instance name (`"Groq (Key #1)"`): pins that instance, with its provider's default model;
 *  4. `provider/model` with a catalogue provider id (the model part may be anything the provider serves);
 *  5. a bare catalogued id or alias (OpenRouter-style ids containing `/` included), served by the first
 *     configured provider that lists it.
 * Anything else is `model_not_found` (404), or `unknown_provider` (400) when it looks like `provider/model`.
 */
export interface ModelResolver {
  resolve(requested: string, mode: 'chat' | 'embedding'): UpstreamTarget;
}

export interface ResolverOptions {
  readonly catalog: Catalog;
  readonly registry: ProviderRegistry;
  readonly aliases: Readonly<Record<string, string>>;
}

export function createModelResolver(options: ResolverOptions): ModelResolver {
  const { catalog, registry, aliases } = options;

  const target = (instance: ProviderInstance, model: string): UpstreamTarget => ({
    instance,
    model,
    modelSpec: findModel(catalog, instance.provider.id, model),
  });

  const firstInstance = (providerId: string, requested: string): ProviderInstance => {
    const instance = registry.instancesOf(providerId)[0];
    if (instance !== undefined) return instance;
    const reason = registry.unavailable.get(providerId);
    const provider = catalog.providers.get(providerId);
    const envName = `${providerId.toUpperCase().replaceAll('-', '_')}_API_KEY`;
    const how = provider?.requiresApiKey === false ? `${envName.replace('_API_KEY', '_BASE_URL')}` : envName;
    throw new NexusError(
      'provider_not_configured',
      reason !== undefined
        ? `Model '${requested}' needs provider '${providerId}', but ${reason}.`
        : `Model '${requested}' needs provider '${providerId}', which is not configured (set ${how}). Configured: ${configuredList(registry)}.`,
      { param: 'model' },
    );
  };

  const defaultModelOf = (
    instance: ProviderInstance,
    requested: string,
    mode: 'chat' | 'embedding',
  ): string => {
    const spec = instance.provider.defaultModel;
    const fallback = catalog.models.find(
      (model) => model.provider === instance.provider.id && model.mode === mode,
    );
    const chosen = mode === 'chat' && spec !== null ? spec : fallback?.id;
    if (chosen === undefined) {
      throw new NexusError('model_not_found', `'${requested}' has no default ${mode} model.`, {
        param: 'model',
      });
    }
    return chosen;
  };

  return {
    resolve(requested, mode) {
      const name = aliases[requested] ?? requested;
      if (name === 'auto') {
        const instance = registry.instances[0];
        if (instance === undefined)
          throw new NexusError('provider_not_configured', 'No provider is configured.');
        return target(instance, defaultModelOf(instance, name, mode));
      }
      const pinned = registry.instanceByName(name);
      if (pinned !== undefined) return target(pinned, defaultModelOf(pinned, name, mode));

      const slash = name.indexOf('/');
      if (slash > 0) {
        const providerId = name.slice(0, slash).toLowerCase();
        const model = name.slice(slash + 1);
        if (catalog.providers.has(providerId) && model !== '') {
          const instance = firstInstance(providerId, name);
          return target(instance, findModel(catalog, providerId, model)?.id ?? model);
        }
      }
      const candidates = findModelsById(catalog, name);
      for (const candidate of candidates) {
        const instance = registry.instancesOf(candidate.provider)[0];
        if (instance !== undefined) return target(instance, candidate.id);
      }
      const [first] = candidates;
      if (first !== undefined) firstInstance(first.provider, name);
      if (slash > 0) {
        throw new NexusError(
          'unknown_provider',
          `Unknown provider '${name.slice(0, slash)}' in model '${name}'. Known providers: ${[...catalog.providers.keys()].join(', ')}.`,
          { param: 'model' },
        );
      }
      throw new NexusError(
        'model_not_found',
        `The model '${name}' does not exist in the catalogue. Use 'provider/model' to reach an uncatalogued model, or GET /v1/models for the list.`,
        { param: 'model' },
      );
    },
  };
}

function configuredList(registry: ProviderRegistry): string {
  const ids = [...new Set(registry.instances.map((instance) => instance.provider.id))];
  return ids.length === 0 ? 'none' : ids.join(', ');
}
