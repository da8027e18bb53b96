/**
 * Anthropic Messages pass-through: `createAnthropicNativeMessages` against the fake Anthropic on a real
 * socket, then the `/v1/messages` route using it (the gateway's Anthropic adapter is given the method here,
 * as the one-line wiring in adapter.ts would), driven by the official `@anthropic-ai/sdk`.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { loadCatalog } from '../../src/catalog/load.ts';
import { NexusError } from '../../src/core/errors.ts';
import { createAnthropicNativeMessages } from '../../src/providers/anthropic/native-messages.ts';
import type {
  NativeEvent,
  NativeMessagesReply,
  ProviderAdapter,
  UpstreamTarget,
} from '../../src/providers/types.ts';
import { HttpClient } from '../../src/transport/http-client.ts';
import { type FakeAnthropic, startFakeAnthropic } from '../support/fake-anthropic.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { readSse } from '../support/sse.ts';

const upstreamKey = 'sk-ant-test-upstream-secret';
const model = 'claude-sonnet-4-20250514';
const limits = { timeout: 10_000 };
const hello = {
  model: 'anything',
  max_tokens: 64,
  messages: [{ role: 'user' as const, content: 'hello there' }],
};

/** `top_k` is a Messages API field that this SDK version no longer types. */
function withTopK(topK: number, params: Anthropic.MessageCreateParamsNonStreaming) {
  return { ...params, top_k: topK } as Anthropic.MessageCreateParamsNonStreaming;
}

function targetFor(fake: FakeAnthropic, apiVersion?: string): UpstreamTarget {
  const provider = loadCatalog().providers.get('anthropic');
  assert.ok(provider !== undefined);
  return {
    instance: {
      id: 'anthropic#1',
      name: 'Anthropic (Key #1)',
      provider,
      baseUrl: fake.url,
      apiKey: upstreamKey,
      apiVersion,
      headers: {},
    },
    model,
    deployment: 'anthropic#1/anything',
    modelSpec: undefined,
  };
}

function context() {
  return { requestId: 'req-test', signal: new AbortController().signal, warnings: [] };
}

async function collect(reply: NativeMessagesReply) {
  assert.equal(reply.kind, 'events');
  const events: NativeEvent[] = [];
  try {
    for await (const batch of reply.events) events.push(...batch);
    return { events, error: undefined };
  } catch (error) {
    return { events, error };
  }
}

describe('createAnthropicNativeMessages', () => {
  let fake: FakeAnthropic;
  let client: HttpClient;
  let native: ReturnType<typeof createAnthropicNativeMessages>;

  before(async () => {
    fake = await startFakeAnthropic({ apiKey: upstreamKey });
    client = new HttpClient({ connectTimeoutMs: 2000, connectionsPerOrigin: 4 });
    native = createAnthropicNativeMessages(client);
  });
  after(async () => {
    await client?.close();
    await fake?.close();
  });
  beforeEach(() => fake.reset());

  test(
    'sends the body untouched except the model, with the instance key and default version',
    limits,
    async () => {
      const body = {
        ...hello,
        system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
        service_tier: 'auto',
      };
      const reply = await native(targetFor(fake), { endpoint: 'messages', body, headers: {} }, context());
      assert.equal(reply.kind, 'json');
      const [call] = fake.callsTo('/messages');
      assert.deepEqual(call?.body, { ...body, model });
      assert.equal(call?.headers['x-api-key'], upstreamKey);
      assert.equal(call?.headers['anthropic-version'], '2023-06-01');
      assert.equal(call?.headers['anthropic-beta'], undefined);
      assert.equal(call?.headers.authorization, undefined);
      if (reply.kind === 'json') assert.equal(JSON.parse(reply.body).type, 'message');
    },
  );

  test("the client's anthropic-version wins over config, and anthropic-beta passes", limits, async () => {
    const headers = { 'anthropic-version': '2023-01-01', 'anthropic-beta': 'prompt-caching-2024-07-31' };
    await native(targetFor(fake, '2099-01-01'), { endpoint: 'messages', body: hello, headers }, context());
    await native(
      targetFor(fake, '2024-10-22'),
      { endpoint: 'messages', body: hello, headers: {} },
      context(),
    );
    const [first, second] = fake.callsTo('/messages');
    assert.equal(first?.headers['anthropic-version'], '2023-01-01');
    assert.equal(first?.headers['anthropic-beta'], 'prompt-caching-2024-07-31');
    assert.equal(second?.headers['anthropic-version'], '2024-10-22');
  });

  test('count_tokens goes to /messages/count_tokens', limits, async () => {
    const { max_tokens: _, ...body } = hello;
    const reply = await native(targetFor(fake), { endpoint: 'count_tokens', body, headers: {} }, context());
    assert.equal(fake.callsTo('/messages/count_tokens').length, 1);
    assert.equal(reply.kind, 'json');
    if (reply.kind === 'json') assert.equal(typeof JSON.parse(reply.body).input_tokens, 'number');
  });

  test('non-2xx replies are catalogue errors before any byte', limits, async () => {
    const cases: Array<[number, string]> = [
      [429, 'upstream_rate_limited'],
      [401, 'upstream_auth_failed'],
      [400, 'upstream_bad_request'],
      [529, 'upstream_error'],
    ];
    for (const [status, code] of cases) {
      fake.enqueue({ kind: 'status', status, headers: { 'retry-after': '7' } });
      await assert.rejects(
        native(targetFor(fake), { endpoint: 'messages', body: hello, headers: {} }, context()),
        (error: unknown) => error instanceof NexusError && error.code === code,
        `${status}`,
      );
    }
  });

  test('stream events are forwarded exactly as the upstream sent them', limits, async () => {
    fake.setReply({ text: 'Hi there.', toolUses: [{ id: 'toolu_1', name: 'f', input: { a: [1, 'two'] } }] });
    const body = { ...hello, stream: true };
    const { events, error } = await collect(
      await native(targetFor(fake), { endpoint: 'messages', body, headers: {} }, context()),
    );
    assert.equal(error, undefined);
    assert.equal(events[0]?.event, 'message_start');
    assert.equal(events.at(-1)?.event, 'message_stop');
    assert.ok(
      events.some((event) => event.event === 'ping'),
      'ping is forwarded too',
    );
    for (const event of events) assert.equal(JSON.parse(event.data).type, event.event);
    assert.ok(events.some((event) => event.data.includes('input_json_delta')));
  });

  test('a stream cut before message_stop throws stream_interrupted after what arrived', limits, async () => {
    fake.enqueue({ kind: 'cut', afterEvents: 4 });
    const { events, error } = await collect(
      await native(
        targetFor(fake),
        { endpoint: 'messages', body: { ...hello, stream: true }, headers: {} },
        context(),
      ),
    );
    assert.equal(events.length, 4);
    assert.ok(error instanceof NexusError && error.code === 'stream_interrupted');
  });

  test('a clean end without message_stop is not a silent success', limits, async () => {
    fake.enqueue({ kind: 'no-message-stop' });
    const { error } = await collect(
      await native(
        targetFor(fake),
        { endpoint: 'messages', body: { ...hello, stream: true }, headers: {} },
        context(),
      ),
    );
    assert.ok(error instanceof NexusError && /before message_stop/.test(error.message));
  });

  test("the upstream's own error event is forwarded and ends the stream", limits, async () => {
    fake.enqueue({ kind: 'error-event', afterEvents: 3 });
    const { events, error } = await collect(
      await native(
        targetFor(fake),
        { endpoint: 'messages', body: { ...hello, stream: true }, headers: {} },
        context(),
      ),
    );
    assert.equal(error, undefined);
    assert.equal(events.at(-1)?.event, 'error');
    assert.equal(JSON.parse(events.at(-1)?.data ?? '{}').error.type, 'overloaded_error');
  });
});

