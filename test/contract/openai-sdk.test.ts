/**
 * The official `openai` SDK pointed at Nexus, with the fake OpenAI provider behind it on a real socket: what
 * the SDK sees must be what OpenAI itself would have sent, errors must land in the SDK's own classes, and a
 * broken upstream must never look like a complete answer.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { loadCatalog } from '../../src/catalog/load.ts';
import {
  type FakeOpenAI,
  fakeEmbedding,
  type RecordedCall,
  startFakeOpenAI,
} from '../support/fake-openai.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { endsWithDone, readSse, type SseEvent, sseJson } from '../support/sse.ts';

const upstreamKey = 'sk-test-upstream-secret';
const masterKey = 'nexus-master-key-for-tests';
const limits = { timeout: 10_000 };
const model = 'gpt-4o-mini';
const messages = [{ role: 'user' as const, content: 'hello there nexus' }];

function sdk(gateway: TestGateway, apiKey = 'unused-without-master-key'): OpenAI {
  return new OpenAI({ apiKey, baseURL: gateway.baseURL, maxRetries: 0, timeout: 5000, logLevel: 'off' });
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

/** POSTs a chat body with fetch and reads the raw SSE reply; a hang fails after 5 s instead of stalling. */
async function rawStream(gateway: TestGateway, body: unknown) {
  const response = await fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const { events, error } = await readSse(response);
  return { response, events, error };
}

/** The stream ended with one OpenAI error event and no `[DONE]`. */
function assertEndsWithErrorEvent(events: SseEvent[]) {
  assert.ok(!events.some((event) => event.data === '[DONE]'), 'a broken stream never sends [DONE]');
  const last = JSON.parse(events.at(-1)?.data ?? '{}') as { error?: { code?: string; message?: string } };
  assert.ok(last.error !== undefined, `the last event is an error event, got ${events.at(-1)?.data}`);
  assert.equal(last.error.code, 'stream_interrupted');
  assert.equal(typeof last.error.message, 'string');
  const chunks = events.slice(0, -1).map((event) => JSON.parse(event.data) as ChatCompletionChunk);
  assert.ok(
    chunks.every((chunk) => chunk.choices.every((choice) => choice.finish_reason === null)),
    'no chunk claims the answer finished',
  );
}

