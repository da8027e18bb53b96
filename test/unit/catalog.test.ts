import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { costUsd } from '../../src/catalog/cost.ts';
import { CatalogError, findModel, findModelsById, loadCatalog } from '../../src/catalog/load.ts';
import type { ModelPricing } from '../../src/catalog/types.ts';

const catalogDirectory = fileURLToPath(new URL('../../catalog/', import.meta.url));
const shippedProviders = readFileSync(path.join(catalogDirectory, 'providers.yaml'), 'utf8');
const shippedModels = readFileSync(path.join(catalogDirectory, 'models.yaml'), 'utf8');
const catalog = loadCatalog();

const scratch = mkdtempSync(path.join(tmpdir(), 'nexus-catalog-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Writes a catalogue directory with the shipped files, optionally edited; returns its path. */
function catalogWith(edit: {
  providers?: (text: string) => string;
  models?: (text: string) => string;
}): string {
  const directory = mkdtempSync(path.join(scratch, 'case-'));
  writeFileSync(
    path.join(directory, 'providers.yaml'),
    edit.providers?.(shippedProviders) ?? shippedProviders,
  );
  writeFileSync(path.join(directory, 'models.yaml'), edit.models?.(shippedModels) ?? shippedModels);
  return directory;
}

function replaceOnce(text: string, search: string, replacement: string): string {
  assert.equal(text.split(search).length, 2, `expected exactly one "${search}" in the shipped file`);
  return text.replace(search, replacement);
}

/** The index of a model in the shipped models.yaml, as error messages count it. */
function fileIndexOf(provider: string, id: string): number {
  const { models } = parse(shippedModels) as { models: { provider: string; id: string }[] };
  const index = models.findIndex((model) => model.provider === provider && model.id === id);
  assert.ok(index >= 0);
  return index;
}

/** Asserts loadCatalog throws a CatalogError with one line per expected message, in any order. */
function assertProblems(options: Parameters<typeof loadCatalog>[0], expected: readonly string[]): void {
  assert.throws(
    () => loadCatalog(options),
    (error: unknown) => {
      assert.ok(error instanceof CatalogError, `expected a CatalogError, got ${String(error)}`);
      for (const line of expected) {
        assert.ok(
          error.problems.some((problem) => problem.startsWith(line)),
          `no problem starting with\n  ${line}\nin\n  ${error.problems.join('\n  ')}`,
        );
        assert.ok(error.message.includes(line), 'the message shows every problem');
      }
      return true;
    },
  );
}

describe('shipped catalogue', () => {
  it('loads, and is deeply frozen', () => {
    assert.ok(catalog.providers.size >= 16);
    assert.ok(catalog.models.length > 30);
    assert.ok(Object.isFrozen(catalog));
    assert.ok(Object.isFrozen(catalog.models));
    const model = catalog.models[0];
    assert.ok(model !== undefined && Object.isFrozen(model.pricing) && Object.isFrozen(model.aliases));
    const openai = catalog.providers.get('openai');
    assert.ok(openai !== undefined && Object.isFrozen(openai.quirks.extraHeaders));
    const mutable = catalog.providers as Map<string, unknown>;
    assert.throws(() => mutable.set('evil', {}), TypeError);
    assert.throws(() => mutable.delete('openai'), TypeError);
    assert.throws(() => (catalog.models as unknown[]).push({}), TypeError);
  });

  it('lists every provider with its wire format and default base URL', () => {
    const expected: [id: string, wire: string, baseUrl: string][] = [
      ['openai', 'openai', 'https://api.openai.com/v1'],
      ['azure', 'azure', ''],
      ['anthropic', 'anthropic', 'https://api.anthropic.com/v1'],
      ['gemini', 'gemini', 'https://generativelanguage.googleapis.com/v1beta'],
      ['cohere', 'cohere', 'https://api.cohere.com/v2'],
      ['groq', 'openai', 'https://api.groq.com/openai/v1'],
      ['openrouter', 'openai', 'https://openrouter.ai/api/v1'],
      ['cerebras', 'openai', 'https://api.cerebras.ai/v1'],
      ['mistral', 'openai', 'https://api.mistral.ai/v1'],
      ['together', 'openai', 'https://api.together.xyz/v1'],
      ['deepseek', 'openai', 'https://api.deepseek.com/v1'],
      ['fireworks', 'openai', 'https://api.fireworks.ai/inference/v1'],
      ['xai', 'openai', 'https://api.x.ai/v1'],
      ['vllm', 'openai', 'http://127.0.0.1:8000/v1'],
      ['ollama', 'openai', 'http://127.0.0.1:11434/v1'],
      ['nexus-demo', 'demo', 'nexus-demo://local'],
    ];
    for (const [id, wire, baseUrl] of expected) {
      const provider = catalog.providers.get(id);
      assert.ok(provider !== undefined, `provider ${id} is missing`);
      assert.equal(provider.wire, wire, id);
      assert.equal(provider.baseUrl, baseUrl, id);
    }
    assert.equal([...catalog.providers.keys()][0], 'openai');
    assert.equal(catalog.providers.get('azure')?.requiresApiKey, true);
    for (const id of ['vllm', 'ollama', 'nexus-demo'])
      assert.equal(catalog.providers.get(id)?.requiresApiKey, false);
  });

  it('has the default models of seeds 001 and 004, each a catalogued chat model', () => {
    const defaults: Record<string, string> = {
      openai: 'gpt-4o-mini',
      groq: 'meta-llama/llama-4-scout-17b-16e-instruct',
      gemini: 'gemini-2.5-flash',
      openrouter: 'deepseek/deepseek-r1-0528:free',
      cerebras: 'zai-glm-4.7',
      'nexus-demo': 'echo',
    };
    for (const [provider, model] of Object.entries(defaults)) {
      assert.equal(catalog.providers.get(provider)?.defaultModel, model, provider);
    }
    for (const provider of catalog.providers.values()) {
      if (provider.defaultModel === null) continue;
      assert.equal(findModel(catalog, provider.id, provider.defaultModel)?.mode, 'chat', provider.id);
    }
  });

  it('carries the provider quirks', () => {
    const openrouter = catalog.providers.get('openrouter')?.quirks;
    assert.deepEqual(Object.keys(openrouter?.extraHeaders ?? {}).sort(), ['HTTP-Referer', 'X-Title']);
    assert.match(openrouter?.extraHeaders['HTTP-Referer'] ?? '', /^\$\{OPENROUTER_REFERER:-https:\/\//);
    const groq = catalog.providers.get('groq')?.quirks;
    assert.deepEqual([...(groq?.unsupportedParams ?? [])].sort(), ['logit_bias', 'logprobs', 'top_logprobs']);
    assert.equal(catalog.providers.get('openai')?.quirks.maxTokensField, 'max_completion_tokens');
    assert.equal(catalog.providers.get('mistral')?.quirks.maxTokensField, 'max_tokens');
    assert.equal(catalog.providers.get('mistral')?.quirks.supportsStreamUsage, false);
    assert.equal(catalog.providers.get('openai')?.quirks.supportsEmbeddings, true);
    assert.equal(catalog.providers.get('groq')?.quirks.supportsEmbeddings, false);
  });
});

describe('seed models', () => {
  // Seed 004's table, in USD per 1K tokens, and context in thousands of tokens.
  const seed004: [
    name: string,
    provider: string,
    inputPer1K: number,
    outputPer1K: number,
    contextK: number,
  ][] = [
    ['gpt-4o', 'openai', 0.005, 0.015, 128],
    ['gpt-4o-mini', 'openai', 0.00015, 0.0006, 128],
    ['gpt-4-turbo', 'openai', 0.01, 0.03, 128],
    ['gpt-3.5-turbo', 'openai', 0.0005, 0.0015, 16],
    ['claude-3.5-sonnet', 'anthropic', 0.003, 0.015, 200],
    ['claude-3-opus', 'anthropic', 0.015, 0.075, 200],
    ['claude-3-haiku', 'anthropic', 0.00025, 0.00125, 200],
  ];
  const perMillion = (per1K: number) => Number((per1K * 1000).toFixed(6));

  it('resolve by their seed names with the seed prices', () => {
    for (const [name, provider, inputPer1K, outputPer1K, contextK] of seed004) {
      const model = findModel(catalog, provider, name);
      assert.ok(model !== undefined, `${provider}/${name} does not resolve`);
      assert.equal(findModelsById(catalog, name)[0], model, `bare ${name}`);
      assert.equal(Math.round(model.contextWindow / 1000), contextK, name);
      // Seed 004 prices gpt-4o at its May 2024 launch price, which OpenAI still charges for that snapshot;
      // the gpt-4o name itself has cost 2.50 / 10 per million since the 2024-08 snapshot.
      const priced = name === 'gpt-4o' ? findModel(catalog, 'openai', 'gpt-4o-2024-05-13') : model;
      assert.equal(priced?.pricing.inputPerMillion, perMillion(inputPer1K), `${name} input`);
      assert.equal(priced?.pricing.outputPerMillion, perMillion(outputPer1K), `${name} output`);
    }
    assert.equal(findModel(catalog, 'openai', 'gpt-4o-mini')?.pricing.inputPerMillion, 0.15);
    assert.equal(findModel(catalog, 'openai', 'gpt-4o-mini')?.pricing.outputPerMillion, 0.6);
    assert.deepEqual(findModel(catalog, 'openai', 'gpt-4o')?.pricing, {
      inputPerMillion: 2.5,
      outputPerMillion: 10,
      cachedInputPerMillion: 1.25,
      cacheWriteInputPerMillion: null,
    });
  });

  it('gives seed 004 models real provider ids, with the seed name as an alias where they differ', () => {
    assert.equal(findModel(catalog, 'anthropic', 'claude-3.5-sonnet')?.id, 'claude-3-5-sonnet-20241022');
    assert.equal(findModel(catalog, 'anthropic', 'claude-3-opus')?.id, 'claude-3-opus-20240229');
    assert.equal(findModel(catalog, 'anthropic', 'claude-3-haiku')?.id, 'claude-3-haiku-20240307');
    assert.equal(findModel(catalog, 'openai', 'gpt-4o-mini')?.id, 'gpt-4o-mini');
  });

  it('includes seed 001 models, with its multimodal column as vision', () => {
    const seed001: [provider: string, name: string, vision: boolean][] = [
      ['groq', 'llama-4-scout-17b-16e-instruct', true],
      ['groq', 'llama-4-maverick', true],
      ['gemini', 'gemini-2.5-flash', true],
      ['gemini', 'gemini-3-flash-preview', true],
      ['openrouter', 'deepseek/deepseek-r1-0528:free', false],
      ['cerebras', 'zai-glm-4.7', false],
    ];
    for (const [provider, name, vision] of seed001) {
      const model = findModel(catalog, provider, name);
      assert.ok(model !== undefined, `${provider}/${name} does not resolve`);
      assert.equal(model.capabilities.vision, vision, name);
      assert.equal(model.mode, 'chat');
    }
    assert.equal(
      findModel(catalog, 'groq', 'llama-4-scout')?.id,
      'meta-llama/llama-4-scout-17b-16e-instruct',
    );
    const free = findModel(catalog, 'openrouter', 'deepseek/deepseek-r1-0528:free');
    assert.deepEqual(free?.pricing, {
      inputPerMillion: 0,
      outputPerMillion: 0,
      cachedInputPerMillion: null,
      cacheWriteInputPerMillion: null,
    });
  });

  it('has the free nexus-demo chat and embedding models', () => {
    const echo = findModel(catalog, 'nexus-demo', 'echo');
    const embed = findModel(catalog, 'nexus-demo', 'embed');
    assert.equal(echo?.mode, 'chat');
    assert.equal(embed?.mode, 'embedding');
    for (const model of [echo, embed]) {
      assert.equal(model?.pricing.inputPerMillion, 0);
      assert.equal(model?.pricing.outputPerMillion, 0);
    }
  });
});

describe('overrides', () => {
  it('replace only the fields they name, and add new entries', () => {
    const merged = loadCatalog({
      overrides: {
        providers: [
          { id: 'groq', baseUrl: 'https://groq.internal/openai/v1', defaultModel: 'llama-4-maverick' },
          { id: 'openrouter', quirks: { extraHeaders: { 'X-Title': 'Acme' } } },
          {
            id: 'acme',
            name: 'Acme',
            wire: 'openai',
            baseUrl: 'https://llm.acme.test/v1',
            defaultModel: 'a-1',
          },
        ],
        models: [
          { provider: 'openai', id: 'gpt-4o-mini', pricing: { inputPerMillion: 0.2 } },
          { provider: 'openai', id: 'gpt-4o-mini', aliases: ['mini'] },
          {
            provider: 'acme',
            id: 'a-1',
            mode: 'chat',
            contextWindow: 32768,
            pricing: { inputPerMillion: 1, outputPerMillion: 2 },
          },
        ],
      },
    });
    const groq = merged.providers.get('groq');
    assert.equal(groq?.baseUrl, 'https://groq.internal/openai/v1');
    assert.equal(groq?.name, 'Groq');
    // An alias as default model is replaced by the id the provider receives.
    assert.equal(groq?.defaultModel, 'meta-llama/llama-4-maverick-17b-128e-instruct');
    assert.deepEqual([...(groq?.quirks.unsupportedParams ?? [])].sort(), [
      'logit_bias',
      'logprobs',
      'top_logprobs',
    ]);
    assert.equal(merged.providers.get('openrouter')?.quirks.extraHeaders['X-Title'], 'Acme');
    assert.match(
      merged.providers.get('openrouter')?.quirks.extraHeaders['HTTP-Referer'] ?? '',
      /OPENROUTER_REFERER/,
    );

    const mini = findModel(merged, 'openai', 'mini');
    assert.equal(mini?.id, 'gpt-4o-mini');
    assert.deepEqual(mini?.pricing, {
      inputPerMillion: 0.2,
      outputPerMillion: 0.6,
      cachedInputPerMillion: 0.075,
      cacheWriteInputPerMillion: null,
    });
    assert.equal(mini?.contextWindow, 128000);

    const acme = merged.providers.get('acme');
    assert.equal(acme?.requiresApiKey, true);
    assert.deepEqual(acme?.quirks, {
      extraHeaders: {},
      unsupportedParams: [],
      supportsStreamUsage: true,
      supportsEmbeddings: false,
      maxTokensField: 'max_tokens',
    });
    const a1 = findModel(merged, 'acme', 'a-1');
    assert.deepEqual(a1?.aliases, []);
    assert.equal(a1?.maxOutputTokens, null);
    assert.equal(a1?.pricing.cachedInputPerMillion, null);
    assert.deepEqual(a1?.capabilities, { vision: false, tools: false, streaming: false, jsonMode: false });
    assert.equal([...merged.providers.keys()].at(-1), 'acme');

    // The shipped catalogue is untouched.
    assert.equal(findModel(catalog, 'openai', 'gpt-4o-mini')?.pricing.inputPerMillion, 0.15);
    assert.equal(findModel(catalog, 'openai', 'mini'), undefined);
  });
});

describe('invalid values', () => {
  it('name the override path of each bad value', () => {
    assertProblems(
      {
        overrides: {
          models: [
            { provider: 'openai', id: 'gpt-4o', pricing: { inputPerMillion: -1 } },
            { provider: 'openai', id: 'gpt-4.1', contextWindow: 0, maxOutputTokens: 1.5 },
            {
              provider: 'openai',
              id: 'gpt-3.5-turbo',
              mode: 'completion',
              pricing: { outputPerMillion: 'cheap' },
            },
            { provider: 'openai', id: 'new-model', aliases: ['has space'] },
            'gpt-5',
          ],
        },
      },
      [
        'overrides: models[0].pricing.inputPerMillion: expected number >= 0',
        'overrides: models[1].contextWindow: expected a positive integer',
        'overrides: models[1].maxOutputTokens: expected a positive integer',
        'overrides: models[2].mode: Invalid option: expected one of "chat"|"embedding"',
        'overrides: models[2].pricing.outputPerMillion: Invalid input: expected number, received string',
        'overrides: models[3].aliases[0]: expected a non-empty name without whitespace',
        'overrides: models[3].mode: missing',
        'overrides: models[3].contextWindow: missing (expected number)',
        'overrides: models[3].pricing: missing (expected object)',
        'overrides: models[4]: expected an object',
      ],
    );
    assertProblems(
      {
        overrides: {
          providers: [
            { id: 'Acme Corp', name: 'Acme', wire: 'soap', baseUrl: 'llm.acme.test' },
            { id: 'openai', quirks: { maxTokensField: 'max_output_tokens', supportsEmbeddings: 'yes' } },
          ],
        },
      },
      [
        'overrides: providers[0].id: expected a lower-case id',
        'overrides: providers[0].wire: Invalid option',
        'overrides: providers[0].baseUrl: expected an absolute URL',
        'overrides: providers[1].quirks.maxTokensField: Invalid option',
        'overrides: providers[1].quirks.supportsEmbeddings: Invalid input: expected boolean',
      ],
    );
  });

  it('name the file path of a bad value in the shipped files', () => {
    const directory = catalogWith({
      models: (text) => text.replace(/(- id: gpt-4o-mini\n(?:.*\n)*?.*inputPerMillion: )0\.15/, '$1-0.15'),
    });
    const index = fileIndexOf('openai', 'gpt-4o-mini');
    assertProblems({ directory }, [
      `${path.join(directory, 'models.yaml')}: models[${index}].pricing.inputPerMillion: expected number >= 0`,
    ]);
  });

  it('reports broken cross references', () => {
    assertProblems(
      {
        overrides: {
          providers: [
            { id: 'cohere', defaultModel: 'command-z' },
            { id: 'openai', defaultModel: 'text-embedding-3-small' },
          ],
          models: [
            {
              provider: 'nope',
              id: 'x',
              mode: 'chat',
              contextWindow: 1,
              pricing: { inputPerMillion: 0, outputPerMillion: 0 },
            },
            {
              provider: 'groq',
              id: 'llama-3.1-8b-instant',
              aliases: ['llama-4-scout', 'llama-3.1-8b-instant'],
            },
          ],
        },
      },
      [
        'overrides: providers[0].defaultModel: no model "command-z" for provider "cohere" in the catalogue',
        'overrides: providers[1].defaultModel: "text-embedding-3-small" is an embedding model',
        'overrides: models[0].provider: unknown provider "nope"',
        'overrides: models[1].aliases[0]: "llama-4-scout" is already used by groq model "meta-llama/llama-4-scout-17b-16e-instruct"',
        'overrides: models[1].aliases[1]: "llama-3.1-8b-instant" is listed twice for this model',
      ],
    );
  });

  it('reports duplicates within a file', () => {
    const directory = catalogWith({
      providers: (text) =>
        `${text}\n  - { id: groq, name: Groq again, wire: openai, baseUrl: "https://x.test/v1" }\n`,
    });
    assertProblems({ directory }, [
      `${path.join(directory, 'providers.yaml')}: providers[16].id: duplicate provider id "groq"`,
    ]);
  });

  it('reports unreadable and unparsable files with the file name', () => {
    const missing = path.join(scratch, 'does-not-exist');
    assertProblems({ directory: missing }, [
      `${path.join(missing, 'providers.yaml')}: cannot read the file (ENOENT)`,
    ]);
    const broken = catalogWith({ models: (text) => `${text}\n  - id: [unclosed\n` });
    assert.throws(
      () => loadCatalog({ directory: broken }),
      (error: unknown) =>
        error instanceof CatalogError && error.message.startsWith(`${path.join(broken, 'models.yaml')}: `),
    );
    const empty = catalogWith({ models: () => '' });
    assertProblems({ directory: empty }, [
      `${path.join(empty, 'models.yaml')}: Invalid input: expected object`,
    ]);
  });
});

describe('unknown keys', () => {
  it('are rejected in overrides, at any depth', () => {
    assertProblems(
      {
        overrides: {
          providers: [{ id: 'openai', quirk: {} }],
          models: [
            {
              provider: 'openai',
              id: 'gpt-4o',
              pricing: { inputPerMilion: 1 },
              capabilities: { audio: true },
            },
          ],
        },
      },
      [
        'overrides: providers[0].quirk: unknown key',
        'overrides: models[0].pricing.inputPerMilion: unknown key',
        'overrides: models[0].capabilities.audio: unknown key',
      ],
    );
  });

  it('are rejected in the files', () => {
    const directory = catalogWith({
      providers: (text) => replaceOnce(text, '  - id: openai\n', '  - id: openai\n    colour: green\n'),
      models: (text) => `version: 2\n${text}`,
    });
    assertProblems({ directory }, [
      `${path.join(directory, 'providers.yaml')}: providers[0].colour: unknown key`,
      `${path.join(directory, 'models.yaml')}: version: unknown key`,
    ]);
  });
});

describe('lookups', () => {
  const shared = (provider: string, aliases: string[] = []) => ({
    provider,
    id: 'shared-model',
    aliases,
    mode: 'chat',
    contextWindow: 8192,
    pricing: { inputPerMillion: 1, outputPerMillion: 1 },
  });

  it('order a bare id by providers.yaml, whatever order the models were added in', () => {
    const merged = loadCatalog({
      overrides: { models: [shared('nexus-demo'), shared('groq', ['shared']), shared('openai', ['shared'])] },
    });
    assert.deepEqual(
      findModelsById(merged, 'shared-model').map((model) => model.provider),
      ['openai', 'groq', 'nexus-demo'],
    );
    assert.deepEqual(
      findModelsById(merged, 'shared').map((model) => model.provider),
      ['openai', 'groq'],
    );
  });

  it('find by id or alias within one provider, and nothing elsewhere', () => {
    assert.equal(
      findModel(catalog, 'groq', 'llama-4-maverick')?.id,
      'meta-llama/llama-4-maverick-17b-128e-instruct',
    );
    assert.equal(findModel(catalog, 'openai', 'llama-4-maverick'), undefined);
    assert.equal(findModel(catalog, 'nope', 'gpt-4o'), undefined);
    assert.deepEqual(findModelsById(catalog, 'no-such-model'), []);
    const found = findModelsById(catalog, 'gpt-4o-mini');
    found.pop();
    assert.equal(findModelsById(catalog, 'gpt-4o-mini').length, 1, 'results are copies');
  });
});

describe('costUsd', () => {
  const price = (provider: string, name: string): ModelPricing => {
    const model = findModel(catalog, provider, name);
    assert.ok(model !== undefined);
    return model.pricing;
  };

  it('bills cached prompt tokens at the cached price, and only once', () => {
    // gpt-4o-mini: $0.15/M input, $0.075/M cached, $0.60/M output.
    // 600 uncached × 0.15/1e6 = 0.00009; 400 cached × 0.075/1e6 = 0.00003; 500 × 0.6/1e6 = 0.0003.
    const cost = costUsd(price('openai', 'gpt-4o-mini'), {
      promptTokens: 1000,
      cachedPromptTokens: 400,
      completionTokens: 500,
    });
    assert.equal(cost, 0.00042);

    // claude-3.5-sonnet: $3/M input, $0.30/M cache hits, $15/M output.
    // 2,000 × 3/1e6 = 0.006; 8,000 × 0.3/1e6 = 0.0024; 1,000 × 15/1e6 = 0.015.
    const claude = costUsd(price('anthropic', 'claude-3.5-sonnet'), {
      promptTokens: 10_000,
      cachedPromptTokens: 8_000,
      completionTokens: 1_000,
    });
    assert.equal(claude, 0.0234);
  });

  it('bills cached tokens at the input price when there is no cached price', () => {
    // gpt-4-turbo: $10/M input (no cache discount), $30/M output.
    // 2,000 × 10/1e6 = 0.02 (cached or not); 100 × 30/1e6 = 0.003.
    const cost = costUsd(price('openai', 'gpt-4-turbo'), {
      promptTokens: 2000,
      cachedPromptTokens: 1500,
      completionTokens: 100,
    });
    assert.equal(cost, 0.023);
  });

  it('handles usage without cached tokens, and free models', () => {
    // One million tokens each way of gpt-4o-mini: 0.15 + 0.60.
    assert.equal(
      costUsd(price('openai', 'gpt-4o-mini'), { promptTokens: 1_000_000, completionTokens: 1_000_000 }),
      0.75,
    );
    assert.equal(costUsd(price('nexus-demo', 'echo'), { promptTokens: 123, completionTokens: 456 }), 0);
  });

  it('does not drift like naive floating point, and rounds to 10 decimal places', () => {
    const pricing = {
      inputPerMillion: 0.1,
      outputPerMillion: 0.2,
      cachedInputPerMillion: null,
      cacheWriteInputPerMillion: null,
    };
    // 0.1/1e6 + 0.2/1e6 is 3.0000000000000004e-7 in floating point; the bill is exactly $0.0000003.
    assert.equal(costUsd(pricing, { promptTokens: 1, completionTokens: 1 }), 0.0000003);
    // 7 tokens at $0.000001/M = 7e-12 USD, below the 1e-10 step: rounds to 0; 5e-11 rounds half up.
    assert.equal(
      costUsd({ ...pricing, inputPerMillion: 0.000001 }, { promptTokens: 7, completionTokens: 0 }),
      0,
    );
    assert.equal(
      costUsd({ ...pricing, inputPerMillion: 0.00005 }, { promptTokens: 1, completionTokens: 0 }),
      0.0000000001,
    );
    // 3 × $0.10 per million tokens, a million times over: exactly $0.3, not 0.30000000000000004.
    assert.equal(costUsd(pricing, { promptTokens: 3_000_000, completionTokens: 0 }), 0.3);
  });

  it('rejects impossible usage', () => {
    const pricing = price('openai', 'gpt-4o-mini');
    assert.throws(
      () => costUsd(pricing, { promptTokens: 10, cachedPromptTokens: 11, completionTokens: 0 }),
      RangeError,
    );
    assert.throws(() => costUsd(pricing, { promptTokens: -1, completionTokens: 0 }), RangeError);
    assert.throws(() => costUsd(pricing, { promptTokens: 1.5, completionTokens: 0 }), RangeError);
    assert.throws(() => costUsd(pricing, { promptTokens: 1, completionTokens: Number.NaN }), RangeError);
  });
});

describe('cache-write pricing', () => {
  it('bills cache writes at their own price, reads at theirs, and the rest at the input price', () => {
    // Claude Sonnet-style prices, USD per million: input 3, output 15, cache read 0.3, cache write 3.75.
    const pricing = {
      inputPerMillion: 3,
      outputPerMillion: 15,
      cachedInputPerMillion: 0.3,
      cacheWriteInputPerMillion: 3.75,
    };
    const cost = costUsd(pricing, {
      promptTokens: 10_000,
      completionTokens: 1_000,
      cachedPromptTokens: 4_000,
      cacheWriteTokens: 2_000,
    });
    // 4,000 plain input × 3 + 4,000 read × 0.3 + 2,000 written × 3.75 + 1,000 output × 15, per million.
    const expected = (4_000 * 3 + 4_000 * 0.3 + 2_000 * 3.75 + 1_000 * 15) / 1_000_000;
    assert.equal(cost, Number(expected.toFixed(10)));
  });

  it('refuses reads plus writes that exceed the prompt', () => {
    const pricing = {
      inputPerMillion: 3,
      outputPerMillion: 15,
      cachedInputPerMillion: 0.3,
      cacheWriteInputPerMillion: 3.75,
    };
    assert.throws(
      () =>
        costUsd(pricing, {
          promptTokens: 10,
          completionTokens: 0,
          cachedPromptTokens: 6,
          cacheWriteTokens: 5,
        }),
      RangeError,
    );
  });
});
