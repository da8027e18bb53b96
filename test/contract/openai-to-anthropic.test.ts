/**
 * The official `openai` SDK pointed at Nexus, with the fake Anthropic Messages API behind it on a real socket:
 * OpenAI-shaped requests must arrive as valid Anthropic requests, Anthropic replies and event streams must
 * come back as what OpenAI itself would have sent, errors must land in the SDK's own classes, and a broken
 * upstream stream must never look like a complete answer.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { loadCatalog } from '../../src/catalog/load.ts';
import { type FakeAnthropic, type RecordedCall, startFakeAnthropic } from '../support/fake-anthropic.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { endsWithDone, readSse, type SseEvent, sseJson } from '../support/sse.ts';

const upstreamKey = 'sk-ant-api03-test-upstream-secret';
const limits = { timeout: 10_000 };
const model = 'claude-sonnet-4-20250514';
const messages = [{ role: 'user' as const, content: 'hello there nexus' }];
/** `messages` as Nexus sends them to Anthropic: content always as blocks. */
const upstreamMessages = [{ role: 'user', content: [{ type: 'text', text: 'hello there nexus' }] }];
const weather = { id: 'toolu_weather_1', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } };
const time = { id: 'toolu_time_2', name: 'get_time', input: { timezone: 'Europe/Paris', hour12: false } };
const tools = [
  {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      description: 'Weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } } },
    },
  },
  {
    type: 'function' as const,
    function: { name: 'get_time', parameters: { type: 'object', properties: {} } },
  },
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

/** The stream ended with one OpenAI error event and no `[DONE]`, and no chunk claimed the answer finished. */
function assertEndsWithErrorEvent(events: SseEvent[], message?: RegExp) {
  assert.ok(!endsWithDone(events), 'a broken stream never sends [DONE]');
  const last = JSON.parse(events.at(-1)?.data ?? '{}') as { error?: { code?: string; message?: string } };
  assert.equal(
    last.error?.code,
    'stream_interrupted',
    `the last event is an error event: ${events.at(-1)?.data}`,
  );
  if (message) assert.match(last.error?.message ?? '', message);
  const chunks = events.slice(0, -1).map((event) => JSON.parse(event.data) as ChatCompletionChunk);
  assert.ok(chunks.every((chunk) => chunk.choices.every((choice) => choice.finish_reason === null)));
}

interface Stack {
  fake: FakeAnthropic;
  gateway: TestGateway;
  client: OpenAI;
  /** POSTs a streamed chat with fetch and reads the raw SSE reply; a hang fails after 5 s. */
  rawStream(
    body: Record<string, unknown>,
  ): Promise<{ response: Response; events: SseEvent[]; error: unknown }>;
  close(): Promise<void>;
}

