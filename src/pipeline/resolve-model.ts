import { findModel, findModelsById } from '../catalog/load.ts';
import type { Catalog } from '../catalog/types.ts';
import type { GroupConfig } from '../config/schema.ts';
import { NexusError } from '../core/errors.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { ProviderInstance, UpstreamTarget } from '../providers/types.ts';
import type { PlanStep, RoutePlan } from '../resilience/route-plan.ts';

/**
 * The plan stage's resolver: turns the `model` a client asked for into a plan of upstream targets. A name is, tried in
 * order:
 *  1. a model group (`groups:` in config): its weighted targets, then its fallbacks;
 *  2. a configured alias (`fast` → `groq/llama-3.1-8b-instant`), resolved once;
 *  3. `auto`: the first configured provider's default model;
 *  4. an instance name (`"Groq (Key #1)"`): pins that one instance, with its provider's default model;
 *  5. `provider/model` with a catalogue provider id (the model part may be anything the provider serves);
 *  6. a bare catalogued id or alias, served by the first configured provider that lists it.
 * Every key of the chosen provider is a target of the step, so a 429 on one key can rotate to the next.
 * Anything else is `model_not_found` (404), or `unknown_provider` (400) when it looks like `provider/model`.
 */
export interface PlanOptions {
  /** The client's own fallback chain, tried after the model's. */
  readonly fallbacks?: readonly string[];
  /**
   * Instances on the caller's own keys (a project's provider keys), by provider id: they serve that provider's
   * steps in place of the gateway's keys, and make it reachable even where the gateway has no key for it.
   */
  readonly own?: OwnInstances | undefined;
}

export type OwnInstances = ReadonlyMap<string, ProviderInstance>;

export interface ModelResolver {
  plan(requested: string, mode: 'chat' | 'embedding', options?: PlanOptions): RoutePlan;
  /** The first target of the plan: for callers that need exactly one (tests, admin views). */
  resolve(requested: string, mode: 'chat' | 'embedding'): UpstreamTarget;
}

export interface ResolverOptions {
  readonly catalog: Catalog;
  readonly registry: ProviderRegistry;
  readonly aliases: Readonly<Record<string, string>>;
  readonly groups?: Readonly<Record<string, GroupConfig>>;
}

