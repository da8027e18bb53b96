import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadCatalog } from '../../src/catalog/load.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { NexusError } from '../../src/core/errors.ts';
import { createModelResolver } from '../../src/pipeline/resolve-model.ts';
import { createProviderRegistry } from '../../src/providers/registry.ts';
import { HttpClient } from '../../src/transport/http-client.ts';

const catalog = loadCatalog();

function resolverFor(env: Record<string, string>, aliases: Record<string, string> = {}) {
  const config = loadConfig({ env, providerIds: [...catalog.providers.keys()] });
  const client = new HttpClient({ connectTimeoutMs: 1000, connectionsPerOrigin: 1 });
  const registry = createProviderRegistry({ config, catalog, client, env });
  return { registry, resolver: createModelResolver({ catalog, registry, aliases }) };
}

const code = (expected: string) => (error: NexusError) => error.code === expected;

describe('model resolution', () => {
  const { registry, resolver } = resolverFor(
    {
      OPENAI_API_KEY: 'sk-a',
      GROQ_KEY_1: 'gsk-1',
      GROQ_KEY_2: 'gsk-2',
      OLLAMA_BASE_URL: 'http://127.0.0.1:11434/v1',
    },
    { fast: 'groq/llama-3.1-8b-instant' },
  );

  it('makes one instance per pooled key, named as seed 001 does, and no demo when a real provider exists', () => {
    assert.deepEqual(
      registry.instances.map((instance) => instance.name),
      ['OpenAI (Key #1)', 'Groq (Key #1)', 'Groq (Key #2)', 'Ollama'],
    );
  });

  it('routes provider/model, including models the catalogue does not list', () => {
    const target = resolver.resolve('groq/llama-3.1-8b-instant', 'chat');
    assert.equal(target.instance.provider.id, 'groq');
    assert.equal(target.model, 'llama-3.1-8b-instant');
    assert.ok(target.modelSpec);
    const custom = resolver.resolve('ollama/llama3.2:latest', 'chat');
    assert.equal(custom.instance.name, 'Ollama');
    assert.equal(custom.model, 'llama3.2:latest');
    assert.equal(custom.modelSpec, undefined);
  });

  it('routes bare catalogued ids and seed aliases to a configured provider', () => {
    assert.equal(resolver.resolve('gpt-4o-mini', 'chat').instance.provider.id, 'openai');
    const seedName = catalog.models.find(
      (model) => model.aliases.includes('gpt-3.5-turbo') || model.id === 'gpt-3.5-turbo',
    );
    assert.ok(seedName);
    assert.equal(resolver.resolve('gpt-3.5-turbo', 'chat').model, seedName.id);
  });

  it('resolves configured aliases, auto and instance names', () => {
    assert.equal(resolver.resolve('fast', 'chat').model, 'llama-3.1-8b-instant');
    assert.equal(resolver.resolve('auto', 'chat').instance.name, 'OpenAI (Key #1)');
    const pinned = resolver.resolve('Groq (Key #2)', 'chat');
    assert.equal(pinned.instance.name, 'Groq (Key #2)');
    assert.equal(pinned.model, catalog.providers.get('groq')?.defaultModel);
  });

  it('rejects an unknown provider prefix with 400 unknown_provider', () => {
    assert.throws(() => resolver.resolve('nope/some-model', 'chat'), code('unknown_provider'));
  });

  it('rejects a known but unconfigured provider with 400 provider_not_configured naming the env var', () => {
    assert.throws(
      () => resolver.resolve('mistral/mistral-small-latest', 'chat'),
      (error: NexusError) =>
        error.code === 'provider_not_configured' && /MISTRAL_API_KEY/.test(error.message),
    );
  });

  it('rejects an unknown bare model with 404 model_not_found', () => {
    assert.throws(
      () => resolver.resolve('no-such-model', 'chat'),
      (error: NexusError) => error.code === 'model_not_found' && error.status === 404,
    );
  });
});

describe('demo provider', () => {
  it('is the only instance when nothing is configured, and serves nexus-demo/echo', () => {
    const { registry, resolver } = resolverFor({});
    assert.deepEqual(
      registry.instances.map((instance) => instance.provider.id),
      ['nexus-demo'],
    );
    assert.equal(resolver.resolve('nexus-demo/echo', 'chat').instance.provider.id, 'nexus-demo');
    assert.equal(resolver.resolve('auto', 'chat').instance.provider.id, 'nexus-demo');
  });

  it('stays off when a real provider is configured, unless NEXUS_DEMO=true', () => {
    assert.equal(resolverFor({ OPENAI_API_KEY: 'sk' }).registry.instancesOf('nexus-demo').length, 0);
    assert.equal(
      resolverFor({ OPENAI_API_KEY: 'sk', NEXUS_DEMO: 'true' }).registry.instancesOf('nexus-demo').length,
      1,
    );
  });
});