/** Waits until the fake has settled this call, bounded so a missing abort fails instead of stalling. */
async function settledWithin(call: RecordedCall, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`still ${call.outcome} after ${ms} ms`), ms);
  });
  try {
    return await Promise.race([call.settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The JSON body the fake received for this call; fails the test when the call never arrived. */
function bodyOf(call: RecordedCall | undefined): Record<string, unknown> {
  assert.ok(call !== undefined, 'the upstream received the call');
  return call.body as Record<string, unknown>;
}

function assertNoSecretIn(text: string, secret: string, where: string) {
  assert.ok(!text.includes(secret), `${where} must not contain the secret`);
}

describe('OpenAI SDK → Nexus → OpenAI', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;
  let client: OpenAI;

  before(async () => {
    fake = await startFakeOpenAI();
    // Protocol tests: failures here are deliberate and many, so keep breakers out of the way (resilience.test.ts covers them).
    gateway = await startGateway({
      OPENAI_API_KEY: upstreamKey,
      OPENAI_BASE_URL: fake.url,
      CIRCUIT_BREAKER_THRESHOLD: '1000',
    });
    client = sdk(gateway);
  });

  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  beforeEach(() => fake.reset());

  test(
    'a non-stream chat returns the upstream content, model and usage, with Nexus headers',
    limits,
    async () => {
      fake.setReply({
        text: 'Paris is the capital.',
        usage: { prompt_tokens: 1234, completion_tokens: 567 },
      });
      const { data, response } = await client.chat.completions.create({ model, messages }).withResponse();

      assert.equal(data.choices[0]?.message.content, 'Paris is the capital.');
      assert.equal(data.choices[0]?.finish_reason, 'stop');
      assert.equal(data.model, model);
      assert.equal(data.usage?.prompt_tokens, 1234);
      assert.equal(data.usage?.completion_tokens, 567);
      assert.equal(data.usage?.total_tokens, 1801);
      assert.match(response.headers.get('x-request-id') ?? '', /^[\w.:-]{8,128}$/);
      assert.equal(response.headers.get('x-nexus-provider'), 'OpenAI (Key #1)');
      assert.equal(response.headers.get('x-nexus-model'), model);

      const spec = loadCatalog().models.find((entry) => entry.provider === 'openai' && entry.id === model);
      assert.ok(spec !== undefined, 'gpt-4o-mini is catalogued for openai');
      const expected =
        (1234 * spec.pricing.inputPerMillion) / 1_000_000 + (567 * spec.pricing.outputPerMillion) / 1_000_000;
      const header = response.headers.get('x-nexus-cost-usd') ?? '';
      assert.match(header, /^\d+(\.\d+)?$/, 'a plain decimal string, never exponent notation');
      assert.ok(Math.abs(Number(header) - expected) < 1e-9, `cost ${header} should be ${expected}`);

      const [call] = fake.callsTo('/chat/completions');
      assert.equal(fake.calls.length, 1);
      assert.equal(call?.headers.authorization, `Bearer ${upstreamKey}`);
      const body = bodyOf(call);
      assert.equal(body.model, model);
      assert.deepEqual(body.messages, messages);
      assert.notEqual(body.stream, true);
    },
  );

  test('a client-sent x-request-id is echoed back', limits, async () => {
    const { response } = await client.chat.completions
      .create({ model, messages }, { headers: { 'x-request-id': 'client-trace-42' } })
      .withResponse();

    assert.equal(response.headers.get('x-request-id'), 'client-trace-42');
  });

  test(
    'a stream reassembles to the upstream text and ends with the usage chunk when asked',
    limits,
    async () => {
      fake.setReply({ text: 'One two three four five.', usage: { prompt_tokens: 9, completion_tokens: 5 } });
      const stream = await client.chat.completions.create({
        model,
        messages,
        stream: true,
        stream_options: { include_usage: true },
      });
      const { chunks, error } = await drain(stream);

      assert.equal(error, undefined);
      const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
      assert.equal(text, 'One two three four five.');
      const usageChunk = chunks.at(-1);
      assert.deepEqual(usageChunk?.choices, []);
      assert.equal(usageChunk?.usage?.prompt_tokens, 9);
      assert.equal(usageChunk?.usage?.completion_tokens, 5);
      assert.equal(usageChunk?.usage?.total_tokens, 14);
      assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
      assert.ok(chunks.every((chunk) => chunk.model === model));
    },
  );

  test(
    'without include_usage no usage-only chunk reaches the client, though Nexus asks upstream',
    limits,
    async () => {
      fake.setReply({ text: 'Short answer here.' });
      const { events, error, response } = await rawStream(gateway, { model, messages, stream: true });

      assert.equal(error, undefined);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.ok(endsWithDone(events));
      const chunks = sseJson<ChatCompletionChunk>(events);
      assert.ok(chunks.length > 0);
      assert.ok(
        chunks.every((chunk) => chunk.choices.length > 0),
        'every chunk carries a choice; the usage-only chunk is withheld',
      );
      assert.ok(chunks.every((chunk) => chunk.usage == null));
      assert.equal(
        chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''),
        'Short answer here.',
      );
      const [call] = fake.callsTo('/chat/completions');
      assert.deepEqual(bodyOf(call).stream_options, { include_usage: true });
    },
  );

  test('two parallel tool calls stream and reassemble with the SDK helper', limits, async () => {
    const weather = {
      id: 'call_weather_1',
      name: 'get_weather',
      arguments: '{"city":"Paris","unit":"celsius"}',
    };
    const time = {
      id: 'call_time_2',
      name: 'get_time',
      arguments: '{"timezone":"Europe/Paris","hour12":false}',
    };
    fake.setReply({ toolCalls: [weather, time] });
    const stream = client.chat.completions.stream({
      model,
      messages,
      tools: [
        { type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } },
        { type: 'function', function: { name: 'get_time', parameters: { type: 'object' } } },
      ],
      parallel_tool_calls: true,
    });
    const completion = await stream.finalChatCompletion();

    const choice = completion.choices[0];
    assert.equal(choice?.finish_reason, 'tool_calls');
    const calls = (choice?.message.tool_calls ?? []).map((call) => {
      assert.equal(call.type, 'function');
      return { id: call.id, name: call.function.name, arguments: call.function.arguments };
    });
    assert.deepEqual(calls, [weather, time]);
    assert.deepEqual(JSON.parse(calls[0]?.arguments ?? ''), { city: 'Paris', unit: 'celsius' });
    const [call] = fake.callsTo('/chat/completions');
    assert.equal(bodyOf(call).parallel_tool_calls, true);
  });

  test('non-stream tool calls come back as the upstream sent them', limits, async () => {
    const lookup = { id: 'call_lookup_9', name: 'lookup', arguments: '{"q":"nexus gateway","limit":3}' };
    fake.setReply({ toolCalls: [lookup] });
    const completion = await client.chat.completions.create({
      model,
      messages,
      tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }],
      tool_choice: 'required',
    });

    const choice = completion.choices[0];
    assert.equal(choice?.finish_reason, 'tool_calls');
    assert.equal(choice?.message.content, null);
    assert.deepEqual(choice?.message.tool_calls, [
      { id: lookup.id, type: 'function', function: { name: lookup.name, arguments: lookup.arguments } },
    ]);
  });

  test('image parts (data URL and https URL) reach the upstream unchanged', limits, async () => {
    const pixel =
      'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    const imageMessages = [
      {
        role: 'user' as const,
        content: [
          { type: 'text' as const, text: 'What is in these images?' },
          { type: 'image_url' as const, image_url: { url: pixel, detail: 'low' as const } },
          { type: 'image_url' as const, image_url: { url: 'https://example.com/cat.jpg?size=large&v=2' } },
        ],
      },
    ];
    const completion = await client.chat.completions.create({ model, messages: imageMessages });

    assert.equal(completion.choices[0]?.finish_reason, 'stop');
    const [call] = fake.callsTo('/chat/completions');
    assert.deepEqual(bodyOf(call).messages, imageMessages);
  });

  test('fields Nexus does not interpret pass through to the upstream untouched', limits, async () => {
    const extras = {
      seed: 42,
      logprobs: true,
      top_logprobs: 3,
      service_tier: 'flex',
      metadata: { team: 'search', ticket: 'NX-1' },
      user: 'user-1234',
      store: false,
      prediction: { type: 'content', content: 'predicted text' },
      some_future_field: { nested: [1, 'two', { three: null }] },
    };
    await client.chat.completions.create({
      model,
      messages,
      ...extras,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);

    const [call] = fake.callsTo('/chat/completions');
    const body = bodyOf(call);
    for (const [field, value] of Object.entries(extras)) assert.deepEqual(body[field], value, field);
  });

  test('float embeddings equal the upstream vectors', limits, async () => {
    const response = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'the quick brown fox',
      encoding_format: 'float',
    });

    assert.equal(response.object, 'list');
    assert.equal(response.model, 'text-embedding-3-small');
    assert.equal(response.data.length, 1);
    assert.deepEqual(response.data[0]?.embedding, fakeEmbedding('the quick brown fox', 16));
    assert.equal(response.usage.prompt_tokens, 4);
    const [call] = fake.callsTo('/embeddings');
    assert.equal(bodyOf(call).encoding_format, 'float');
  });

  test('base64 embeddings (the SDK default) decode to the upstream vectors', limits, async () => {
    const { data, response } = await client.embeddings
      .create({ model: 'text-embedding-3-small', input: 'base64 please' })
      .withResponse();

    assert.deepEqual(data.data[0]?.embedding, fakeEmbedding('base64 please', 16));
    assert.equal(response.headers.get('x-nexus-provider'), 'OpenAI (Key #1)');
    assert.equal(response.headers.get('x-nexus-model'), 'text-embedding-3-small');
    const [call] = fake.callsTo('/embeddings');
    assert.equal(bodyOf(call).encoding_format, 'base64');
  });

  test('array input and dimensions give one vector per input of that length', limits, async () => {
    const inputs = ['first input', 'second one here', 'third'];
    const response = await client.embeddings.create({
      model: 'openai/text-embedding-3-small',
      input: inputs,
      dimensions: 8,
    });

    assert.equal(response.data.length, 3);
    for (const [index, input] of inputs.entries()) {
      assert.equal(response.data[index]?.index, index);
      assert.deepEqual(response.data[index]?.embedding, fakeEmbedding(input, 8));
    }
    const [call] = fake.callsTo('/embeddings');
    const body = bodyOf(call);
    assert.deepEqual(body.input, inputs);
    assert.equal(body.dimensions, 8);
    assert.equal(body.model, 'text-embedding-3-small');
  });

  test('models list has catalogued ids, auto and instance names; retrieve finds one', limits, async () => {
    const page = await client.models.list();
    const ids = page.data.map((entry) => entry.id);

    assert.ok(ids.includes('openai/gpt-4o-mini'));
    assert.ok(ids.includes('auto'));
    assert.ok(ids.includes('OpenAI (Key #1)'));
    const retrieved = await client.models.retrieve('openai/gpt-4o-mini');
    assert.equal(retrieved.id, 'openai/gpt-4o-mini');
    assert.equal(retrieved.object, 'model');
    assert.equal(retrieved.owned_by, 'openai');
    const instance = await client.models.retrieve('OpenAI (Key #1)');
    assert.equal(instance.id, 'OpenAI (Key #1)');
    await assert.rejects(client.models.retrieve('openai/no-such-model-xyz'), OpenAI.NotFoundError);
    assert.equal(fake.calls.length, 0, 'the model list is served by Nexus, not the upstream');
  });

  test('an invalid body is a BadRequestError naming the parameter', limits, async () => {
    await assert.rejects(client.chat.completions.create({ model, messages, temperature: 5 }), (error) => {
      assert.ok(error instanceof OpenAI.BadRequestError);
      assert.equal(error.status, 400);
      assert.equal(error.code, 'invalid_request');
      assert.equal(error.param, 'temperature');
      assert.match(error.message, /temperature/);
      return true;
    });
    await assert.rejects(client.chat.completions.create({ model, messages: [] }), (error) => {
      assert.ok(error instanceof OpenAI.BadRequestError);
      assert.equal(error.param, 'messages');
      return true;
    });
    assert.equal(fake.calls.length, 0);
  });

  test('an unknown model is a NotFoundError', limits, async () => {
    await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages }), (error) => {
      assert.ok(error instanceof OpenAI.NotFoundError);
      assert.equal(error.code, 'model_not_found');
      assert.equal(error.param, 'model');
      assert.match(error.message, /no-such-model/);
      return true;
    });
    assert.equal(fake.calls.length, 0);
  });

  test('an upstream 429 is a RateLimitError and retry-after is passed on', limits, async () => {
    fake.setPersistentFault({ kind: 'status', status: 429, headers: { 'retry-after': '7' } });
    try {
      await assert.rejects(client.chat.completions.create({ model, messages }), (error) => {
        assert.ok(error instanceof OpenAI.RateLimitError);
        assert.equal(error.status, 429);
        assert.equal(error.code, 'upstream_rate_limited');
        assert.equal(error.headers?.get('retry-after'), '7');
        return true;
      });
    } finally {
      fake.setPersistentFault(null);
    }
  });

  for (const status of [500, 503]) {
    test(`an upstream ${status} is an InternalServerError`, limits, async () => {
      fake.setPersistentFault({ kind: 'status', status });
      try {
        await assert.rejects(client.chat.completions.create({ model, messages }), (error) => {
          assert.ok(error instanceof OpenAI.InternalServerError);
          assert.ok(error.status >= 500);
          assert.equal(error.code, 'upstream_error');
          return true;
        });
      } finally {
        fake.setPersistentFault(null);
      }
    });
  }

  test('an upstream 401 quoting the key is not an AuthenticationError and leaks no key', limits, async () => {
    const body = {
      error: { message: `Incorrect API key provided: ${upstreamKey}.`, code: 'invalid_api_key' },
    };
    fake.setPersistentFault({ kind: 'status', status: 401, body });
    try {
      const response = await fetch(`${gateway.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages }),
        signal: AbortSignal.timeout(5000),
      });
      const text = await response.text();
      assert.equal(response.status, 502);
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'upstream_auth_failed');
      assertNoSecretIn(text, upstreamKey, 'the body');
      assertNoSecretIn(JSON.stringify([...response.headers]), upstreamKey, 'the headers');
      await assert.rejects(client.chat.completions.create({ model, messages }), (error) => {
        assert.ok(!(error instanceof OpenAI.AuthenticationError), 'the client key was fine');
        assert.ok(error instanceof OpenAI.InternalServerError);
        assert.equal(error.status, 502);
        return true;
      });
    } finally {
      fake.setPersistentFault(null);
    }
  });

  test('an upstream 400 message is passed on with the key redacted', limits, async () => {
    const body = {
      error: { message: `Bad value; your key ${upstreamKey} is fine`, type: 'invalid_request_error' },
    };
    fake.setPersistentFault({ kind: 'status', status: 400, body });
    try {
      await assert.rejects(client.chat.completions.create({ model, messages }), (error) => {
        assert.ok(error instanceof OpenAI.BadRequestError);
        assert.equal(error.code, 'upstream_bad_request');
        assert.match(error.message, /Bad value/);
        assertNoSecretIn(error.message, upstreamKey, 'the message');
        return true;
      });
    } finally {
      fake.setPersistentFault(null);
    }
  });

  test('a stream cut mid-way throws in the SDK and ends with an error event, no [DONE]', limits, async () => {
    fake.setReply({ text: 'one two three four five six seven eight' });
    fake.enqueue({ kind: 'cut', afterChunks: 3 });
    const { chunks, error } = await drain(
      await client.chat.completions.create({ model, messages, stream: true }),
    );

    assert.ok(error instanceof OpenAI.APIError, `the SDK throws an APIError, got ${String(error)}`);
    assert.equal(error.code, 'stream_interrupted');
    assert.ok(chunks.length > 0, 'the chunks before the cut were delivered');
    assert.ok(!chunks.some((chunk) => chunk.choices[0]?.finish_reason === 'stop'));

    fake.enqueue({ kind: 'cut', afterChunks: 3 });
    const raw = await rawStream(gateway, { model, messages, stream: true });
    assert.equal(raw.response.status, 200);
    assertEndsWithErrorEvent(raw.events);
  });

  test('a malformed upstream chunk ends the stream with an error event, no [DONE]', limits, async () => {
    fake.setReply({ text: 'one two three four five six seven eight' });
    fake.enqueue({ kind: 'malformed-chunk', afterChunks: 3 });
    const { chunks, error } = await drain(
      await client.chat.completions.create({ model, messages, stream: true }),
    );

    assert.ok(error instanceof OpenAI.APIError, `the SDK throws an APIError, got ${String(error)}`);
    assert.ok(!chunks.some((chunk) => chunk.choices[0]?.finish_reason === 'stop'));

    fake.enqueue({ kind: 'malformed-chunk', afterChunks: 3 });
    const raw = await rawStream(gateway, { model, messages, stream: true });
    assertEndsWithErrorEvent(raw.events);
    assert.equal(raw.events.length, 4, 'three good chunks, then the error event');
  });

  test('an upstream that omits [DONE] after a finished answer still ends cleanly', limits, async () => {
    // The fake's no-done sends every chunk, finish_reason included, and only leaves out `data: [DONE]`.
    fake.setReply({ text: 'complete answer' });
    fake.enqueue({ kind: 'no-done' });
    const { chunks, error } = await drain(
      await client.chat.completions.create({ model, messages, stream: true }),
    );
    assert.equal(error, undefined);
    assert.equal(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''), 'complete answer');

    fake.enqueue({ kind: 'no-done' });
    const raw = await rawStream(gateway, { model, messages, stream: true });
    assert.equal(raw.error, undefined);
    assert.ok(endsWithDone(raw.events), 'the answer was complete, so Nexus terminates it with [DONE]');
    assert.equal(sseJson<ChatCompletionChunk>(raw.events).at(-1)?.choices[0]?.finish_reason, 'stop');
  });

  test(
    'an upstream failure before the first byte of a stream is an HTTP error, not a 200',
    limits,
    async () => {
      fake.setPersistentFault({ kind: 'status', status: 500 });
      try {
        const raw = await rawStream(gateway, { model, messages, stream: true });
        assert.equal(raw.response.status, 502);
        assert.match(raw.response.headers.get('content-type') ?? '', /^application\/json/);
        await assert.rejects(
          client.chat.completions.create({ model, messages, stream: true }),
          OpenAI.InternalServerError,
        );
      } finally {
        fake.setPersistentFault(null);
      }
    },
  );

  test('the logs never contain the upstream key', () => {
    assert.ok(gateway.logs.length > 0);
    assertNoSecretIn(gateway.logs.join('\n'), upstreamKey, 'the logs');
  });
});

describe('upstream rejects the credentials Nexus holds', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-the-key-openai-expects' });
    gateway = await startGateway({ OPENAI_API_KEY: upstreamKey, OPENAI_BASE_URL: fake.url });
  });

  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  test(
    'chat, stream and embeddings are upstream_auth_failed (502), never AuthenticationError',
    limits,
    async () => {
      const client = sdk(gateway);
      const attempts = [
        () => client.chat.completions.create({ model, messages }),
        () => client.chat.completions.create({ model, messages, stream: true }),
        () => client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }),
      ];
      for (const attempt of attempts) {
        await assert.rejects(attempt(), (error) => {
          assert.ok(!(error instanceof OpenAI.AuthenticationError), 'the client key was fine');
          assert.ok(error instanceof OpenAI.InternalServerError);
          assert.equal(error.status, 502);
          assert.equal(error.code, 'upstream_auth_failed');
          assertNoSecretIn(error.message, upstreamKey, 'the message');
          return true;
        });
      }
      assert.equal(fake.calls.length, 3);
      assertNoSecretIn(gateway.logs.join('\n'), upstreamKey, 'the logs');
    },
  );
});

describe('with NEXUS_MASTER_KEY', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    fake = await startFakeOpenAI();
    gateway = await startGateway({
      OPENAI_API_KEY: upstreamKey,
      OPENAI_BASE_URL: fake.url,
      NEXUS_MASTER_KEY: masterKey,
      HOST: '127.0.0.1',
    });
  });

  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  test('a wrong key is an AuthenticationError and nothing goes upstream', limits, async () => {
    await assert.rejects(
      sdk(gateway, 'nk-wrong-key').chat.completions.create({ model, messages }),
      (error) => {
        assert.ok(error instanceof OpenAI.AuthenticationError);
        assert.equal(error.code, 'invalid_api_key');
        return true;
      },
    );
    await assert.rejects(sdk(gateway, 'nk-wrong-key').models.list(), OpenAI.AuthenticationError);
    assert.equal(fake.calls.length, 0);
  });

  test('the right key works as Authorization: Bearer and as X-API-Key', limits, async () => {
    const completion = await sdk(gateway, masterKey).chat.completions.create({ model, messages });
    assert.equal(completion.choices[0]?.finish_reason, 'stop');

    const response = await fetch(`${gateway.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': masterKey },
      body: JSON.stringify({ model, messages }),
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(response.status, 200);
    const missing = await fetch(`${gateway.baseURL}/models`, { signal: AbortSignal.timeout(5000) });
    assert.equal(missing.status, 401);
    await missing.body?.cancel();
  });

  test('/health stays open without a key', limits, async () => {
    const response = await fetch(`${gateway.origin}/health`, { signal: AbortSignal.timeout(5000) });
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { status: string }).status, 'healthy');
  });

  test('the logs never contain the master key or the upstream key', () => {
    const logs = gateway.logs.join('\n');
    assertNoSecretIn(logs, masterKey, 'the logs');
    assertNoSecretIn(logs, upstreamKey, 'the logs');
  });
});

