/**
 * Proves the fake Azure OpenAI resource against the official `openai` SDK's `AzureOpenAI` client: the SDK
 * builds the deployment URL, api-version and `api-key` header itself, so if it talks to the fake, the fake
 * serves Azure's routes; and it parses the Azure-specific annotations the fake adds.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import OpenAI, { AzureOpenAI } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { azureContentFilterError, type FakeAzure, startFakeAzure } from '../support/fake-azure.ts';
import { fakeEmbedding } from '../support/fake-openai.ts';

const limits = { timeout: 10_000 };
const apiKey = 'azure-test-key';
const apiVersion = '2024-10-21';
const messages = [{ role: 'user' as const, content: 'hello there fake' }];

let fake: FakeAzure;

beforeEach(async () => {
  fake = await startFakeAzure({ apiKey });
});

afterEach(async () => {
  await fake.close();
});

function sdk(deployment = 'gpt-4o-prod', key = apiKey): AzureOpenAI {
  return new AzureOpenAI({
    apiKey: key,
    endpoint: fake.origin,
    apiVersion,
    deployment,
    maxRetries: 0,
    timeout: 5000,
  });
}

describe('chat', () => {
  test('a completion goes to the deployment URL with api-version and api-key', limits, async () => {
    const completion = await sdk().chat.completions.create({ model: 'gpt-4o', messages });

    assert.equal(completion.choices[0]?.message.content, 'Echo: hello there fake');
    assert.equal(completion.choices[0]?.finish_reason, 'stop');
    assert.equal(completion.model, 'gpt-4o-2024-08-06', 'Azure reports the deployed model');
    assert.equal(completion.usage?.total_tokens, 7);
    const extra = completion as unknown as { prompt_filter_results: unknown[] };
    assert.equal(extra.prompt_filter_results.length, 1);
    const [call] = fake.calls;
    assert.equal(call?.path, '/openai/deployments/gpt-4o-prod/chat/completions');
    assert.equal(call?.apiVersion, apiVersion);
    assert.equal(call?.headers['api-key'], apiKey);
    assert.equal(call?.headers.authorization, undefined);
  });

  test('a stream opens with the prompt-filter chunk and ends with usage', limits, async () => {
    const chunks: ChatCompletionChunk[] = [];
    const stream = await sdk().chat.completions.create({
      model: 'gpt-4o',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of stream) chunks.push(chunk);

    const first = chunks[0] as unknown as { id: string; object: string; prompt_filter_results: unknown[] };
    assert.deepEqual([first.id, first.object, chunks[0]?.choices], ['', '', []]);
    assert.equal(first.prompt_filter_results.length, 1);
    const text = chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, 'Echo: hello there fake');
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
    assert.equal(chunks.at(-1)?.usage?.total_tokens, 7);
  });

  test('tool calls stream in fragments that the SDK helper reassembles', limits, async () => {
    fake.setReply({
      toolCalls: [
        { id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { id: 'call_b', name: 'get_time', arguments: '{"timezone":"Europe/Paris"}' },
      ],
    });

    const completion = await sdk()
      .chat.completions.stream({ model: 'gpt-4o', messages })
      .finalChatCompletion();

    assert.equal(completion.choices[0]?.finish_reason, 'tool_calls');
    assert.deepEqual(
      completion.choices[0]?.message.tool_calls?.map((call) =>
        call.type === 'function' ? [call.id, call.function.name, JSON.parse(call.function.arguments)] : [],
      ),
      [
        ['call_a', 'get_weather', { city: 'Paris' }],
        ['call_b', 'get_time', { timezone: 'Europe/Paris' }],
      ],
    );
  });

  test('the asynchronous filter sends annotation chunks without delta', limits, async () => {
    await fake.close();
    fake = await startFakeAzure({ apiKey, asynchronousFilter: true });
    fake.setReply({ text: 'some words', finishReason: 'content_filter' });

    const response = await sdk()
      .chat.completions.create({ model: 'gpt-4o', messages, stream: true })
      .asResponse();
    const body = await response.text();

    const chunks = body
      .split('\n\n')
      .filter((line) => line.startsWith('data: {'))
      .map((line) => JSON.parse(line.slice(6)) as { id: string; choices: Array<Record<string, unknown>> });
    const annotations = chunks.filter((chunk) => chunk.choices.some((choice) => !('delta' in choice)));
    assert.equal(annotations.length, 2);
    assert.equal(annotations.at(-1)?.choices[0]?.finish_reason, 'content_filter');
    assert.equal(annotations.at(-1)?.id, '');
  });
});

describe('embeddings', () => {
  test('the SDK default (base64) and float agree; the model is the deployed one', limits, async () => {
    const client = sdk('embed-small');

    const decoded = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['alpha', 'beta'],
    });
    const floats = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'alpha',
      encoding_format: 'float',
    });

    assert.deepEqual(decoded.data[1]?.embedding, fakeEmbedding('beta', 16));
    assert.deepEqual(floats.data[0]?.embedding, decoded.data[0]?.embedding);
    assert.equal(floats.model, 'text-embedding-3-small');
    assert.equal(fake.calls[0]?.path, '/openai/deployments/embed-small/embeddings');
  });
});

describe('errors', () => {
  test('a content-filter rejection is a BadRequestError with code content_filter', limits, async () => {
    fake.enqueue({ kind: 'status', status: 400, body: azureContentFilterError() });

    const error = await sdk()
      .chat.completions.create({ model: 'gpt-4o', messages })
      .catch((caught: unknown) => caught);

    assert.ok(error instanceof OpenAI.BadRequestError);
    assert.equal(error.code, 'content_filter');
    assert.equal(error.param, 'prompt');
  });

  test('a 429 is a RateLimitError with retry-after; a wrong key an AuthenticationError', limits, async () => {
    fake.enqueue({ kind: 'status', status: 429 });

    const limited = await sdk()
      .chat.completions.create({ model: 'gpt-4o', messages })
      .catch((caught: unknown) => caught);
    const denied = await sdk('gpt-4o-prod', 'wrong')
      .chat.completions.create({ model: 'gpt-4o', messages })
      .catch((caught: unknown) => caught);

    assert.ok(limited instanceof OpenAI.RateLimitError);
    assert.equal(limited.headers.get('retry-after'), '6');
    assert.ok(denied instanceof OpenAI.AuthenticationError);
    assert.equal(denied.code, '401');
  });

  test('an unknown deployment and a call without api-version are 404s', limits, async () => {
    const unknown = await sdk('nope')
      .chat.completions.create({ model: 'gpt-4o', messages })
      .catch((caught: unknown) => caught);
    const unversioned = await fetch(`${fake.origin}/openai/deployments/gpt-4o-prod/chat/completions`, {
      method: 'POST',
      headers: { 'api-key': apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ messages }),
      signal: AbortSignal.timeout(5000),
    });

    assert.ok(unknown instanceof OpenAI.NotFoundError);
    assert.equal(unknown.code, 'DeploymentNotFound');
    assert.equal(unversioned.status, 404);
    await unversioned.body?.cancel();
  });

  test('the v1 route takes the deployment from the body', limits, async () => {
    const client = new OpenAI({ apiKey, baseURL: fake.v1Url, maxRetries: 0, timeout: 5000 });
    // The v1 API authenticates with api-key as well as Bearer; the fake checks api-key only.
    const completion = await client.chat.completions.create(
      { model: 'gpt-4o-prod', messages },
      { headers: { 'api-key': apiKey } },
    );

    assert.equal(completion.model, 'gpt-4o-2024-08-06');
    assert.equal(fake.calls[0]?.deployment, 'gpt-4o-prod');
    assert.equal(fake.calls[0]?.apiVersion, null);
  });
});
