/**
 * The official `@anthropic-ai/sdk` pointed at Nexus's `/v1/messages`, with fake providers behind it on real
 * sockets: an OpenAI-compatible one (translation both ways), Anthropic itself and Gemini. What the SDK sees
 * must be what Anthropic would have sent; errors must land in the SDK's own classes; a broken upstream must
 * never end in a clean `message_stop`. The SDK's base URL is the gateway origin: it adds `/v1/messages`.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { loadCatalog } from '../../src/catalog/load.ts';
import { type FakeAnthropic, startFakeAnthropic } from '../support/fake-anthropic.ts';
import { type FakeGemini, startFakeGemini } from '../support/fake-gemini.ts';
import { type FakeOpenAI, type RecordedCall, startFakeOpenAI } from '../support/fake-openai.ts';
import { postJson, startGateway, type TestGateway } from '../support/gateway.ts';
import { readSse, type SseEvent } from '../support/sse.ts';

const upstreamKey = 'sk-test-upstream-secret';
const masterKey = 'nexus-master-key-for-anthropic-tests';
const limits = { timeout: 10_000 };
const model = 'gpt-4o-mini';
const user = (content: Anthropic.MessageParam['content']): Anthropic.MessageParam => ({
  role: 'user',
  content,
});
const hello = { model, max_tokens: 256, messages: [user('hello there nexus')] };

const weatherTools: Anthropic.Tool[] = [
  {
    name: 'get_weather',
    description: 'Weather by city',
    input_schema: { type: 'object', properties: { city: { type: 'string' } } },
  },
  { name: 'get_time', input_schema: { type: 'object', properties: { tz: { type: 'string' } } } },
];
const twoCalls = [
  {
    id: 'call_weather01',
    name: 'get_weather',
    arguments: '{"city":"Paris","units":["C","F"],"note":"naïve café ☕"}',
  },
  { id: 'call_time02', name: 'get_time', arguments: '{"tz":"Europe/Paris","precise":true,"n":null}' },
];

/** `top_k` is a Messages API field that this SDK version no longer types. */
function withTopK(topK: number, params: Anthropic.MessageCreateParamsNonStreaming) {
  return { ...params, top_k: topK } as Anthropic.MessageCreateParamsNonStreaming;
}

function sdk(gateway: TestGateway, apiKey = 'unused-without-master-key'): Anthropic {
  return new Anthropic({ apiKey, baseURL: gateway.origin, maxRetries: 0, timeout: 5000 });
}

function bodyOf(call: RecordedCall | undefined): Record<string, unknown> {
  assert.ok(call !== undefined, 'the upstream received the call');
  return call.body as Record<string, unknown>;
}