describe('with NEXUS_BODY_LIMIT_BYTES=2048', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    fake = await startFakeOpenAI();
    gateway = await startGateway({
      OPENAI_API_KEY: upstreamKey,
      OPENAI_BASE_URL: fake.url,
      NEXUS_BODY_LIMIT_BYTES: '2048',
    });
  });

  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  test('a body over the limit is an APIError with status 413', limits, async () => {
    const big = [{ role: 'user' as const, content: 'x'.repeat(5000) }];
    await assert.rejects(sdk(gateway).chat.completions.create({ model, messages: big }), (error) => {
      assert.ok(error instanceof OpenAI.APIError);
      assert.equal(error.status, 413);
      assert.equal(error.code, 'body_too_large');
      assert.match(error.message, /2048/);
      return true;
    });
    assert.equal(fake.calls.length, 0);
    const small = await sdk(gateway).chat.completions.create({ model, messages });
    assert.equal(small.choices[0]?.finish_reason, 'stop');
  });
});

describe('an upstream stream that ends cleanly before any finish_reason', () => {
  let upstream: Server;
  let gateway: TestGateway;

  before(async () => {
    // The fake's faults cannot end a body cleanly mid-answer, so a minimal upstream does exactly that.
    upstream = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const content of ['Half', ' an']) {
          const chunk = {
            id: 'chatcmpl-truncated',
            object: 'chat.completion.chunk',
            created: 1,
            model,
            choices: [{ index: 0, delta: { content }, finish_reason: null }],
          };
          response.write(`data: ${JSON.stringify(chunk)}\n\n`);
        }
        response.end();
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const { port } = upstream.address() as AddressInfo;
    gateway = await startGateway({
      OPENAI_API_KEY: upstreamKey,
      OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`,
    });
  });

  after(async () => {
    await gateway?.close();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  test('the SDK throws and the raw stream ends with an error event, no [DONE]', limits, async () => {
    const { chunks, error } = await drain(
      await sdk(gateway).chat.completions.create({ model, messages, stream: true }),
    );
    assert.ok(error instanceof OpenAI.APIError, `the SDK throws an APIError, got ${String(error)}`);
    assert.equal(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''), 'Half an');

    const raw = await rawStream(gateway, { model, messages, stream: true });
    assertEndsWithErrorEvent(raw.events);
  });
});

describe('a slow upstream stream (20 ms between chunks)', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    fake = await startFakeOpenAI({ chunkDelayMs: 20 });
    gateway = await startGateway({ OPENAI_API_KEY: upstreamKey, OPENAI_BASE_URL: fake.url });
  });

  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  test('a malformed chunk after the first bytes ends with an error event, no [DONE]', limits, async () => {
    fake.setReply({ text: 'one two three four five six' });
    fake.enqueue({ kind: 'malformed-chunk', afterChunks: 3 });
    const { chunks, error } = await drain(
      await sdk(gateway).chat.completions.create({ model, messages, stream: true }),
    );
    assert.ok(error instanceof OpenAI.APIError, `the SDK throws an APIError, got ${String(error)}`);
    assert.equal(error.code, 'stream_interrupted');
    assert.ok(chunks.length > 0);
    assert.ok(!chunks.some((chunk) => chunk.choices[0]?.finish_reason === 'stop'));

    fake.enqueue({ kind: 'malformed-chunk', afterChunks: 3 });
    const raw = await rawStream(gateway, { model, messages, stream: true });
    assert.equal(raw.response.status, 200);
    assertEndsWithErrorEvent(raw.events);
  });

  test('a client that disconnects mid-stream aborts the upstream request', limits, async () => {
    fake.reset();
    fake.setReply({ text: Array.from({ length: 400 }, (_, index) => `word${index}`).join(' ') });
    const controller = new AbortController();
    const stream = await sdk(gateway).chat.completions.create(
      { model, messages, stream: true },
      { signal: controller.signal },
    );
    let received = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) received++;
      if (received === 2) controller.abort();
    }

    const [call] = fake.callsTo('/chat/completions');
    assert.ok(call !== undefined);
    assert.equal(await settledWithin(call, 5000), 'client-aborted');
    assert.equal(fake.calls.length, 1);
  });
});