/** A fake Anthropic and a gateway pointed at it with `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL`. */
async function startStack(env: Record<string, string> = {}): Promise<Stack> {
  const fake = await startFakeAnthropic({ apiKey: upstreamKey });
  const gateway = await startGateway({
    ANTHROPIC_API_KEY: upstreamKey,
    ANTHROPIC_BASE_URL: fake.url,
    ...env,
  });
  const client = new OpenAI({
    apiKey: 'unused',
    baseURL: gateway.baseURL,
    maxRetries: 0,
    timeout: 5000,
    logLevel: 'off',
  });
  return {
    fake,
    gateway,
    client,
    async rawStream(body) {
      const response = await fetch(`${gateway.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages, stream: true, ...body }),
        signal: AbortSignal.timeout(5000),
      });
      return { response, ...(await readSse(response)) };
    },
    async close() {
      await gateway.close();
      await fake.close();
    },
  };
}

describe('OpenAI SDK → Nexus → Anthropic', () => {
  let stack: Stack;
  let fake: FakeAnthropic;
  let client: OpenAI;

  before(async () => {
    stack = await startStack();
    ({ fake, client } = stack);
  });

  after(() => stack?.close());

  beforeEach(() => fake.reset());

  test(
    'a text chat reaches /v1/messages with Anthropic headers and comes back in OpenAI shape',
    limits,
    async () => {
      fake.setReply({ text: 'Paris is the capital.', usage: { input_tokens: 1234, output_tokens: 567 } });
      const { data, response } = await client.chat.completions
        .create({ model, messages: [{ role: 'system', content: 'Be brief.' }, ...messages] })
        .withResponse();

      assert.match(data.id, /^msg_01/);
      assert.equal(data.object, 'chat.completion');
      assert.equal(data.model, model);
      assert.deepEqual(data.choices[0]?.message, {
        role: 'assistant',
        content: 'Paris is the capital.',
        refusal: null,
      });
      assert.equal(data.choices[0]?.finish_reason, 'stop');
      assert.deepEqual(data.usage, {
        prompt_tokens: 1234,
        completion_tokens: 567,
        total_tokens: 1801,
        prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 0 },
      });
      assert.equal(response.headers.get('x-nexus-provider'), 'Anthropic (Key #1)');
      assert.equal(response.headers.get('x-nexus-model'), model);
      const spec = loadCatalog().models.find((entry) => entry.provider === 'anthropic' && entry.id === model);
      assert.ok(spec !== undefined);
      const expected =
        (1234 * spec.pricing.inputPerMillion + 567 * spec.pricing.outputPerMillion) / 1_000_000;
      assert.ok(Math.abs(Number(response.headers.get('x-nexus-cost-usd')) - expected) < 1e-9);
      assert.match(response.headers.get('x-nexus-warnings') ?? '', /max_tokens; Nexus sent 64000/);

      const [call] = fake.callsTo('/messages');
      assert.equal(fake.calls.length, 1);
      assert.equal(call?.headers['x-api-key'], upstreamKey);
      assert.equal(call?.headers['anthropic-version'], '2023-06-01');
      assert.equal(call?.headers.authorization, undefined);
      assert.deepEqual(bodyOf(call), {
        model,
        messages: upstreamMessages,
        system: 'Be brief.',
        max_tokens: spec.maxOutputTokens,
      });
    },
  );

  test('a whole tool conversation is translated to alternating Anthropic turns', limits, async () => {
    await client.chat.completions.create({
      model: `anthropic/${model}`,
      max_completion_tokens: 300,
      temperature: 0.2,
      stop: ['END'],
      user: 'user-42',
      tools,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'developer', content: 'Use tools.' },
        { role: 'user', content: 'Weather and time' },
        { role: 'user', content: [{ type: 'text', text: 'in Paris please' }] },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            {
              id: weather.id,
              type: 'function',
              function: { name: weather.name, arguments: '{"city":"Paris"}' },
            },
            { id: time.id, type: 'function', function: { name: time.name, arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: weather.id, content: 'sunny' },
        { role: 'tool', tool_call_id: time.id, content: [{ type: 'text', text: '12:00' }] },
        { role: 'user', content: 'Thanks!' },
      ],
    });

    assert.deepEqual(bodyOf(fake.callsTo('/messages')[0]), {
      model,
      max_tokens: 300,
      temperature: 0.2,
      stop_sequences: ['END'],
      metadata: { user_id: 'user-42' },
      system: [
        { type: 'text', text: 'You are terse.' },
        { type: 'text', text: 'Use tools.' },
      ],
      tools: [
        {
          name: 'get_weather',
          description: 'Weather for a city',
          input_schema: { type: 'object', properties: { city: { type: 'string' } } },
        },
        { name: 'get_time', input_schema: { type: 'object', properties: {} } },
      ],
      tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather and time' },
            { type: 'text', text: 'in Paris please' },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: weather.id, name: weather.name, input: { city: 'Paris' } },
            { type: 'tool_use', id: time.id, name: time.name, input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: weather.id, content: 'sunny' },
            { type: 'tool_result', tool_use_id: time.id, content: [{ type: 'text', text: '12:00' }] },
            { type: 'text', text: 'Thanks!' },
          ],
        },
      ],
    });
  });

  test('a stream reassembles to the text and ends with the usage chunk and [DONE]', limits, async () => {
    fake.setReply({ text: 'One two three four five.', usage: { input_tokens: 9, output_tokens: 5 } });
    const { chunks, error } = await drain(
      await client.chat.completions.create({
        model,
        messages,
        max_tokens: 50,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );

    assert.equal(error, undefined);
    assert.deepEqual(chunks[0]?.choices[0]?.delta, { role: 'assistant', content: '' });
    assert.ok(chunks.length > 5, 'the text arrives in several chunks');
    assert.equal(
      chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''),
      'One two three four five.',
    );
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1)?.choices, []);
    assert.deepEqual(chunks.at(-1)?.usage, {
      prompt_tokens: 9,
      completion_tokens: 5,
      total_tokens: 14,
      prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 0 },
    });
    assert.ok(chunks.every((chunk) => chunk.model === model && chunk.id === chunks[0]?.id));
    assert.equal(bodyOf(fake.callsTo('/messages')[0]).stream, true);

    const raw = await stack.rawStream({ max_tokens: 50 });
    assert.equal(raw.error, undefined);
    assert.ok(endsWithDone(raw.events));
    assert.ok(
      sseJson<ChatCompletionChunk>(raw.events).every((chunk) => chunk.choices.length > 0),
      'no usage chunk',
    );
  });

  test('two tool calls in one turn: stream and non-stream give identical calls', limits, async () => {
    fake.setReply({ toolUses: [weather, time] });
    const plain = await client.chat.completions.create({ model, messages, tools });
    const chunks: ChatCompletionChunk[] = [];
    const runner = client.chat.completions.stream({ model, messages, tools });
    runner.on('chunk', (chunk) => chunks.push(chunk));
    const streamed = await runner.finalChatCompletion();

    const expected = [weather, time].map((tool) => ({
      id: tool.id,
      type: 'function',
      function: { name: tool.name, arguments: JSON.stringify(tool.input) },
    }));
    assert.equal(plain.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(plain.choices[0]?.message.content, null);
    assert.deepEqual(plain.choices[0]?.message.tool_calls, expected);
    assert.equal(streamed.choices[0]?.finish_reason, 'tool_calls');
    assert.deepEqual(streamed.choices[0]?.message.tool_calls, expected);
    const deltas = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    assert.deepEqual(
      deltas.filter((delta) => delta.id !== undefined),
      [
        { index: 0, id: weather.id, type: 'function', function: { name: weather.name, arguments: '' } },
        { index: 1, id: time.id, type: 'function', function: { name: time.name, arguments: '' } },
      ],
    );
    const fragments = deltas.filter((delta) => delta.id === undefined);
    assert.ok(fragments.filter((delta) => delta.index === 1).length > 1, 'arguments arrive in fragments');
    assert.ok(fragments.every((delta) => Object.keys(delta).join() === 'index,function'));
  });

  test('images: a data URL becomes a base64 source, an https URL a url source', limits, async () => {
    const pixel =
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    const { response } = await client.chat.completions
      .create({
        model,
        max_tokens: 20,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is in these images?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${pixel}`, detail: 'low' } },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg?size=large&v=2' } },
            ],
          },
        ],
      })
      .withResponse();

    assert.deepEqual(
      (bodyOf(fake.callsTo('/messages')[0]).messages as Array<{ content: unknown }>)[0]?.content,
      [
        { type: 'text', text: 'What is in these images?' },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: pixel } },
        { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg?size=large&v=2' } },
      ],
    );
    assert.match(response.headers.get('x-nexus-warnings') ?? '', /detail/);
  });

  test('cache reads and writes are carried exactly, in the JSON reply and the stream', limits, async () => {
    const usage = {
      input_tokens: 10,
      cache_read_input_tokens: 200,
      cache_creation_input_tokens: 30,
      output_tokens: 5,
    };
    fake.setReply({ text: 'cached answer', usage });
    const expected = {
      prompt_tokens: 240,
      completion_tokens: 5,
      total_tokens: 245,
      prompt_tokens_details: { cached_tokens: 200, cache_creation_tokens: 30 },
    };

    const { data, response } = await client.chat.completions.create({ model, messages }).withResponse();
    const { chunks } = await drain(
      await client.chat.completions.create({
        model,
        messages,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );

    assert.deepEqual(data.usage, expected);
    assert.deepEqual(chunks.at(-1)?.usage, expected);
    const pricing = loadCatalog().models.find((entry) => entry.id === model)?.pricing;
    assert.ok(pricing?.cachedInputPerMillion != null);
    // Plain input, cache reads and cache writes each at their own catalogue price.
    const writePrice = pricing.cacheWriteInputPerMillion ?? pricing.inputPerMillion;
    const cost =
      (10 * pricing.inputPerMillion +
        200 * pricing.cachedInputPerMillion +
        30 * writePrice +
        5 * pricing.outputPerMillion) /
      1e6;
    assert.ok(Math.abs(Number(response.headers.get('x-nexus-cost-usd')) - cost) < 1e-9);
  });

  test('stop reasons map to finish reasons', limits, async () => {
    const finish = async (reply: Parameters<FakeAnthropic['setReply']>[0], extra: object = {}) => {
      fake.setReply(reply);
      const { data, response } = await client.chat.completions
        .create({ model, messages, max_tokens: 100, ...extra })
        .withResponse();
      return { reason: data.choices[0]?.finish_reason, warnings: response.headers.get('x-nexus-warnings') };
    };

    assert.equal((await finish(null, { max_tokens: 2 })).reason, 'length');
    assert.equal((await finish(null, { stop: [' nexus'] })).reason, 'stop');
    assert.equal((await finish({ toolUses: [weather] })).reason, 'tool_calls');
    assert.equal((await finish({ text: '', stopReason: 'refusal' })).reason, 'content_filter');
    const paused = await finish({ text: 'partial', stopReason: 'pause_turn' });
    assert.equal(paused.reason, 'stop');
    assert.match(paused.warnings ?? '', /pause_turn/);
  });

  test('parameters Anthropic lacks are dropped and named in x-nexus-warnings', limits, async () => {
    const { response } = await client.chat.completions
      .create({
        model,
        messages,
        max_tokens: 20,
        temperature: 1.5,
        seed: 7,
        presence_penalty: 0.5,
        logprobs: true,
        n: 2,
        response_format: { type: 'json_object' },
      })
      .withResponse();

    const warnings = response.headers.get('x-nexus-warnings') ?? '';
    for (const param of [
      'seed',
      'presence_penalty',
      'logprobs',
      "'n' (2)",
      'response_format',
      'temperature',
    ]) {
      assert.ok(warnings.includes(param), `warns about ${param}: ${warnings}`);
    }
    assert.deepEqual(bodyOf(fake.callsTo('/messages')[0]), {
      model,
      messages: upstreamMessages,
      max_tokens: 20,
      temperature: 1,
    });
  });

  test('embeddings are refused as unsupported, without calling Anthropic', limits, async () => {
    await assert.rejects(client.embeddings.create({ model: `anthropic/${model}`, input: 'x' }), (error) => {
      assert.ok(error instanceof OpenAI.BadRequestError);
      assert.equal(error.code, 'unsupported_capability');
      return true;
    });
    assert.equal(fake.calls.length, 0);
  });

  test('the logs never contain the upstream key', () => {
    assert.ok(stack.gateway.logs.length > 0);
    assert.ok(!stack.gateway.logs.join('\n').includes(upstreamKey));
  });
});

