import type { Catalog, ProviderSpec, WireFormat } from '../catalog/types.ts';
import { expandEnvReferences } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { HttpClient } from '../transport/http-client.ts';
import { createAnthropicAdapter } from './anthropic/adapter.ts';
import { createAzureAdapter } from './azure/adapter.ts';
import { createCohereAdapter } from './cohere/adapter.ts';
import { createDemoAdapter } from './demo/adapter.ts';
import { createGeminiAdapter } from './gemini/adapter.ts';
import { createOpenAICompatibleAdapter } from './openai-compatible/adapter.ts';
import type { ProviderAdapter, ProviderInstance } from './types.ts';

/**
 * Which provider instances exist in this process and which adapter speaks to each. Built once at boot from
 * the catalogue and the configuration; routing reads it, nothing writes it after boot.
 */
export interface ProviderRegistry {
  /** Every enabled instance, in catalogue order then key order. */
  readonly instances: readonly ProviderInstance[];
  instancesOf(providerId: string): readonly ProviderInstance[];
  /** Looks up `"Groq (Key #1)"`-style names, case-insensitively. */
  instanceByName(name: string): ProviderInstance | undefined;
  adapterFor(instance: ProviderInstance): ProviderAdapter;
  /**
   * An instance of `providerId` on someone else's key (a project's own provider key): the provider's endpoint,
   * version and headers as configured, id `<provider>@<owner>`, so its health and circuits are its own and never
   * the gateway's keys'. Undefined when the provider is unknown, disabled, or has no adapter or endpoint.
   */
  ownInstance(providerId: string, owner: string, apiKey: string): ProviderInstance | undefined;
  /** Providers that have credentials but no adapter in this build, with the reason. */
  readonly unavailable: ReadonlyMap<string, string>;
}

export interface RegistryOptions {
  readonly config: Config;
  readonly catalog: Catalog;
  readonly client: HttpClient;
  readonly env: NodeJS.ProcessEnv;
}

const demoProviderId = 'nexus-demo';

export function createProviderRegistry(options: RegistryOptions): ProviderRegistry {
  const { config, catalog, env } = options;
  const adapters = new Map<WireFormat, ProviderAdapter>([
    ['openai', createOpenAICompatibleAdapter(options.client)],
    ['cohere', createCohereAdapter(options.client)],
    ['azure', createAzureAdapter(options.client)],
    ['gemini', createGeminiAdapter(options.client)],
    ['anthropic', createAnthropicAdapter(options.client)],
    ['demo', createDemoAdapter({ latencyMs: config.demo.latencyMs })],
  ]);
  const instances: ProviderInstance[] = [];
  const unavailable = new Map<string, string>();
  for (const provider of catalog.providers.values()) {
    if (provider.id === demoProviderId) continue;
    const settings = config.providers[provider.id];
    if (settings === undefined || !settings.enabled) continue;
    const keyed = settings.apiKeys.length > 0;
    if (!keyed && (provider.requiresApiKey || settings.baseUrl === undefined)) continue;
    if (!adapters.has(provider.wire)) {
      unavailable.set(provider.id, `the native ${provider.wire} adapter is not part of this build yet`);
      continue;
    }
    const baseUrl = (settings.baseUrl ?? provider.baseUrl).replace(/\/+$/, '');
    if (baseUrl === '') {
      // Azure has no default endpoint: a key without its resource URL cannot serve anything.
      const prefix = provider.id.toUpperCase().replaceAll('-', '_');
      unavailable.set(provider.id, `${prefix}_BASE_URL is not set (the provider has no default base URL)`);
      continue;
    }
    const headers = { ...expandHeaders(provider, env), ...settings.headers };
    const keys = keyed ? settings.apiKeys : [undefined];
    keys.forEach((apiKey, index) => {
      instances.push({
        id: `${provider.id}#${index + 1}`,
        name: keyed ? `${provider.name} (Key #${index + 1})` : provider.name,
        provider,
        baseUrl,
        apiKey,
        apiVersion: settings.apiVersion,
        headers,
      });
    });
  }
  const demo = catalog.providers.get(demoProviderId);
  const demoWanted =
    config.demo.enabled === true || (config.demo.enabled === 'auto' && instances.length === 0);
  if (demo !== undefined && demoWanted) {
    instances.push({
      id: `${demo.id}#1`,
      name: demo.name,
      provider: demo,
      baseUrl: demo.baseUrl,
      apiKey: undefined,
      apiVersion: undefined,
      headers: {},
    });
  }

  const byName = new Map(instances.map((instance) => [instance.name.toLowerCase(), instance]));
  return {
    instances,
    unavailable,
    ownInstance(providerId, owner, apiKey) {
      const provider = catalog.providers.get(providerId);
      const settings = config.providers[providerId];
      if (provider === undefined || provider.id === demoProviderId || settings?.enabled === false) return;
      if (!adapters.has(provider.wire)) return;
      const baseUrl = (settings?.baseUrl ?? provider.baseUrl).replace(/\/+$/, '');
      if (baseUrl === '') return;
      return {
        id: `${provider.id}@${owner}`,
        name: `${provider.name} (project key)`,
        provider,
        baseUrl,
        apiKey,
        apiVersion: settings?.apiVersion,
        headers: { ...expandHeaders(provider, env), ...settings?.headers },
      };
    },
    instancesOf: (providerId) => instances.filter((instance) => instance.provider.id === providerId),
    instanceByName: (name) => byName.get(name.toLowerCase()),
    adapterFor(instance) {
      const adapter = adapters.get(instance.provider.wire);
      if (adapter === undefined) throw new Error(`no adapter for wire format ${instance.provider.wire}`);
      return adapter;
    },
  };
}

function expandHeaders(provider: ProviderSpec, env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(provider.quirks.extraHeaders).map(([name, value]) => [
      name,
      expandEnvReferences(value, env, `catalog provider ${provider.id}: quirks.extraHeaders.${name}`),
    ]),
  );
}
