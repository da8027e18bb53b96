/**
 * The official `openai` SDK → Nexus → the fake Cohere v2 API on a real socket: an OpenAI client must get
 * OpenAI-shaped answers (text, streams, parallel tool calls, usage) from a Cohere model, Cohere's failures
 * in the SDK's own error classes, and a broken Cohere stream must never look like a complete answer.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { type FakeCohere, type RecordedCall, startFakeCohere } from '../support/fake-cohere.ts';
import { fakeEmbedding } from '../support/fake-openai.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { endsWithDone, readSse, type SseEvent, sseJson } from '../support/sse.ts';

const upstreamKey = 'cohere-upstream-secret-0123456789';
const limits = { timeout: 10_000 };
const model = 'command-r-08-2024';
const messages = [{ role: 'user' as const, content: 'hello there nexus' }];
const weather = {
  id: 'get_weather_dqgshstja6p9',
  name: 'get_weather',
  arguments: '{"location":"San Francisco"}',
};
const attractions = {
  id: 'cityAttractions_dcxfx4myvx68',
  name: 'cityAttractions',
  arguments: '{"city":"San Francisco","limit":3}',
};
const tools = [
  {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      description: 'Current weather',
      parameters: { type: 'object', properties: { location: { type: 'string' } } },
    },
  },
  { type: 'function' as const, function: { name: 'cityAttractions', parameters: { type: 'object' } } },
];

async function drain(stream: AsyncIterable<ChatCompletionChunk>) {
  const chunks: ChatCompletionChunk[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
    return { chunks, error: undefined };
  } catch (error) {
    return { chunks, error };
  }
}

function bodyOf(call: RecordedCall | undefined): Record<string, unknown> {
  assert.ok(call !== undefined, 'the upstream received the call');
  return call.body as Record<string, unknown>;
}

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

function assertEndsWithErrorEvent(events: SseEvent[]) {
  assert.ok(!events.some((event) => event.data === '[DONE]'), 'a broken stream never sends [DONE]');
  const last = JSON.parse(events.at(-1)?.data ?? '{}') as { error?: { code?: string } };
  assert.equal(last.error?.code, 'stream_interrupted');
  const chunks = sseJson<ChatCompletionChunk>(events.slice(0, -1));
  assert.ok(chunks.every((chunk) => chunk.choices.every((choice) => choice.finish_reason === null)));
}

describe('OpenAI SDK → Nexus → Cohere', () => {
  let fake: FakeCohere;
  let gateway: TestGateway;
  let client: OpenAI;

  before(async () => {
    fake = await startFakeCohere({ apiKey: upstreamKey });
    gateway = await startGateway({ COHERE_API_KEY: upstreamKey, COHERE_BASE_URL: fake.url });
    client = new OpenAI({ apiKey: 'unused', baseURL: gateway.baseURL, maxRetries: 0, timeout: 5000 });
  });

  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  beforeEach(() => fake.reset());

  test('a text chat answers in OpenAI shape with exact usage and Nexus headers', limits, async () => {
    const { data, response } = await client.chat.completions
      .create({ model, messages: [{ role: 'system', content: 'Be brief.' }, ...messages] })
      .withResponse();

    assert.equal(data.object, 'chat.completion');
    assert.equal(data.model, model);
    assert.equal(data.choices[0]?.message.content, 'Echo: hello there nexus');
    assert.equal(data.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(
      [data.usage?.prompt_tokens, data.usage?.completion_tokens, data.usage?.total_tokens],
      [5, 4, 9],
    );
    assert.equal(response.headers.get('x-nexus-provider'), 'Cohere (Key #1)');
    assert.equal(response.headers.get('x-nexus-model'), model);
    assert.ok(Number(response.headers.get('x-nexus-cost-usd')) > 0, 'a catalogued model is priced');
    const [call] = fake.callsTo('/chat');
    assert.equal(call?.headers.authorization, `Bearer ${upstreamKey}`);
    assert.deepEqual(bodyOf(call), {
      model,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hello there nexus' },
      ],
      stream: false,
    });
  });

  test('cached prompt tokens are inside prompt_tokens and reported as cached_tokens', limits, async () => {
    // Usage recorded from Cohere in vercel/ai:packages/cohere/src/__fixtures__/cohere-tool-call.json.
    const usage = {
      billed_units: { input_tokens: 119, output_tokens: 52 },
      tokens: { input_tokens: 1549, output_tokens: 103 },
      cached_tokens: 992,
    };
    fake.setReply({ text: 'Sunny.', usage });

    const completion = await client.chat.completions.create({ model, messages });
    const { chunks } = await drain(
      await client.chat.completions.create({
        model,
        messages,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );

    for (const reported of [completion.usage, chunks.at(-1)?.usage]) {
      assert.equal(reported?.prompt_tokens, 1549);
      assert.equal(reported?.completion_tokens, 103);
      assert.equal(reported?.total_tokens, 1652);
      assert.equal(reported?.prompt_tokens_details?.cached_tokens, 992);
    }
    assert.deepEqual(chunks.at(-1)?.choices, []);
  });

  test(
    'a stream yields the role, the text in pieces, the finish and the usage only when asked',
    limits,
    async () => {
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
      assert.deepEqual(asked.chunks[0]?.choices[0]?.delta, { role: 'assistant', content: '' });
      const pieces = asked.chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '');
      assert.equal(pieces.join(''), 'Echo: hello there nexus');
      assert.ok(pieces.filter(Boolean).length > 1, 'the text arrives in several chunks');
      assert.equal(asked.chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
      assert.equal(asked.chunks.at(-1)?.usage?.total_tokens, 7);
      assert.equal(new Set(asked.chunks.map((chunk) => chunk.id)).size, 1);
      assert.equal(unasked.error, undefined);
      assert.equal(unasked.chunks.at(-1)?.choices[0]?.finish_reason, 'stop');
      assert.ok(unasked.chunks.every((chunk) => chunk.choices.length === 1 && chunk.usage == null));
      assert.equal(bodyOf(fake.calls[1]).stream, true);

      const raw = await rawStream(gateway, { model, messages, stream: true });
      assert.equal(raw.error, undefined);
      assert.ok(endsWithDone(raw.events));
    },
  );

  test('two tool calls in one turn (non-stream): ids, names and arguments intact', limits, async () => {
    fake.setReply({ toolPlan: 'I will look both up.', toolCalls: [weather, attractions] });

    const completion = await client.chat.completions.create({
      model,
      messages,
      tools,
      tool_choice: 'required',
    });

    const message = completion.choices[0]?.message;
    assert.equal(completion.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(message?.content, 'I will look both up.', "Cohere's tool plan is the message text");
    assert.deepEqual(
      message?.tool_calls?.map((call) =>
        call.type === 'function' ? [call.id, call.function.name, call.function.arguments] : [],
      ),
      [
        [weather.id, weather.name, weather.arguments],
        [attractions.id, attractions.name, attractions.arguments],
      ],
    );
    const body = bodyOf(fake.calls[0]);
    assert.equal(body.tool_choice, 'REQUIRED');
    assert.deepEqual(body.tools, tools);
  });

  test('two tool calls in one turn (stream): the SDK reassembles identical arguments', limits, async () => {
    fake.setReply({ toolCalls: [weather, attractions] });
    const chunks: ChatCompletionChunk[] = [];

    const runner = client.chat.completions.stream({ model, messages, tools });
    runner.on('chunk', (chunk) => chunks.push(chunk));
    const completion = await runner.finalChatCompletion();

    assert.equal(completion.choices[0]?.finish_reason, 'tool_calls');
    assert.deepEqual(
      completion.choices[0]?.message.tool_calls?.map((call) =>
        call.type === 'function' ? [call.id, call.function.name, call.function.arguments] : [],
      ),
      [
        [weather.id, weather.name, weather.arguments],
        [attractions.id, attractions.name, attractions.arguments],
      ],
    );
    const deltas = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    assert.deepEqual(
      deltas.filter((delta) => delta.id !== undefined).map((delta) => [delta.index, delta.id]),
      [
        [0, weather.id],
        [1, attractions.id],
      ],
    );
    assert.ok(deltas.filter((delta) => delta.index === 1 && delta.id === undefined).length > 1);
  });

  test('a tool-result turn goes to Cohere as tool_plan, tool_calls and tool messages', limits, async () => {
    await client.chat.completions.create({
      model,
      messages: [
        ...messages,
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            {
              id: weather.id,
              type: 'function',
              function: { name: weather.name, arguments: weather.arguments },
            },
          ],
        },
        { role: 'tool', tool_call_id: weather.id, content: '{"temperature":18}' },
      ],
      tools,
    });

    assert.deepEqual((bodyOf(fake.calls[0]).messages as unknown[]).slice(1), [
      {
        role: 'assistant',
        tool_calls: [
          {
            id: weather.id,
            type: 'function',
            function: { name: weather.name, arguments: weather.arguments },
          },
        ],
        tool_plan: 'Checking.',
      },
      { role: 'tool', tool_call_id: weather.id, content: '{"temperature":18}' },
    ]);
  });

  test('an image part reaches Cohere as an image_url part', limits, async () => {
    const image = 'data:image/png;base64,iVBORw0KGgo=';
    const completion = await client.chat.completions.create({
      model,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: image, detail: 'low' } },
          ],
        },
      ],
    });

    assert.equal(completion.choices[0]?.message.content, 'Echo: What is this?');
    assert.deepEqual((bodyOf(fake.calls[0]).messages as unknown[])[0], {
      role: 'user',
      content: [
        { type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url: image, detail: 'low' } },
      ],
    });
  });

  test('parameters Cohere lacks are dropped or clamped and listed in x-nexus-warnings', limits, async () => {
    const { response } = await client.chat.completions
      .create({
        model,
        messages,
        top_p: 1,
        logit_bias: { '50256': -100 },
        max_completion_tokens: 50,
        stop: 'END',
        seed: 7,
        response_format: { type: 'json_object' },
      })
      .withResponse();

    const warnings = response.headers.get('x-nexus-warnings') ?? '';
    assert.match(warnings, /does not support 'logit_bias'/);
    assert.match(warnings, /'top_p' from 0.01 to 0.99; 1 was sent as 0.99/);
    const body = bodyOf(fake.calls[0]);
    assert.equal(body.logit_bias, undefined);
    assert.deepEqual(
      [body.p, body.max_tokens, body.stop_sequences, body.seed, body.response_format],
      [0.99, 50, ['END'], 7, { type: 'json_object' }],
    );
  });

  test('Cohere errors land in the SDK classes with Cohere’s message', limits, async () => {
    fake.enqueue(
      { kind: 'status', status: 429, headers: { 'retry-after': '3' } },
      { kind: 'status', status: 400, body: { id: 'x', message: 'invalid request: p must be below 1' } },
      { kind: 'status', status: 401 },
    );

    const limited = await client.chat.completions
      .create({ model, messages })
      .catch((error: unknown) => error);
    const invalid = await client.chat.completions
      .create({ model, messages })
      .catch((error: unknown) => error);
    const auth = await client.chat.completions.create({ model, messages }).catch((error: unknown) => error);

    assert.ok(limited instanceof OpenAI.RateLimitError);
    assert.equal(limited.code, 'upstream_rate_limited');
    assert.equal(limited.headers.get('retry-after'), '3');
    assert.ok(invalid instanceof OpenAI.BadRequestError);
    assert.equal(invalid.code, 'upstream_bad_request');
    assert.match(invalid.message, /p must be below 1/);
    assert.ok(
      auth instanceof OpenAI.InternalServerError,
      'Cohere rejecting Nexus’s key is not the client’s fault',
    );
    assert.equal(auth.code, 'upstream_auth_failed');
    assert.ok(!auth.message.includes(upstreamKey));
  });

  test('embeddings come back as float vectors or as base64 encoded by Nexus', limits, async () => {
    const input = ['sunny day at the beach', 'rainy day in the city'];
    const floats = await client.embeddings.create({
      model: 'embed-english-v3.0',
      input,
      encoding_format: 'float',
    });
    const decoded = await client.embeddings.create({ model: 'embed-english-v3.0', input });
    const raw = await fetch(`${gateway.baseURL}/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'embed-english-v3.0', input: 'x', encoding_format: 'base64' }),
      signal: AbortSignal.timeout(5000),
    });

    assert.deepEqual(
      floats.data.map((item) => item.embedding),
      input.map((text) => fakeEmbedding(text, 16)),
    );
    assert.deepEqual(
      decoded.data.map((item) => item.embedding),
      floats.data.map((item) => item.embedding),
      'the SDK asks for base64 by default and decodes it to the same floats',
    );
    assert.deepEqual(floats.usage, { prompt_tokens: 10, total_tokens: 10 });
    assert.equal(floats.model, 'embed-english-v3.0');
    assert.equal(
      typeof ((await raw.json()) as { data: Array<{ embedding: unknown }> }).data[0]?.embedding,
      'string',
    );
    assert.deepEqual(bodyOf(fake.callsTo('/embed')[0]), {
      model: 'embed-english-v3.0',
      texts: input,
      input_type: 'search_document',
      embedding_types: ['float'],
    });
  });

  test('the logs never contain the Cohere key', () => {
    assert.ok(gateway.logs.length > 0);
    assert.ok(!gateway.logs.join('\n').includes(upstreamKey));
  });
});

// A fresh gateway per test: broken streams count against the instance's circuit breaker, and one test's
// failures must not open the circuit for the next.
describe('OpenAI SDK → Nexus → Cohere: broken streams', () => {
  let fake: FakeCohere;
  let gateway: TestGateway;
  let client: OpenAI;

  beforeEach(async () => {
    fake = await startFakeCohere({ apiKey: upstreamKey });
    gateway = await startGateway({ COHERE_API_KEY: upstreamKey, COHERE_BASE_URL: fake.url });
    client = new OpenAI({ apiKey: 'unused', baseURL: gateway.baseURL, maxRetries: 0, timeout: 5000 });
  });

  afterEach(async () => {
    await gateway?.close();
    await fake?.close();
  });

  test('a cut stream ends with an error event and no [DONE]; the SDK throws', limits, async () => {
    fake.setReply({ text: 'one two three four five six' });
    fake.enqueue({ kind: 'cut', afterEvents: 4 });
    const { chunks, error } = await drain(
      await client.chat.completions.create({ model, messages, stream: true }),
    );

    assert.ok(error instanceof OpenAI.APIError, `the SDK throws an APIError, got ${String(error)}`);
    assert.ok(chunks.length > 0);
    assert.ok(!chunks.some((chunk) => chunk.choices[0]?.finish_reason != null));

    fake.enqueue({ kind: 'cut', afterEvents: 4 });
    const raw = await rawStream(gateway, { model, messages, stream: true });
    assert.equal(raw.response.status, 200);
    assertEndsWithErrorEvent(raw.events);
  });

  test(
    'a stream that ends without message-end, or with a malformed event, is interrupted',
    limits,
    async () => {
      fake.enqueue({ kind: 'no-message-end' });
      const truncated = await rawStream(gateway, { model, messages, stream: true });
      assertEndsWithErrorEvent(truncated.events);

      fake.enqueue({ kind: 'malformed-event', afterEvents: 3 });
      const malformed = await rawStream(gateway, { model, messages, stream: true });
      assertEndsWithErrorEvent(malformed.events);
      assert.ok(malformed.events.length > 2, 'the events before the bad one were forwarded');
    },
  );
});
