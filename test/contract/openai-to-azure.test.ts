/**
 * The official `openai` SDK → Nexus → the fake Azure OpenAI resource on a real socket: Nexus must call the
 * deployment URL with the api-version and `api-key`, hide Azure's content-filter annotations from OpenAI
 * clients, pass a filtered completion's finish reason on, and fail fast on a content-filter rejection.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import {
  azureContentFilterError,
  type FakeAzure,
  type RecordedCall,
  startFakeAzure,
} from '../support/fake-azure.ts';
import { fakeEmbedding } from '../support/fake-openai.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { endsWithDone, readSse, sseJson } from '../support/sse.ts';

const upstreamKey = '0123456789abcdef0123456789abcdef';
const limits = { timeout: 10_000 };
const model = 'azure/gpt-4o-prod';
const messages = [{ role: 'user' as const, content: 'hello there nexus' }];
const weather = { id: 'call_weather', name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' };
const time = { id: 'call_time', name: 'get_time', arguments: '{"timezone":"Europe/Paris"}' };

function sdk(gateway: TestGateway): OpenAI {
  return new OpenAI({ apiKey: 'unused', baseURL: gateway.baseURL, maxRetries: 0, timeout: 5000 });
}

async function drain(stream: AsyncIterable<ChatCompletionChunk>) {
  const chunks: ChatCompletionChunk[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
    return { chunks, error: undefined };
  } catch (error) {
    return { chunks, error };
  }
}

async function rawStream(gateway: TestGateway, body: unknown) {
  const response = await fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  return { response, ...(await readSse(response)) };
}

function bodyOf(call: RecordedCall | undefined): Record<string, unknown> {
  assert.ok(call !== undefined, 'the upstream received the call');
  return call.body as Record<string, unknown>;
}

function toolCallsOf(message: OpenAI.Chat.ChatCompletionMessage | undefined) {
  return (message?.tool_calls ?? []).map((call) =>
    call.type === 'function' ? [call.id, call.function.name, call.function.arguments] : [],
  );
}

describe('OpenAI SDK → Nexus → Azure OpenAI (deployment URLs)', () => {
  let fake: FakeAzure;
  let gateway: TestGateway;
  let client: OpenAI;

  before(async () => {
    fake = await startFakeAzure({ apiKey: upstreamKey });
    gateway = await startGateway({ AZURE_API_KEY: upstreamKey, AZURE_BASE_URL: fake.origin });
    client = sdk(gateway);
  });

  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  beforeEach(() => fake.reset());

  test('a chat goes to the deployment with api-version and api-key, without model', limits, async () => {
    const { data, response } = await client.chat.completions.create({ model, messages }).withResponse();

    assert.equal(data.choices[0]?.message.content, 'Echo: hello there nexus');
    assert.equal(data.choices[0]?.finish_reason, 'stop');
    assert.equal(data.model, 'gpt-4o-2024-08-06', 'the real model Azure deployed');
    assert.deepEqual(
      [data.usage?.prompt_tokens, data.usage?.completion_tokens, data.usage?.total_tokens],
      [3, 4, 7],
    );
    assert.equal(response.headers.get('x-nexus-provider'), 'Azure OpenAI (Key #1)');
    const [call] = fake.calls;
    assert.equal(call?.path, '/openai/deployments/gpt-4o-prod/chat/completions');
    assert.equal(call?.apiVersion, '2024-10-21');
    assert.equal(call?.headers['api-key'], upstreamKey);
    assert.equal(call?.headers.authorization, undefined);
    assert.deepEqual(bodyOf(call), { messages, stream: false });
  });

  test('usage is exact, cached prompt tokens included', limits, async () => {
    fake.setReply({
      text: 'Cached.',
      usage: { prompt_tokens: 2048, completion_tokens: 12, prompt_tokens_details: { cached_tokens: 1024 } },
    });

    const completion = await client.chat.completions.create({ model, messages });

    assert.equal(completion.usage?.prompt_tokens, 2048);
    assert.equal(completion.usage?.total_tokens, 2060);
    assert.equal(completion.usage?.prompt_tokens_details?.cached_tokens, 1024);
  });

  test('a stream hides the prompt-filter chunk and carries usage only when asked', limits, async () => {
    const asked = await drain(
      await client.chat.completions.create({
        model,
        messages,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const unasked = await drain(await client.chat.completions.create({ model, messages, stream: true }));

    assert.equal(asked.error, undefined);
    assert.equal(
      asked.chunks[0]?.choices[0]?.delta.role,
      'assistant',
      'the first chunk is the role, not a filter result',
    );
    assert.ok(asked.chunks.every((chunk) => chunk.id !== '' && chunk.object === 'chat.completion.chunk'));
    assert.equal(
      asked.chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''),
      'Echo: hello there nexus',
    );
    assert.equal(asked.chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(asked.chunks.at(-1)?.choices, []);
    assert.equal(asked.chunks.at(-1)?.usage?.total_tokens, 7);
    assert.ok(unasked.chunks.every((chunk) => chunk.choices.length === 1));
    assert.equal(unasked.chunks.at(-1)?.choices[0]?.finish_reason, 'stop');
    // Nexus always asks Azure for usage so that accounting has real counts.
    assert.deepEqual(bodyOf(fake.calls[1]).stream_options, { include_usage: true });

    const raw = await rawStream(gateway, { model, messages, stream: true });
    assert.equal(raw.error, undefined);
    assert.ok(endsWithDone(raw.events));
  });

  test('two tool calls in one turn, streamed and not, arrive with identical arguments', limits, async () => {
    fake.setReply({ toolCalls: [weather, time] });
    const tools = [
      { type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object' } } },
      { type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object' } } },
    ];

    const plain = await client.chat.completions.create({ model, messages, tools });
    const streamed = await client.chat.completions.stream({ model, messages, tools }).finalChatCompletion();

    const expected = [
      [weather.id, weather.name, weather.arguments],
      [time.id, time.name, time.arguments],
    ];
    assert.deepEqual(toolCallsOf(plain.choices[0]?.message), expected);
    assert.deepEqual(toolCallsOf(streamed.choices[0]?.message), expected);
    assert.equal(streamed.choices[0]?.finish_reason, 'tool_calls');
    assert.deepEqual(bodyOf(fake.calls[0]).tools, tools);
  });

  test('an image part passes through unchanged', limits, async () => {
    const content = [
      { type: 'text' as const, text: 'Describe' },
      {
        type: 'image_url' as const,
        image_url: { url: 'https://example.com/cat.png', detail: 'high' as const },
      },
    ];

    const completion = await client.chat.completions.create({ model, messages: [{ role: 'user', content }] });

    assert.equal(completion.choices[0]?.message.content, 'Echo: Describe');
    assert.deepEqual((bodyOf(fake.calls[0]).messages as Array<{ content: unknown }>)[0]?.content, content);
  });

  test('a content-filter rejection is a BadRequestError, not retried', limits, async () => {
    fake.enqueue({ kind: 'status', status: 400, body: azureContentFilterError() });

    const error = await client.chat.completions
      .create({ model, messages })
      .catch((caught: unknown) => caught);

    assert.ok(error instanceof OpenAI.BadRequestError);
    assert.equal(error.code, 'upstream_bad_request');
    assert.match(error.message, /content management policy.*\(content_filter\)/);
    assert.equal(fake.calls.length, 1);
  });

  test('a filtered completion keeps finish_reason content_filter', limits, async () => {
    fake.setReply({ text: 'Partial', finishReason: 'content_filter' });

    const plain = await client.chat.completions.create({ model, messages });
    const { chunks, error } = await drain(
      await client.chat.completions.create({ model, messages, stream: true }),
    );

    assert.equal(plain.choices[0]?.finish_reason, 'content_filter');
    assert.equal(error, undefined);
    assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'content_filter');
  });

  test('429 is a RateLimitError carrying Azure’s retry-after', limits, async () => {
    fake.enqueue({ kind: 'status', status: 429 });

    const error = await client.chat.completions
      .create({ model, messages })
      .catch((caught: unknown) => caught);

    assert.ok(error instanceof OpenAI.RateLimitError);
    assert.equal(error.headers.get('retry-after'), '6');
    assert.match(error.message, /exceeded token rate limit/);
  });

  test('embeddings (float and base64) use the embeddings deployment', limits, async () => {
    const input = ['alpha', 'beta gamma'];
    const floats = await client.embeddings.create({
      model: 'azure/embed-small',
      input,
      encoding_format: 'float',
    });
    const decoded = await client.embeddings.create({ model: 'azure/embed-small', input });

    assert.deepEqual(
      floats.data.map((item) => item.embedding),
      input.map((text) => fakeEmbedding(text, 16)),
    );
    assert.deepEqual(
      decoded.data.map((item) => item.embedding),
      floats.data.map((item) => item.embedding),
    );
    assert.deepEqual(floats.usage, { prompt_tokens: 3, total_tokens: 3 });
    assert.equal(fake.calls[0]?.path, '/openai/deployments/embed-small/embeddings');
    assert.deepEqual(bodyOf(fake.calls[1]), { input, encoding_format: 'base64' });
  });

  test('the logs never contain the Azure key', () => {
    assert.ok(gateway.logs.length > 0);
    assert.ok(!gateway.logs.join('\n').includes(upstreamKey));
  });
});

// A fresh gateway: broken streams count against the instance's circuit breaker.
describe('OpenAI SDK → Nexus → Azure OpenAI: a broken stream', () => {
  let fake: FakeAzure;
  let gateway: TestGateway;
  let client: OpenAI;

  before(async () => {
    fake = await startFakeAzure({ apiKey: upstreamKey });
    gateway = await startGateway({ AZURE_API_KEY: upstreamKey, AZURE_BASE_URL: fake.origin });
    client = sdk(gateway);
  });

  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  test('a cut stream ends with an error event and no [DONE]; the SDK throws', limits, async () => {
    fake.setReply({ text: 'one two three four five six' });
    fake.enqueue({ kind: 'cut', afterChunks: 4 });
    const { chunks, error } = await drain(
      await client.chat.completions.create({ model, messages, stream: true }),
    );
    assert.ok(error instanceof OpenAI.APIError, `the SDK throws an APIError, got ${String(error)}`);
    assert.ok(chunks.length > 0);

    fake.enqueue({ kind: 'cut', afterChunks: 4 });
    const raw = await rawStream(gateway, { model, messages, stream: true });
    assert.equal(raw.response.status, 200);
    assert.ok(!raw.events.some((event) => event.data === '[DONE]'));
    const last = JSON.parse(raw.events.at(-1)?.data ?? '{}') as { error?: { code?: string } };
    assert.equal(last.error?.code, 'stream_interrupted');
    assert.ok(
      sseJson<ChatCompletionChunk>(raw.events.slice(0, -1)).every(
        (chunk) => chunk.choices[0]?.finish_reason == null,
      ),
    );
  });
});

describe('Azure OpenAI with AZURE_API_VERSION, catalogue quirks and the asynchronous filter', () => {
  let fake: FakeAzure;
  let gateway: TestGateway;
  let directory: string;

  before(async () => {
    fake = await startFakeAzure({ apiKey: upstreamKey, asynchronousFilter: true });
    directory = mkdtempSync(join(tmpdir(), 'nexus-azure-'));
    const config = join(directory, 'nexus.yaml');
    writeFileSync(
      config,
      'catalog:\n  providers:\n    - id: azure\n      quirks:\n        unsupportedParams: [logit_bias]\n',
    );
    gateway = await startGateway({
      AZURE_API_KEY: upstreamKey,
      AZURE_BASE_URL: `${fake.origin}/openai/`,
      AZURE_API_VERSION: '2025-04-01-preview',
      NEXUS_CONFIG: config,
    });
  });

  after(async () => {
    await gateway?.close();
    await fake?.close();
    rmSync(directory, { recursive: true, force: true });
  });

  test('the configured api-version is used and a base URL ending in /openai works', limits, async () => {
    await sdk(gateway).chat.completions.create({ model, messages });

    assert.equal(fake.calls[0]?.path, '/openai/deployments/gpt-4o-prod/chat/completions');
    assert.equal(fake.calls[0]?.apiVersion, '2025-04-01-preview');
  });

  test('a parameter the catalogue marks unsupported is dropped with a warning header', limits, async () => {
    fake.reset();
    const { response } = await sdk(gateway)
      .chat.completions.create({ model, messages, logit_bias: { '50256': -100 } })
      .withResponse();

    assert.match(response.headers.get('x-nexus-warnings') ?? '', /does not support 'logit_bias'/);
    assert.equal(bodyOf(fake.calls[0]).logit_bias, undefined);
  });

  test('annotation chunks are hidden and a filtered finish arrives as a proper chunk', limits, async () => {
    fake.setReply({ text: 'Hey Jude, don’t make it bad', finishReason: 'content_filter' });
    const runner = sdk(gateway).chat.completions.stream({ model, messages });
    const chunks: ChatCompletionChunk[] = [];
    runner.on('chunk', (chunk) => chunks.push(chunk));

    const completion = await runner.finalChatCompletion();

    assert.equal(completion.choices[0]?.finish_reason, 'content_filter');
    assert.equal(completion.choices[0]?.message.content, 'Hey Jude, don’t make it bad');
    assert.ok(chunks.every((chunk) => chunk.choices.every((choice) => choice.delta !== undefined)));
    const finish = chunks.at(-1);
    assert.deepEqual(finish?.choices[0]?.delta, {});
    assert.equal(finish?.id, chunks[0]?.id, 'the re-sent finish carries the stream’s id');
    assert.equal(finish?.model, 'gpt-4o-2024-08-06');
  });
});

describe('Azure OpenAI v1 endpoint (AZURE_BASE_URL ending in /openai/v1)', () => {
  let fake: FakeAzure;
  let gateway: TestGateway;

  before(async () => {
    fake = await startFakeAzure({ apiKey: upstreamKey });
    gateway = await startGateway({ AZURE_API_KEY: upstreamKey, AZURE_BASE_URL: fake.v1Url });
  });

  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  test(
    'calls /openai/v1/chat/completions with the deployment as model and no api-version',
    limits,
    async () => {
      const completion = await sdk(gateway).chat.completions.create({ model, messages });
      const embeddings = await sdk(gateway).embeddings.create({ model: 'azure/embed-small', input: 'x' });

      assert.equal(completion.choices[0]?.message.content, 'Echo: hello there nexus');
      assert.equal(embeddings.data.length, 1);
      assert.deepEqual(
        fake.calls.map((call) => [call.path, call.apiVersion, bodyOf(call).model, call.headers['api-key']]),
        [
          ['/openai/v1/chat/completions', null, 'gpt-4o-prod', upstreamKey],
          ['/openai/v1/embeddings', null, 'embed-small', upstreamKey],
        ],
      );
    },
  );
});

describe('Azure OpenAI with a key but no AZURE_BASE_URL', () => {
  let gateway: TestGateway;

  before(async () => {
    gateway = await startGateway({ AZURE_API_KEY: upstreamKey });
  });

  after(async () => {
    await gateway?.close();
  });

  test('is a clear provider_not_configured error naming AZURE_BASE_URL', limits, async () => {
    const error = await sdk(gateway)
      .chat.completions.create({ model, messages })
      .catch((caught: unknown) => caught);

    assert.ok(error instanceof OpenAI.BadRequestError);
    assert.equal(error.code, 'provider_not_configured');
    assert.match(error.message, /AZURE_BASE_URL/);
  });
});