/** POSTs to /v1/messages with fetch and reads the raw SSE reply. */
async function rawStream(gateway: TestGateway, body: unknown) {
  const response = await fetch(`${gateway.origin}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  return { response, ...(await readSse(response)) };
}

/** Every event is named after its `type`, and the stream ended with one `error` event, never `message_stop`. */
function assertEndsWithErrorEvent(events: SseEvent[]) {
  assert.ok(
    !events.some((event) => event.event === 'message_stop'),
    'a broken stream never sends message_stop',
  );
  const last = events.at(-1);
  assert.equal(last?.event, 'error');
  const body = JSON.parse(last?.data ?? '{}') as {
    type?: string;
    error?: { type?: string; message?: string };
  };
  assert.equal(body.type, 'error');
  assert.equal(body.error?.type, 'api_error');
  assert.equal(typeof body.error?.message, 'string');
}

function toolUses(message: Anthropic.Message) {
  return message.content
    .filter((block) => block.type === 'tool_use')
    .map(({ id, name, input }) => ({ id, name, input }));
}

const expectedUses = twoCalls.map((call) => ({
  id: call.id,
  name: call.name,
  input: JSON.parse(call.arguments),
}));

describe('Anthropic SDK → Nexus → OpenAI (translated)', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;
  let client: Anthropic;

  before(async () => {
    fake = await startFakeOpenAI();
    gateway = await startGateway({ OPENAI_API_KEY: upstreamKey, OPENAI_BASE_URL: fake.url });
    client = sdk(gateway);
  });
  after(async () => {
    await gateway?.close();
    await fake?.close();
  });
  beforeEach(() => fake.reset());

  test('text: content, model, stop reason, usage and Nexus headers', limits, async () => {
    fake.setReply({
      text: 'Paris is the capital.',
      usage: { prompt_tokens: 1234, completion_tokens: 56, prompt_tokens_details: { cached_tokens: 1000 } },
    });
    const { data, response } = await client.messages.create(hello).withResponse();
    assert.equal(data.type, 'message');
    assert.equal(data.role, 'assistant');
    assert.match(data.id, /^msg_/);
    assert.equal(data.model, model);
    assert.deepEqual(data.content, [{ type: 'text', text: 'Paris is the capital.' }]);
    assert.equal(data.stop_reason, 'end_turn');
    assert.equal(data.stop_sequence, null);
    assert.deepEqual(data.usage, {
      input_tokens: 234,
      output_tokens: 56,
      cache_read_input_tokens: 1000,
      cache_creation_input_tokens: 0,
    });
    assert.equal(response.headers.get('x-nexus-provider'), 'OpenAI (Key #1)');
    assert.equal(response.headers.get('x-nexus-model'), model);
    assert.match(response.headers.get('x-request-id') ?? '', /^[\w.:-]{8,128}$/);
    const spec = loadCatalog().models.find((entry) => entry.provider === 'openai' && entry.id === model);
    assert.ok(spec !== undefined);
    const cached = spec.pricing.cachedInputPerMillion ?? spec.pricing.inputPerMillion;
    const expected =
      (234 * spec.pricing.inputPerMillion + 1000 * cached + 56 * spec.pricing.outputPerMillion) / 1e6;
    assert.ok(Math.abs(Number(response.headers.get('x-nexus-cost-usd')) - expected) < 1e-9);

    const body = bodyOf(fake.callsTo('/chat/completions')[0]);
    assert.deepEqual(body.messages, [{ role: 'user', content: 'hello there nexus' }]);
    assert.equal(body.max_completion_tokens, 256, 'OpenAI gets its preferred output-limit field');
    assert.equal(fake.calls[0]?.headers.authorization, `Bearer ${upstreamKey}`);
  });

  test('a system prompt (string or blocks) becomes the first system message', limits, async () => {
    await client.messages.create({ ...hello, system: 'You are terse.' });
    await client.messages.create({
      ...hello,
      system: [
        { type: 'text', text: 'Rule 1.' },
        { type: 'text', text: 'Rule 2.' },
      ],
    });
    const [first, second] = fake
      .callsTo('/chat/completions')
      .map((call) => bodyOf(call).messages as unknown[]);
    assert.deepEqual(first?.[0], { role: 'system', content: 'You are terse.' });
    assert.deepEqual(second?.[0], { role: 'system', content: 'Rule 1.\nRule 2.' });
  });

  test('messages.stream(): text events and finalMessage() with real usage', limits, async () => {
    fake.setReply({ text: 'One two three four five.', usage: { prompt_tokens: 42, completion_tokens: 5 } });
    const stream = client.messages.stream(hello);
    let streamed = '';
    stream.on('text', (delta) => {
      streamed += delta;
    });
    const message = await stream.finalMessage();
    assert.equal(streamed, 'One two three four five.');
    assert.deepEqual(message.content, [{ type: 'text', text: 'One two three four five.' }]);
    assert.equal(message.stop_reason, 'end_turn');
    assert.equal(message.usage.input_tokens, 42, 'input tokens arrive in message_delta');
    assert.equal(message.usage.output_tokens, 5);
    const body = bodyOf(fake.callsTo('/chat/completions')[0]);
    assert.equal(body.stream, true);
    assert.deepEqual(body.stream_options, { include_usage: true });
  });

  test('the raw stream is the exact Anthropic event sequence', limits, async () => {
    fake.setReply({ text: 'Hi there.' });
    const { response, events, error } = await rawStream(gateway, { ...hello, stream: true });
    assert.equal(error, undefined);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(response.headers.get('x-nexus-provider'), 'OpenAI (Key #1)');
    for (const event of events) assert.equal(JSON.parse(event.data).type, event.event);
    const names = events.map((event) => event.event);
    assert.deepEqual(names, [
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const delta = JSON.parse(events.at(-2)?.data ?? '{}');
    assert.deepEqual(delta.delta, { stop_reason: 'end_turn', stop_sequence: null });
    assert.equal(typeof delta.usage.input_tokens, 'number');
  });

  test('two tool uses in one turn, not streamed', limits, async () => {
    fake.setReply({ toolCalls: twoCalls });
    const message = await client.messages.create({ ...hello, tools: weatherTools });
    assert.equal(message.stop_reason, 'tool_use');
    assert.deepEqual(
      message.content.map((block) => block.type),
      ['tool_use', 'tool_use'],
    );
    assert.deepEqual(toolUses(message), expectedUses);
    const body = bodyOf(fake.callsTo('/chat/completions')[0]);
    assert.deepEqual(body.tools, [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Weather by city',
          parameters: weatherTools[0]?.input_schema,
        },
      },
      { type: 'function', function: { name: 'get_time', parameters: weatherTools[1]?.input_schema } },
    ]);
  });

  test('two tool uses streamed: input_json_delta reassembles to identical inputs', limits, async () => {
    fake.setReply({ text: 'Let me check.', toolCalls: twoCalls });
    const stream = client.messages.stream({
      ...hello,
      tools: weatherTools,
      tool_choice: { type: 'any', disable_parallel_tool_use: false },
    });
    const message = await stream.finalMessage();
    assert.equal(message.stop_reason, 'tool_use');
    assert.deepEqual(message.content[0], { type: 'text', text: 'Let me check.' });
    assert.deepEqual(toolUses(message), expectedUses);
    assert.equal(bodyOf(fake.callsTo('/chat/completions')[0]).tool_choice, 'required');

    fake.setReply({ toolCalls: twoCalls });
    const { events } = await rawStream(gateway, { ...hello, tools: weatherTools, stream: true });
    const fragments = events.filter((event) => JSON.parse(event.data).delta?.type === 'input_json_delta');
    assert.ok(fragments.length > 4, 'arguments stream in fragments');
    const starts = events
      .filter((event) => event.event === 'content_block_start')
      .map((event) => JSON.parse(event.data));
    assert.deepEqual(
      starts.map((start) => [start.index, start.content_block.type, start.content_block.id]),
      [
        [0, 'tool_use', 'call_weather01'],
        [1, 'tool_use', 'call_time02'],
      ],
    );
  });

  test('tool results go back upstream as tool messages, is_error included', limits, async () => {
    await client.messages.create({
      ...hello,
      tools: weatherTools,
      tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
      messages: [
        user('Weather and time in Paris?'),
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'call_weather01', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'call_time02', name: 'get_time', input: { tz: 'Europe/Paris' } },
          ],
        },
        user([
          { type: 'tool_result', tool_use_id: 'call_weather01', content: [{ type: 'text', text: '18°C' }] },
          { type: 'tool_result', tool_use_id: 'call_time02', content: 'clock offline', is_error: true },
        ]),
      ],
    });
    const body = bodyOf(fake.callsTo('/chat/completions')[0]);
    assert.deepEqual((body.messages as unknown[]).slice(1), [
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_weather01',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
          {
            id: 'call_time02',
            type: 'function',
            function: { name: 'get_time', arguments: '{"tz":"Europe/Paris"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_weather01', content: '18°C' },
      { role: 'tool', tool_call_id: 'call_time02', content: 'Error: clock offline' },
    ]);
    assert.deepEqual(body.tool_choice, { type: 'function', function: { name: 'get_weather' } });
    assert.equal(body.parallel_tool_calls, false);
  });

  test('images (base64 and URL) reach the upstream as image_url parts', limits, async () => {
    const png =
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    await client.messages.create({
      ...hello,
      messages: [
        user([
          { type: 'text', text: 'Compare these.' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ]),
      ],
    });
    const body = bodyOf(fake.callsTo('/chat/completions')[0]);
    assert.deepEqual((body.messages as Array<{ content: unknown }>)[0]?.content, [
      { type: 'text', text: 'Compare these.' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
      { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
    ]);
  });

  test(
    'stop reasons: max_tokens when the upstream hit the limit, stop sequences passed on',
    limits,
    async () => {
      const truncated = await client.messages.create({ ...hello, max_tokens: 2 });
      assert.equal(truncated.stop_reason, 'max_tokens');
      const streamed = await client.messages.stream({ ...hello, max_tokens: 2 }).finalMessage();
      assert.equal(streamed.stop_reason, 'max_tokens');
      const { response } = await client.messages.create({ ...hello, stop_sequences: ['END'] }).withResponse();
      assert.deepEqual(bodyOf(fake.callsTo('/chat/completions')[2]).stop, ['END']);
      assert.match(response.headers.get('x-nexus-warnings') ?? '', /stop_sequences/);
    },
  );

  test(
    'Anthropic-only fields are reported in x-nexus-warnings, not sent, not silently dropped',
    limits,
    async () => {
      const { response } = await client.messages
        .create(
          withTopK(20, {
            ...hello,
            thinking: { type: 'enabled', budget_tokens: 1024 },
            metadata: { user_id: 'user-7' },
          }),
        )
        .withResponse();
      const warnings = response.headers.get('x-nexus-warnings') ?? '';
      assert.match(warnings, /top_k/);
      assert.match(warnings, /thinking/);
      const body = bodyOf(fake.callsTo('/chat/completions')[0]);
      assert.equal(body.top_k, undefined);
      assert.equal(body.thinking, undefined);
      assert.equal(body.user, 'user-7');
      const line = gateway.logs.findLast((entry) => entry.includes('"path":"/v1/messages"')) ?? '';
      assert.match(line, /top_k/, 'the access log records the warnings too');
      assert.match(line, /"attempts":\[\{/, 'the access log lists the upstream attempts');
    },
  );

  test('an invalid body is a BadRequestError naming the parameter', limits, async () => {
    await assert.rejects(
      client.messages.create({
        model,
        messages: [user('x')],
      } as unknown as Anthropic.MessageCreateParamsNonStreaming),
      (error: unknown) => {
        assert.ok(error instanceof Anthropic.BadRequestError);
        assert.equal(error.status, 400);
        assert.equal(error.type, 'invalid_request_error');
        assert.match(error.message, /max_tokens: Field required/);
        return true;
      },
    );
    const raw = await postJson(`${gateway.origin}/v1/messages`, '{"model": ', {});
    assert.equal(raw.status, 400);
    const body = raw.body as { type: string; error: { type: string }; request_id: string };
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(body.request_id, raw.headers.get('x-request-id'));
    assert.equal(fake.calls.length, 0);
  });

  test('an unknown model is a NotFoundError', limits, async () => {
    await assert.rejects(
      client.messages.create({ ...hello, model: 'no-such-model' }),
      (error: unknown) => error instanceof Anthropic.NotFoundError && error.type === 'not_found_error',
    );
  });

  test('count_tokens is a clear 400 for a non-Anthropic model', limits, async () => {
    await assert.rejects(
      client.messages.countTokens({ model, messages: [user('x')] }),
      (error: unknown) =>
        error instanceof Anthropic.BadRequestError && /Nexus does not estimate counts/.test(error.message),
    );
    assert.equal(fake.calls.length, 0);
  });

  test('the wrong method answers 405 in Anthropic shape', limits, async () => {
    const response = await fetch(`${gateway.origin}/v1/messages`);
    assert.equal(response.status, 405);
    const body = (await response.json()) as { type: string; error: { type: string } };
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
  });

  test('the logs never contain the upstream key', () => {
    assert.ok(!gateway.logs.join('\n').includes(upstreamKey));
  });
});

describe('Anthropic SDK → Nexus → OpenAI, upstream failures (a fresh gateway per test: no breaker state leaks)', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;
  let client: Anthropic;

  before(async () => {
    fake = await startFakeOpenAI();
  });
  after(async () => {
    await fake?.close();
  });
  beforeEach(async () => {
    fake.reset();
    gateway = await startGateway({ OPENAI_API_KEY: upstreamKey, OPENAI_BASE_URL: fake.url });
    client = sdk(gateway);
  });
  afterEach(async () => {
    await gateway?.close();
  });

  test('an upstream 429 is a RateLimitError with retry-after', limits, async () => {
    fake.setPersistentFault({ kind: 'status', status: 429, headers: { 'retry-after': '9' } });
    await assert.rejects(client.messages.create(hello), (error: unknown) => {
      assert.ok(error instanceof Anthropic.RateLimitError);
      assert.equal(error.type, 'rate_limit_error');
      assert.equal(error.headers?.get('retry-after'), '9');
      return true;
    });
  });

  for (const status of [500, 503]) {
    test(`an upstream ${status} is an InternalServerError (5xx), also for a stream`, limits, async () => {
      fake.setPersistentFault({ kind: 'status', status });
      await assert.rejects(client.messages.create(hello), (error: unknown) => {
        assert.ok(error instanceof Anthropic.InternalServerError);
        assert.equal(error.type, 'api_error');
        return true;
      });
      await assert.rejects(
        client.messages.stream(hello).finalMessage(),
        (error: unknown) => error instanceof Anthropic.InternalServerError,
      );
    });
  }

  test('a stream cut after the first byte ends with an error event, never message_stop', limits, async () => {
    fake.enqueue({ kind: 'cut', afterChunks: 3 });
    const { events, error } = await rawStream(gateway, { ...hello, stream: true });
    assert.equal(error, undefined, 'the gateway ends its own response cleanly');
    assert.equal(events[0]?.event, 'message_start');
    assertEndsWithErrorEvent(events);
    const line = gateway.logs.findLast((entry) => entry.includes('"path":"/v1/messages"')) ?? '';
    assert.match(line, /"errorCode":"stream_interrupted"/);
  });

  test('a stream cut after the first byte makes the SDK throw', limits, async () => {
    fake.enqueue({ kind: 'cut', afterChunks: 3 });
    await assert.rejects(client.messages.stream(hello).finalMessage(), (failure: unknown) => {
      assert.ok(failure instanceof Anthropic.APIError);
      assert.match(failure.message, /stream/i);
      return true;
    });
  });

  test('a malformed upstream chunk ends the stream with an error event', limits, async () => {
    fake.enqueue({ kind: 'malformed-chunk', afterChunks: 2 });
    const { events } = await rawStream(gateway, { ...hello, stream: true });
    assertEndsWithErrorEvent(events);
  });

  test('a cut after the finish but before [DONE] is still not a message_stop', limits, async () => {
    fake.enqueue({ kind: 'cut', afterChunks: 100 });
    const { events } = await rawStream(gateway, { ...hello, stream: true });
    assertEndsWithErrorEvent(events);
  });
});

describe('Anthropic SDK → Nexus → OpenAI, request deadline mid-stream (REQUEST_TIMEOUT_MS=400)', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    fake = await startFakeOpenAI();
    gateway = await startGateway({
      OPENAI_API_KEY: upstreamKey,
      OPENAI_BASE_URL: fake.url,
      REQUEST_TIMEOUT_MS: '400',
    });
  });
  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  test(
    'a stream stalled past the deadline ends with a timeout_error event, not a cut socket',
    limits,
    async () => {
      fake.enqueue({ kind: 'stall', afterChunks: 2 });
      const { events, error } = await rawStream(gateway, { ...hello, stream: true });
      assert.equal(error, undefined);
      assert.equal(events[0]?.event, 'message_start');
      assert.equal(events.at(-1)?.event, 'error');
      assert.equal(JSON.parse(events.at(-1)?.data ?? '{}').error?.type, 'timeout_error');
      assert.ok(!events.some((event) => event.event === 'message_stop'));
    },
  );
});

describe('Anthropic SDK with NEXUS_MASTER_KEY', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    fake = await startFakeOpenAI();
    gateway = await startGateway({
      OPENAI_API_KEY: upstreamKey,
      OPENAI_BASE_URL: fake.url,
      NEXUS_MASTER_KEY: masterKey,
    });
  });
  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  test('a wrong key is an AuthenticationError and nothing goes upstream', limits, async () => {
    await assert.rejects(
      sdk(gateway, 'wrong-key').messages.create(hello),
      (error: unknown) =>
        error instanceof Anthropic.AuthenticationError && error.type === 'authentication_error',
    );
    assert.equal(fake.calls.length, 0);
  });

  test('the master key works as the SDK sends it (x-api-key)', limits, async () => {
    const message = await sdk(gateway, masterKey).messages.create(hello);
    assert.deepEqual(message.content, [{ type: 'text', text: 'Echo: hello there nexus' }]);
  });
});

describe('Anthropic SDK → Nexus → Anthropic', () => {
  let fake: FakeAnthropic;
  let gateway: TestGateway;
  let client: Anthropic;
  const claude = 'claude-sonnet-4-20250514';

  before(async () => {
    fake = await startFakeAnthropic({ apiKey: upstreamKey });
    gateway = await startGateway({ ANTHROPIC_API_KEY: upstreamKey, ANTHROPIC_BASE_URL: fake.url });
    client = sdk(gateway);
  });
  after(async () => {
    await gateway?.close();
    await fake?.close();
  });
  beforeEach(() => fake.reset());

  test('text, usage and stop reason', limits, async () => {
    fake.setReply({
      text: 'Bonjour.',
      usage: { input_tokens: 11, output_tokens: 2, cache_read_input_tokens: 40 },
    });
    const { data, response } = await client.messages.create({ ...hello, model: claude }).withResponse();
    assert.deepEqual(data.content, [{ type: 'text', text: 'Bonjour.' }]);
    assert.equal(data.stop_reason, 'end_turn');
    assert.equal(data.usage.input_tokens, 11);
    assert.equal(data.usage.output_tokens, 2);
    assert.equal(data.usage.cache_read_input_tokens, 40);
    assert.equal(response.headers.get('x-nexus-provider'), 'Anthropic (Key #1)');
    assert.equal(fake.callsTo('/messages')[0]?.headers['x-api-key'], upstreamKey);
  });

  test('stream with two tool uses reassembles to identical inputs', limits, async () => {
    const uses = expectedUses.map((use) => ({ ...use }));
    fake.setReply({ text: 'Checking.', toolUses: uses });
    const message = await client.messages
      .stream({ ...hello, model: claude, tools: weatherTools, messages: [user('Weather and time?')] })
      .finalMessage();
    assert.equal(message.stop_reason, 'tool_use');
    assert.deepEqual(toolUses(message), expectedUses);
    assert.ok(message.usage.input_tokens > 0);
  });

  test('two tool uses, not streamed', limits, async () => {
    fake.setReply({ toolUses: expectedUses });
    const message = await client.messages.create({ ...hello, model: claude, tools: weatherTools });
    assert.deepEqual(toolUses(message), expectedUses);
  });

  test('an upstream 429 is a RateLimitError', limits, async () => {
    fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '4' } });
    await assert.rejects(
      client.messages.create({ ...hello, model: claude }),
      (error: unknown) =>
        error instanceof Anthropic.RateLimitError && error.headers?.get('retry-after') === '4',
    );
  });

  test('a stream cut after the first byte makes the SDK throw', limits, async () => {
    fake.enqueue({ kind: 'cut', afterEvents: 4 });
    await assert.rejects(
      client.messages.stream({ ...hello, model: claude }).finalMessage(),
      Anthropic.APIError,
    );
  });
});

describe('Anthropic SDK → Nexus → Gemini (translated)', () => {
  let fake: FakeGemini;
  let gateway: TestGateway;
  let client: Anthropic;
  const gemini = 'gemini-2.5-flash';

  before(async () => {
    fake = await startFakeGemini({ apiKey: upstreamKey });
    gateway = await startGateway({ GEMINI_API_KEY: upstreamKey, GEMINI_BASE_URL: fake.url });
    client = sdk(gateway);
  });
  after(async () => {
    await gateway?.close();
    await fake?.close();
  });
  beforeEach(() => fake.reset());

  test('text, usage and stop reason', limits, async () => {
    fake.setReply({ text: 'Hallo.', usage: { promptTokenCount: 9, candidatesTokenCount: 2 } });
    const { data, response } = await client.messages
      .create({ ...hello, model: gemini, system: 'Be kind.' })
      .withResponse();
    assert.deepEqual(data.content, [{ type: 'text', text: 'Hallo.' }]);
    assert.equal(data.stop_reason, 'end_turn');
    assert.equal(data.usage.input_tokens, 9);
    assert.equal(data.usage.output_tokens, 2);
    assert.equal(response.headers.get('x-nexus-provider'), 'Google Gemini (Key #1)');
  });

  test('a stream reassembles with the SDK', limits, async () => {
    fake.setReply({ text: 'Streaming from Gemini works.' });
    const message = await client.messages.stream({ ...hello, model: gemini }).finalMessage();
    assert.deepEqual(message.content, [{ type: 'text', text: 'Streaming from Gemini works.' }]);
    assert.equal(message.stop_reason, 'end_turn');
    assert.ok(message.usage.input_tokens > 0);
  });

  test('two tool uses, streamed and not, keep names and inputs', limits, async () => {
    const functionCalls = expectedUses.map((use) => ({ name: use.name, args: use.input }));
    fake.setReply({ functionCalls });
    const plain = await client.messages.create({ ...hello, model: gemini, tools: weatherTools });
    assert.equal(plain.stop_reason, 'tool_use');
    const expected = expectedUses.map(({ name, input }) => ({ name, input }));
    assert.deepEqual(
      toolUses(plain).map(({ name, input }) => ({ name, input })),
      expected,
    );
    const streamed = await client.messages
      .stream({ ...hello, model: gemini, tools: weatherTools })
      .finalMessage();
    assert.deepEqual(
      toolUses(streamed).map(({ name, input }) => ({ name, input })),
      expected,
    );
    assert.ok(
      toolUses(streamed).every((use) => /^[\w-]+$/.test(use.id)),
      'tool_use ids are valid Anthropic ids',
    );
  });

  test('an upstream 429 is a RateLimitError', limits, async () => {
    fake.setPersistentFault({ kind: 'status', status: 429 });
    await assert.rejects(client.messages.create({ ...hello, model: gemini }), Anthropic.RateLimitError);
    fake.setPersistentFault(null);
  });
});