export function createModelResolver(options: ResolverOptions): ModelResolver {
  const { catalog, registry, aliases } = options;
  const groups = options.groups ?? {};

  const target = (instance: ProviderInstance, model: string): UpstreamTarget => ({
    instance,
    model,
    deployment: `${instance.id}/${model}`,
    modelSpec: findModel(catalog, instance.provider.id, model),
  });

  /** The instances that serve a provider for this caller: its own key when it brought one, else the gateway's. */
  type Serving = (providerId: string) => readonly ProviderInstance[];
  const gatewayServing: Serving = (providerId) => registry.instancesOf(providerId);
  const servingFor =
    (own: OwnInstances): Serving =>
    (providerId) => {
      const mine = own.get(providerId);
      return mine === undefined ? registry.instancesOf(providerId) : [mine];
    };

  const instancesOf = (
    providerId: string,
    requested: string,
    serving: Serving,
  ): readonly ProviderInstance[] => {
    const found = serving(providerId);
    if (found.length > 0) return found;
    const reason = registry.unavailable.get(providerId);
    const provider = catalog.providers.get(providerId);
    const prefix = providerId.toUpperCase().replaceAll('-', '_');
    const how = provider?.requiresApiKey === false ? `${prefix}_BASE_URL` : `${prefix}_API_KEY`;
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

  const pool = (instances: readonly ProviderInstance[], model: (instance: ProviderInstance) => string) =>
    instances.map((instance) => ({ target: target(instance, model(instance)), weight: 1 }));

  /** Resolves a single model name (not a group) to the targets that serve it. */
  const step = (requested: string, mode: 'chat' | 'embedding', serving: Serving): PlanStep => {
    const name = aliases[requested] ?? requested;
    if (name === 'auto') {
      const first = registry.instances[0];
      if (first === undefined) throw new NexusError('provider_not_configured', 'No provider is configured.');
      const model = defaultModelOf(first, name, mode);
      return { label: name, targets: pool(serving(first.provider.id), () => model) };
    }
    const named = registry.instanceByName(name);
    // A pinned instance of a provider the caller brings its own key for is served on that key too.
    const servers = named === undefined ? [] : serving(named.provider.id);
    const pinned = named !== undefined && servers.includes(named) ? named : servers[0];
    if (pinned !== undefined)
      return { label: name, targets: pool([pinned], () => defaultModelOf(pinned, name, mode)) };

    const slash = name.indexOf('/');
    if (slash > 0) {
      const providerId = name.slice(0, slash).toLowerCase();
      const model = name.slice(slash + 1);
      if (catalog.providers.has(providerId) && model !== '') {
        const id = findModel(catalog, providerId, model)?.id ?? model;
        return { label: name, targets: pool(instancesOf(providerId, name, serving), () => id) };
      }
    }
    const candidates = findModelsById(catalog, name);
    for (const candidate of candidates) {
      const instances = serving(candidate.provider);
      if (instances.length > 0) return { label: name, targets: pool(instances, () => candidate.id) };
    }
    const [first] = candidates;
    if (first !== undefined) instancesOf(first.provider, name, serving);
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
  };

  // Plans depend only on boot-time state (config, catalogue, registry); health and breakers are applied when
  // targets are ordered. So a plan is built once per model name and reused; the map is bounded because model
  // names come from clients.
  // Plans without a client fallback chain, per caller's own instances (the gateway's keys: `gatewayPlans`).
  const gatewayPlans = new Map<string, RoutePlan>();
  const ownPlans = new WeakMap<OwnInstances, { serving: Serving; plans: Map<string, RoutePlan> }>();
  const cachedPlan: ModelResolver['plan'] = (requested, mode, planOptions = {}) => {
    const own = planOptions.own;
    let serving = gatewayServing;
    let cache = gatewayPlans;
    if (own !== undefined) {
      let entry = ownPlans.get(own);
      if (entry === undefined) {
        entry = { serving: servingFor(own), plans: new Map() };
        ownPlans.set(own, entry);
      }
      serving = entry.serving;
      cache = entry.plans;
    }
    if ((planOptions.fallbacks?.length ?? 0) > 0)
      return plan(requested, mode, planOptions.fallbacks, serving);
    const key = `${mode}\u0000${requested}`;
    let found = cache.get(key);
    if (found === undefined) {
      found = plan(requested, mode, [], serving);
      if (cache.size >= 1000) cache.clear();
      cache.set(key, found);
    }
    return found;
  };

  const plan = (
    requested: string,
    mode: 'chat' | 'embedding',
    fallbacks: readonly string[] = [],
    serving: Serving = gatewayServing,
  ): RoutePlan => {
    const extra = fallbacks.map((name) => step(name, mode, serving));
    const group = groups[requested];
    if (group === undefined)
      return {
        steps: [step(requested, mode, serving), ...extra],
        group: undefined,
        contextFallback: undefined,
      };
    const targets = group.targets.flatMap((entry) => {
      const resolved = step(entry.model, mode, serving);
      // A target backed by a key pool shares its weight among the pool's keys.
      return resolved.targets.map((item) => ({
        target: item.target,
        weight: entry.weight / resolved.targets.length,
      }));
    });
    return {
      steps: [
        { label: requested, targets },
        ...group.fallbacks.map((name) => step(name, mode, serving)),
        ...extra,
      ],
      group,
      contextFallback:
        group.contextFallback === undefined ? undefined : step(group.contextFallback, mode, serving),
    };
  };

  return {
    plan: cachedPlan,
    resolve(requested, mode) {
      const first = cachedPlan(requested, mode).steps[0]?.targets[0];
      if (first === undefined)
        throw new NexusError('model_not_found', `'${requested}' has no target.`, { param: 'model' });
      return first.target;
    },
  };
}

function configuredList(registry: ProviderRegistry): string {
  const ids = [...new Set(registry.instances.map((instance) => instance.provider.id))];
  return ids.length === 0 ? 'none' : ids.join(', ');
}