/**
 * Upstream failures, each on a fresh gateway: Nexus retries 5xx and broken replies once and opens an
 * instance's circuit after repeated failures, so one test's failures must not decide the next test's routing.
 */
describe('OpenAI SDK → Nexus → Anthropic: upstream failures', () => {
  let stack: Stack;
  let fake: FakeAnthropic;
  let client: OpenAI;

  beforeEach(async () => {
    stack = await startStack();
    ({ fake, client } = stack);
  });

  afterEach(() => stack?.close());

  test('an upstream 400 is a BadRequestError carrying Anthropic message', limits, async () => {
    const body = {
      type: 'error',
      error: { type: 'invalid_request_error', message: `messages: bad value, key ${upstreamKey}` },
    };
    fake.setPersistentFault({ kind: 'status', status: 400, body });
    await assert.rejects(client.chat.completions.create({ model, messages }), (error) => {
      assert.ok(error instanceof OpenAI.BadRequestError);
      assert.equal(error.code, 'upstream_bad_request');
      assert.match(error.message, /messages: bad value/);
      assert.ok(!error.message.includes(upstreamKey), 'the key is redacted');
      return true;
    });
    assert.equal(fake.calls.length, 1, 'a refused request is not retried');
  });

  test(
    '529 overloaded is a 502 upstream_error; 429 is a RateLimitError with retry-after',
    limits,
    async () => {
      fake.setPersistentFault({ kind: 'status', status: 529 });
      await assert.rejects(client.chat.completions.create({ model, messages }), (error) => {
        assert.ok(error instanceof OpenAI.InternalServerError);
        assert.equal(error.status, 502);
        assert.equal(error.code, 'upstream_error');
        assert.match(error.message, /Overloaded/);
        return true;
      });
      fake.setPersistentFault({ kind: 'status', status: 429, headers: { 'retry-after': '7' } });
      await assert.rejects(client.chat.completions.create({ model, messages }), (error) => {
        assert.ok(error instanceof OpenAI.RateLimitError);
        assert.equal(error.headers?.get('retry-after'), '7');
        return true;
      });
    },
  );

  test(
    'an upstream 401 is 502 upstream_auth_failed, never the client AuthenticationError',
    limits,
    async () => {
      fake.setPersistentFault({ kind: 'status', status: 401 });
      for (const stream of [false, true]) {
        await assert.rejects(client.chat.completions.create({ model, messages, stream }), (error) => {
          assert.ok(!(error instanceof OpenAI.AuthenticationError));
          assert.ok(error instanceof OpenAI.InternalServerError);
          assert.equal(error.status, 502);
          assert.equal(error.code, 'upstream_auth_failed');
          return true;
        });
      }
    },
  );

  // A connection cut mid-reply is a transport failure (503, retried like a reset); a reply that is not JSON
  // is the provider's own failure (502).
  for (const [fault, status, code, what] of [
    [{ kind: 'cut', afterEvents: 0 }, 503, 'upstream_unavailable', /connection to .* failed/],
    [{ kind: 'malformed-event', afterEvents: 0 }, 502, 'upstream_error', /not JSON/],
  ] as const) {
    test(`a reply that fails with ${fault.kind} is a ${status} ${code}`, limits, async () => {
      fake.setPersistentFault(fault);
      await assert.rejects(client.chat.completions.create({ model, messages }), (error) => {
        assert.ok(error instanceof OpenAI.InternalServerError);
        assert.equal(error.status, status);
        assert.equal(error.code, code);
        assert.match(error.message, what);
        return true;
      });
    });
  }

  test('a stream cut mid-way throws in the SDK and ends with an error event, no [DONE]', limits, async () => {
    fake.setReply({ text: 'one two three four five six seven eight' });
    fake.enqueue({ kind: 'cut', afterEvents: 6 });
    const { chunks, error } = await drain(
      await client.chat.completions.create({ model, messages, stream: true }),
    );

    assert.ok(error instanceof OpenAI.APIError, `the SDK throws an APIError, got ${String(error)}`);
    assert.equal(error.code, 'stream_interrupted');
    assert.ok(chunks.length > 1, 'the chunks before the cut were delivered');

    fake.enqueue({ kind: 'cut', afterEvents: 6 });
    const raw = await stack.rawStream({});
    assert.equal(raw.response.status, 200);
    assertEndsWithErrorEvent(raw.events);
  });

  test(
    'an Anthropic error event or a missing message_stop ends the stream with an error',
    limits,
    async () => {
      fake.enqueue({ kind: 'error-event', afterEvents: 5 });
      const overloaded = await stack.rawStream({});
      assertEndsWithErrorEvent(overloaded.events, /Overloaded/);

      fake.enqueue({ kind: 'no-message-stop' });
      const unfinished = await stack.rawStream({});
      assertEndsWithErrorEvent(unfinished.events, /message_stop/);

      fake.enqueue({ kind: 'malformed-event', afterEvents: 4 });
      const malformed = await stack.rawStream({});
      assertEndsWithErrorEvent(malformed.events, /malformed/);
    },
  );

  test('the logs never contain the upstream key, even when the upstream quotes it', limits, async () => {
    const body = {
      type: 'error',
      error: { type: 'authentication_error', message: `bad key ${upstreamKey}` },
    };
    fake.setPersistentFault({ kind: 'status', status: 401, body });
    await assert.rejects(client.chat.completions.create({ model, messages }));
    assert.ok(!stack.gateway.logs.join('\n').includes(upstreamKey));
  });
});

describe('with ANTHROPIC_API_VERSION=2026-10-21', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ ANTHROPIC_API_VERSION: '2026-10-21' });
  });

  after(() => stack?.close());

  test(
    'the version is sent and sampling parameters, which it rejects, are dropped with warnings',
    limits,
    async () => {
      const { fake, client } = stack;
      const { data, response } = await client.chat.completions
        .create({ model, messages, max_tokens: 20, temperature: 0.2, top_p: 0.5 })
        .withResponse();

      assert.equal(data.choices[0]?.finish_reason, 'stop');
      const [call] = fake.callsTo('/messages');
      assert.equal(call?.headers['anthropic-version'], '2026-10-21');
      assert.deepEqual(bodyOf(call), { model, messages: upstreamMessages, max_tokens: 20 });
      assert.match(
        response.headers.get('x-nexus-warnings') ?? '',
        /2026-10-21 rejects 'temperature'.*'top_p'/,
      );
    },
  );
});