/** Gives the gateway's Anthropic adapter the native method (or takes it away), as wiring adapter.ts would. */
function withNative(gateway: TestGateway, enabled: boolean): HttpClient {
  const registry = gateway.app.gateway.registry;
  const adapterFor = registry.adapterFor.bind(registry);
  const client = new HttpClient({ connectTimeoutMs: 2000, connectionsPerOrigin: 4 });
  const nativeMessages = createAnthropicNativeMessages(client);
  registry.adapterFor = (instance) => {
    const adapter: ProviderAdapter = adapterFor(instance);
    if (instance.provider.wire !== 'anthropic') return adapter;
    const { nativeMessages: _, ...rest } = adapter;
    return enabled ? { ...rest, nativeMessages } : rest;
  };
  return client;
}

describe('/v1/messages → Anthropic, passed through', () => {
  let fake: FakeAnthropic;
  let gateway: TestGateway;
  let nativeClient: HttpClient;
  let sdk: Anthropic;

  before(async () => {
    fake = await startFakeAnthropic({ apiKey: upstreamKey });
    gateway = await startGateway({ ANTHROPIC_API_KEY: upstreamKey, ANTHROPIC_BASE_URL: fake.url });
    nativeClient = withNative(gateway, true);
    sdk = new Anthropic({ apiKey: 'unused', baseURL: gateway.origin, maxRetries: 0, timeout: 5000 });
  });
  after(async () => {
    await gateway?.close();
    await nativeClient?.close();
    await fake?.close();
  });
  beforeEach(() => fake.reset());

  test('Anthropic-only features reach the upstream intact, with no warnings', limits, async () => {
    fake.setReply({
      text: 'Cached answer.',
      usage: { input_tokens: 12, cache_read_input_tokens: 900, output_tokens: 3 },
    });
    const { data, response } = await sdk.messages
      .create({
        model: `anthropic/${model}`,
        max_tokens: 100,
        system: [{ type: 'text', text: 'Long shared context.', cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: 'Question?' }],
        service_tier: 'standard_only',
      })
      .withResponse();
    assert.deepEqual(data.content, [{ type: 'text', text: 'Cached answer.' }]);
    assert.equal(data.usage.cache_read_input_tokens, 900);
    assert.equal(response.headers.get('x-nexus-provider'), 'Anthropic (Key #1)');
    assert.equal(response.headers.get('x-nexus-model'), model);
    assert.equal(response.headers.get('x-nexus-warnings'), null);
    const body = fake.callsTo('/messages')[0]?.body as Record<string, unknown>;
    assert.equal(body.model, model);
    assert.equal(body.service_tier, 'standard_only');
    assert.deepEqual((body.system as Array<Record<string, unknown>>)[0]?.cache_control, {
      type: 'ephemeral',
    });
  });

  test('streams reassemble with the SDK; two tool uses keep their inputs', limits, async () => {
    const toolUses = [
      { id: 'toolu_A', name: 'get_weather', input: { city: 'Paris', days: [1, 2] } },
      { id: 'toolu_B', name: 'get_time', input: { tz: 'Europe/Paris' } },
    ];
    fake.setReply({ text: 'Checking both.', toolUses });
    const stream = sdk.messages.stream({
      model,
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Weather and time in Paris?' }],
      tools: toolUses.map((tool) => ({ name: tool.name, input_schema: { type: 'object' as const } })),
    });
    const message = await stream.finalMessage();
    assert.equal(message.stop_reason, 'tool_use');
    assert.deepEqual(
      message.content
        .filter((block) => block.type === 'tool_use')
        .map(({ id, name, input }) => ({ id, name, input })),
      toolUses,
    );
  });

  test('count_tokens is answered by the upstream', limits, async () => {
    const counted = await sdk.messages.countTokens({
      model,
      messages: [{ role: 'user', content: 'one two three' }],
    });
    assert.equal(counted.input_tokens, 3);
    assert.equal(fake.callsTo('/messages/count_tokens').length, 1);
  });

  test('upstream errors keep their meaning in Anthropic shape', limits, async () => {
    fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '3' } });
    await assert.rejects(
      sdk.messages.create({ ...hello, model }),
      (error: unknown) =>
        error instanceof Anthropic.RateLimitError && error.headers?.get('retry-after') === '3',
    );
  });

  test('an error event before the first token is retried invisibly', limits, async () => {
    fake.enqueue({
      kind: 'error-event',
      afterEvents: 2,
      errorType: 'overloaded_error',
      message: 'Overloaded',
    });
    const message = await sdk.messages.stream({ ...hello, model }).finalMessage();
    assert.ok(message.content.length > 0, 'the client receives the whole answer');
    assert.equal(fake.callsTo('/messages').length, 2, 'the overloaded attempt was retried once');
  });

  test('a stream cut after the first byte ends with an error event; the SDK throws', limits, async () => {
    fake.enqueue({ kind: 'cut', afterEvents: 4 });
    const response = await fetch(`${gateway.origin}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...hello, model, stream: true }),
    });
    const { events } = await readSse(response);
    assert.equal(events.at(-1)?.event, 'error');
    assert.ok(!events.some((event) => event.event === 'message_stop'));
    fake.enqueue({ kind: 'cut', afterEvents: 4 });
    await assert.rejects(sdk.messages.stream({ ...hello, model }).finalMessage(), Anthropic.APIError);
  });

  test(
    "after the first token, the upstream's error event reaches the SDK as its own error",
    limits,
    async () => {
      // message_start, content_block_start, ping, one text delta: the stream is committed, then Anthropic fails.
      fake.enqueue({
        kind: 'error-event',
        afterEvents: 4,
        errorType: 'overloaded_error',
        message: 'Overloaded',
      });
      await assert.rejects(sdk.messages.stream({ ...hello, model }).finalMessage(), /Overloaded/);
    },
  );
});

describe('/v1/messages → Anthropic, translated (adapter without the native method)', () => {
  let fake: FakeAnthropic;
  let gateway: TestGateway;
  let nativeClient: HttpClient;
  let sdk: Anthropic;

  before(async () => {
    fake = await startFakeAnthropic({ apiKey: upstreamKey });
    gateway = await startGateway({ ANTHROPIC_API_KEY: upstreamKey, ANTHROPIC_BASE_URL: fake.url });
    nativeClient = withNative(gateway, false);
    sdk = new Anthropic({ apiKey: 'unused', baseURL: gateway.origin, maxRetries: 0, timeout: 5000 });
  });
  after(async () => {
    await gateway?.close();
    await nativeClient?.close();
    await fake?.close();
  });
  beforeEach(() => fake.reset());

  test(
    'text round-trips through the canonical form; Anthropic-only fields are warned about',
    limits,
    async () => {
      const { data, response } = await sdk.messages
        .create(withTopK(3, { model, max_tokens: 50, messages: [{ role: 'user', content: 'hi there' }] }))
        .withResponse();
      assert.deepEqual(data.content, [{ type: 'text', text: 'Echo: hi there' }]);
      assert.match(response.headers.get('x-nexus-warnings') ?? '', /top_k/);
    },
  );

  test('count_tokens is a clear 400 when the target cannot count', limits, async () => {
    await assert.rejects(
      sdk.messages.countTokens({ model, messages: [{ role: 'user', content: 'x' }] }),
      (error: unknown) =>
        error instanceof Anthropic.BadRequestError && /Token counting needs/.test(error.message),
    );
    assert.equal(fake.calls.length, 0);
  });
});
