import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadCatalog } from '../../src/catalog/load.ts';
import type { ProviderSpec } from '../../src/catalog/types.ts';
import type { NexusError } from '../../src/core/errors.ts';
import { azureErrors } from '../../src/providers/azure/errors.ts';
import {
  azureEndpoint,
  azureHeaders,
  buildAzureChatBody,
  buildAzureEmbeddingsBody,
  defaultAzureApiVersion,
} from '../../src/providers/azure/request.ts';
import { errorMessageOfText, upstreamHeaders } from '../../src/providers/shared/upstream-exchange.ts';
import type { ProviderInstance, UpstreamTarget, Warning } from '../../src/providers/types.ts';

const azure = loadCatalog().providers.get('azure');
assert.ok(azure);

function target(
  instance: Partial<ProviderInstance> = {},
  model = 'gpt-4o-prod',
  provider: ProviderSpec = azure as ProviderSpec,
): UpstreamTarget {
  return {
    instance: {
      id: 'azure#1',
      name: 'Azure OpenAI (Key #1)',
      provider,
      baseUrl: 'https://contoso.openai.azure.com',
      apiKey: 'azure-key',
      apiVersion: undefined,
      headers: {},
      ...instance,
    },
    model,
    deployment: 'azure#1/deployment',
    modelSpec: undefined,
  };
}

describe('Azure endpoint URLs', () => {
  it('builds the deployment URL with the default api-version from the resource endpoint', () => {
    assert.equal(defaultAzureApiVersion, '2024-10-21');
    assert.deepEqual(azureEndpoint(target(), 'chat/completions'), {
      url: 'https://contoso.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21',
      v1: false,
    });
    assert.equal(
      azureEndpoint(target(), 'embeddings').url,
      'https://contoso.openai.azure.com/openai/deployments/gpt-4o-prod/embeddings?api-version=2024-10-21',
    );
  });

  it('accepts a base URL that already ends in /openai, the configured version, and escapes the deployment', () => {
    const endpoint = azureEndpoint(
      target(
        { baseUrl: 'https://contoso.openai.azure.com/openai/', apiVersion: '2025-04-01-preview' },
        'my model/v2',
      ),
      'chat/completions',
    );

    assert.equal(
      endpoint.url,
      'https://contoso.openai.azure.com/openai/deployments/my%20model%2Fv2/chat/completions?api-version=2025-04-01-preview',
    );
  });

  it('uses the v1 form, without api-version, when the base URL ends in /openai/v1', () => {
    const endpoint = azureEndpoint(
      target({ baseUrl: 'https://contoso.openai.azure.com/openai/v1', apiVersion: '2024-10-21' }),
      'chat/completions',
    );

    assert.deepEqual(endpoint, {
      url: 'https://contoso.openai.azure.com/openai/v1/chat/completions',
      v1: true,
    });
  });

  it('refuses an instance without an endpoint, naming AZURE_BASE_URL', () => {
    assert.throws(
      () => azureEndpoint(target({ baseUrl: '' }), 'chat/completions'),
      (error: NexusError) => error.code === 'provider_not_configured' && /AZURE_BASE_URL/.test(error.message),
    );
  });
});

describe('Azure headers and bodies', () => {
  it('authenticates with api-key, never a Bearer token, and keeps configured headers', () => {
    const instance = target({ headers: { 'x-ms-client-request-id': 'abc' } });
    const headers = upstreamHeaders(instance, 'text/event-stream', azureHeaders(instance));

    assert.deepEqual(headers, {
      'x-ms-client-request-id': 'abc',
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'api-key': 'azure-key',
    });
  });

  it('sends the OpenAI body without model to a deployment, and with it to v1', () => {
    const request = {
      model: 'azure/gpt-4o-prod',
      messages: [{ role: 'user' as const, content: 'hi' }],
      temperature: 0.2,
      max_tokens: 10,
      tools: [{ type: 'function', function: { name: 'f' } }],
    };
    const warnings: Warning[] = [];
    const deployment = buildAzureChatBody(
      target(),
      request,
      azureEndpoint(target(), 'chat/completions'),
      warnings,
    );
    const v1Target = target({ baseUrl: 'https://contoso.openai.azure.com/openai/v1' });
    const v1 = buildAzureChatBody(v1Target, request, azureEndpoint(v1Target, 'chat/completions'), warnings);

    const { model: _model, ...rest } = request;
    assert.deepEqual(deployment, rest);
    assert.deepEqual(v1, { ...rest, model: 'gpt-4o-prod' });
    assert.deepEqual(warnings, []);
  });

  it('always asks a stream for its usage chunk, keeping the client’s other stream options', () => {
    const body = buildAzureChatBody(
      target(),
      { model: 'm', messages: [], stream: true, stream_options: { include_obfuscation: false } },
      azureEndpoint(target(), 'chat/completions'),
      [],
    );

    assert.deepEqual(body.stream_options, { include_obfuscation: false, include_usage: true });
  });

  it('applies the catalogue quirks as for any OpenAI-compatible provider, with warnings', () => {
    const quirky: ProviderSpec = {
      ...(azure as ProviderSpec),
      quirks: {
        ...(azure as ProviderSpec).quirks,
        unsupportedParams: ['logit_bias'],
        maxTokensField: 'max_tokens',
        supportsStreamUsage: false,
      },
    };
    const instance = target({}, 'gpt-4o-prod', quirky);
    const warnings: Warning[] = [];
    const body = buildAzureChatBody(
      instance,
      {
        model: 'm',
        messages: [],
        logit_bias: { 1: 2 },
        max_completion_tokens: 5,
        stream: true,
        stream_options: { include_usage: true },
      },
      azureEndpoint(instance, 'chat/completions'),
      warnings,
    );

    assert.deepEqual(body, { messages: [], max_tokens: 5, stream: true });
    assert.deepEqual(
      warnings.map((warning) => warning.param),
      ['logit_bias', 'max_completion_tokens', 'stream_options'],
    );
  });

  it('sends embeddings without model to a deployment', () => {
    const body = buildAzureEmbeddingsBody(
      target({}, 'embed-small'),
      { model: 'azure/embed-small', input: ['a'], encoding_format: 'base64', dimensions: 256 },
      azureEndpoint(target({}, 'embed-small'), 'embeddings'),
    );

    assert.deepEqual(body, { input: ['a'], encoding_format: 'base64', dimensions: 256 });
  });
});

describe('Azure error messages', () => {
  const azureErrorMessage = (text: string) => errorMessageOfText(azureErrors, text);

  it('keeps the content_filter code visible and reads plain errors and non-JSON bodies', () => {
    const filtered = JSON.stringify({
      error: {
        message:
          "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        type: null,
        param: 'prompt',
        code: 'content_filter',
        status: 400,
        innererror: { code: 'ResponsibleAIPolicyViolation' },
      },
    });

    assert.match(azureErrorMessage(filtered), /content management policy\.\s\(content_filter\)$/);
    assert.equal(
      azureErrorMessage(
        JSON.stringify({
          error: { code: 'DeploymentNotFound', message: 'The API deployment does not exist.' },
        }),
      ),
      'The API deployment does not exist.',
    );
    assert.equal(azureErrorMessage('  upstream connect error  '), 'upstream connect error');
  });
});
