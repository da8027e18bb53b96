/**
 * Proves the fake Anthropic provider against the official `@anthropic-ai/sdk`: if the SDK parses what the fake
 * sends (messages, the streamed event sequence, tool inputs, token counts) and fails the way it fails against
 * Anthropic, gateway tests built on the fake test real behaviour.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { type FakeAnthropic, startFakeAnthropic } from '../support/fake-anthropic.ts';
import { readSse, sseJson } from '../support/sse.ts';

const limits = { timeout: 10_000 };
const model = 'claude-sonnet-4-20250514';
const messages = [{ role: 'user' as const, content: 'hello there fake' }];
const weather = { id: 'toolu_weather', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } };
const time = { id: 'toolu_time', name: 'get_time', input: { timezone: 'Europe/Paris', hour12: false } };

let fake: FakeAnthropic;

beforeEach(async () => {
  fake = await startFakeAnthropic();
});

afterEach(async () => {
  await fake.close();
});

function sdk(options: { apiKey?: string; timeout?: number } = {}): Anthropic {
  return new Anthropic({
    apiKey: options.apiKey ?? 'sk-ant-test',
    // The SDK appends `/v1/messages` itself.
    baseURL: fake.url.replace(/\/v1$/, ''),
    maxRetries: 0,
    timeout: options.timeout ?? 2000,
    logLevel: 'off',
  });
}

function postMessages(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${fake.url}/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': 'sk-ant-test',
      'anthropic-version': '2023-06-01',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
}

describe('messages', () => {
  test('a message parses in the SDK, echoes the last user text and counts tokens', limits, async () => {
    const message = await sdk().messages.create({ model, max_tokens: 100, messages });

    assert.match(message.id, /^msg_01/);
    assert.equal(message.type, 'message');
    assert.equal(message.role, 'assistant');
    assert.equal(message.model, model);
    assert.deepEqual(message.content, [{ type: 'text', text: 'Echo: hello there fake' }]);
    assert.equal(message.stop_reason, 'end_turn');
    assert.equal(message.stop_sequence, null);
    assert.equal(message.usage.input_tokens, 3);
    assert.equal(message.usage.output_tokens, 4);
    assert.equal(message.usage.cache_read_input_tokens, 0);

    const [call] = fake.callsTo('/messages');
    assert.equal(call?.headers.authorization, 'Bearer sk-ant-test', 'SDK v1 sends the key as a Bearer token');
    assert.equal(typeof call?.headers['anthropic-version'], 'string');
    assert.deepEqual(call?.body, { model, max_tokens: 100, messages });
    assert.equal(await call?.settled, 'completed');
  });

  test(
    'max_tokens truncates with stop_reason max_tokens; a stop sequence cuts the text',
    limits,
    async () => {
      const client = sdk();

      const short = await client.messages.create({ model, max_tokens: 2, messages });
      const stopped = await client.messages.create({
        model,
        max_tokens: 100,
        messages,
        stop_sequences: [' fake'],
      });

      assert.deepEqual(short.content, [{ type: 'text', text: 'Echo: hello' }]);
      assert.equal(short.stop_reason, 'max_tokens');
      assert.equal(stopped.stop_reason, 'stop_sequence');
      assert.equal(stopped.stop_sequence, ' fake');
      assert.deepEqual(stopped.content, [{ type: 'text', text: 'Echo: hello there' }]);
    },
  );

  test('a scripted reply with two tool uses and cache usage comes back as scripted', limits, async () => {
    fake.setReply({
      text: 'Checking both.',
      toolUses: [weather, time],
      usage: { input_tokens: 10, cache_read_input_tokens: 200, cache_creation_input_tokens: 30 },
    });

    const message = await sdk().messages.create({ model, max_tokens: 100, messages });

    assert.equal(message.stop_reason, 'tool_use');
    assert.deepEqual(message.content, [
      { type: 'text', text: 'Checking both.' },
      { type: 'tool_use', ...weather },
      { type: 'tool_use', ...time },
    ]);
    assert.equal(message.usage.input_tokens, 10);
    assert.equal(message.usage.cache_read_input_tokens, 200);
    assert.equal(message.usage.cache_creation_input_tokens, 30);
  });

  test('count_tokens agrees with the input_tokens of the same request', limits, async () => {
    const client = sdk();
    const request = {
      model,
      system: 'You are terse.',
      messages: [
        { role: 'user' as const, content: 'what is the weather in Paris' },
        { role: 'assistant' as const, content: [{ type: 'tool_use' as const, ...weather }] },
        {
          role: 'user' as const,
          content: [{ type: 'tool_result' as const, tool_use_id: weather.id, content: 'sunny and warm' }],
        },
      ],
    };

    const counted = await client.messages.countTokens(request);
    const message = await client.messages.create({ ...request, max_tokens: 50 });

    assert.ok(counted.input_tokens > 0);
    assert.equal(counted.input_tokens, message.usage.input_tokens);
    assert.equal(fake.callsTo('/messages/count_tokens').length, 1);
  });
});

describe('streaming', () => {
  test(
    'messages.stream() accumulates text and usage; finalMessage() equals the JSON reply',
    limits,
    async () => {
      const client = sdk();
      const texts: string[] = [];

      const stream = client.messages.stream({ model, max_tokens: 100, messages });
      stream.on('text', (text) => texts.push(text));
      const streamed = await stream.finalMessage();
      const plain = await client.messages.create({ model, max_tokens: 100, messages });

      assert.ok(texts.length > 1, 'text arrives in several deltas');
      assert.equal(texts.join(''), 'Echo: hello there fake');
      assert.deepEqual(streamed.content, plain.content);
      assert.equal(streamed.stop_reason, 'end_turn');
      assert.equal(streamed.usage.input_tokens, plain.usage.input_tokens);
      assert.equal(streamed.usage.output_tokens, plain.usage.output_tokens);
    },
  );

  test('two tool uses stream as input_json_delta fragments the SDK reassembles', limits, async () => {
    fake.setReply({ toolUses: [weather, time] });
    const fragments: string[] = [];

    const stream = sdk().messages.stream({ model, max_tokens: 100, messages });
    stream.on('inputJson', (partial) => fragments.push(partial));
    const message = await stream.finalMessage();

    assert.equal(message.stop_reason, 'tool_use');
    assert.deepEqual(message.content, [
      { type: 'tool_use', ...weather },
      { type: 'tool_use', ...time },
    ]);
    assert.ok(fragments.length > 4, 'the inputs arrive in several fragments');
  });

  test('the wire sequence: named events, ping, message_delta usage, message_stop last', limits, async () => {
    fake.setReply({ text: 'Two words.', toolUses: [weather] });

    const response = await postMessages({ model, max_tokens: 100, messages, stream: true });
    const { events, error } = await readSse(response);

    assert.equal(error, undefined);
    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const data = sseJson<{ type: string; [field: string]: unknown }>(events);
    assert.ok(
      events.every((event, index) => event.event === data[index]?.type),
      'event names match types',
    );
    const types = data.map((event) => event.type);
    assert.equal(types[0], 'message_start');
    assert.ok(types.includes('ping'));
    assert.deepEqual(types.slice(-2), ['message_delta', 'message_stop']);
    const delta = data.at(-2) as unknown as {
      delta: { stop_reason: string };
      usage: { output_tokens: number };
    };
    assert.equal(delta.delta.stop_reason, 'tool_use');
    assert.ok(delta.usage.output_tokens > 0);
    const partials = data
      .filter((event) => (event.delta as { type?: string } | undefined)?.type === 'input_json_delta')
      .map((event) => (event.delta as { partial_json: string }).partial_json);
    assert.equal(partials[0], '', 'the first tool fragment is empty, as Anthropic sends it');
    assert.deepEqual(JSON.parse(partials.join('')), weather.input);
  });

  test('an error event makes the SDK throw an APIError with its type', limits, async () => {
    fake.enqueue({ kind: 'error-event', afterEvents: 3 });

    const stream = sdk().messages.stream({ model, max_tokens: 100, messages });

    await assert.rejects(stream.finalMessage(), (error) => {
      assert.ok(error instanceof Anthropic.APIError);
      assert.equal(error.type, 'overloaded_error');
      return true;
    });
  });

  test('a cut stream makes finalMessage() reject; the fake records who ended it', limits, async () => {
    fake.enqueue({ kind: 'cut', afterEvents: 4 });

    await assert.rejects(sdk().messages.stream({ model, max_tokens: 100, messages }).finalMessage());
    assert.equal(await fake.calls[0]?.settled, 'server-destroyed');
  });

  test('no-message-stop ends the body cleanly after message_delta', limits, async () => {
    fake.enqueue({ kind: 'no-message-stop' });

    const { events, error } = await readSse(
      await postMessages({ model, max_tokens: 100, messages, stream: true }),
    );

    assert.equal(error, undefined);
    assert.equal(events.at(-1)?.event, 'message_delta');
  });

  test('a malformed event breaks SDK parsing', limits, async () => {
    fake.enqueue({ kind: 'malformed-event', afterEvents: 3 });

    // MessageStream wraps the JSON.parse failure in an AnthropicError whose cause is the SyntaxError.
    await assert.rejects(
      sdk().messages.stream({ model, max_tokens: 100, messages }).finalMessage(),
      (error) => {
        assert.ok(error instanceof Anthropic.AnthropicError);
        assert.ok((error as Error).cause instanceof SyntaxError);
        return true;
      },
    );
  });
});

describe('errors', () => {
  test('529 is the SDK OverloadedError; 429 is a RateLimitError with retry-after', limits, async () => {
    fake.enqueue(
      { kind: 'status', status: 529 },
      { kind: 'status', status: 429, headers: { 'retry-after': '7' } },
    );
    const client = sdk();

    const overloaded = await client.messages
      .create({ model, max_tokens: 10, messages })
      .catch((e: unknown) => e);
    const limited = await client.messages
      .create({ model, max_tokens: 10, messages })
      .catch((e: unknown) => e);

    assert.ok(overloaded instanceof Anthropic.OverloadedError);
    assert.equal(overloaded.type, 'overloaded_error');
    assert.equal(overloaded.apiMessage, 'Overloaded');
    assert.ok(limited instanceof Anthropic.RateLimitError);
    assert.equal(limited.headers.get('retry-after'), '7');
  });

  test('a wrong key is an AuthenticationError; a missing version header is a 400', limits, async () => {
    await fake.close();
    fake = await startFakeAnthropic({ apiKey: 'sk-ant-right' });

    const wrong = await sdk({ apiKey: 'sk-ant-wrong' })
      .messages.create({ model, max_tokens: 10, messages })
      .catch((e: unknown) => e);
    const noVersion = await postMessages(
      { model, max_tokens: 10, messages },
      { 'x-api-key': 'sk-ant-right', 'anthropic-version': '' },
    );

    assert.ok(wrong instanceof Anthropic.AuthenticationError);
    assert.equal(wrong.type, 'authentication_error');
    assert.equal(noVersion.status, 400);
    assert.deepEqual(((await noVersion.json()) as { error: unknown }).error, {
      type: 'invalid_request_error',
      message: 'anthropic-version: header is required',
    });
  });

  test('bodies Anthropic rejects are BadRequestErrors naming the problem', limits, async () => {
    const client = sdk();
    const rejected = async (body: unknown) => {
      const error = await client.messages
        .create(body as Anthropic.MessageCreateParamsNonStreaming)
        .catch((e: unknown) => e);
      assert.ok(error instanceof Anthropic.BadRequestError, `rejected: ${JSON.stringify(body)}`);
      return error.apiMessage ?? '';
    };

    assert.match(await rejected({ model, messages }), /^max_tokens: Field required/);
    // SDK v1 sends anthropic-version 2026-10-21, which has no sampling parameters at all.
    assert.match(
      await rejected({ model, max_tokens: 5, messages, temperature: 1 }),
      /^temperature: Extra inputs are not permitted/,
    );
    assert.match(await rejected({ model, max_tokens: 5, messages, seed: 1 }), /seed: Extra inputs/);
    assert.match(
      await rejected({ model, max_tokens: 5, messages: [{ role: 'system', content: 'x' }] }),
      /messages\.0\.role/,
    );
    assert.match(
      await rejected({
        model,
        max_tokens: 5,
        messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }],
      }),
      /non-empty/,
    );
    const orphanResult = [
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_x', content: 'r' }] },
    ];
    assert.match(
      await rejected({ model, max_tokens: 5, messages: orphanResult }),
      /unexpected `tool_use_id`/,
    );
    const unanswered = [
      { role: 'user', content: 'go' },
      { role: 'assistant', content: [{ type: 'tool_use', ...weather }] },
      { role: 'user', content: 'never mind' },
    ];
    assert.match(await rejected({ model, max_tokens: 5, messages: unanswered }), /without `tool_result`/);
    assert.equal(fake.calls.length, 7);

    const oldVersion = { 'anthropic-version': '2023-06-01' };
    const tooHot = await postMessages({ model, max_tokens: 5, messages, temperature: 1.5 }, oldVersion);
    const warm = await postMessages(
      { model, max_tokens: 5, messages, temperature: 0.7, top_k: 5 },
      oldVersion,
    );
    assert.equal(tooHot.status, 400);
    assert.match(
      ((await tooHot.json()) as { error: { message: string } }).error.message,
      /temperature: range/,
    );
    assert.equal(warm.status, 200);
  });

  test('reset is an APIConnectionError; hang times out; close() releases a hung call', limits, async () => {
    fake.enqueue({ kind: 'reset' }, { kind: 'hang' }, { kind: 'hang' });

    const reset = await sdk()
      .messages.create({ model, max_tokens: 10, messages })
      .catch((e: unknown) => e);
    const timedOut = await sdk({ timeout: 300 })
      .messages.create({ model, max_tokens: 10, messages })
      .catch((e: unknown) => e);
    const pending = sdk({ timeout: 600_000 })
      .messages.create({ model, max_tokens: 10, messages })
      .catch((e: unknown) => e);
    while (fake.calls.length < 3) await new Promise((resolve) => setImmediate(resolve));
    await fake.close();

    assert.ok(reset instanceof Anthropic.APIConnectionError);
    assert.ok(!(reset instanceof Anthropic.APIConnectionTimeoutError));
    assert.ok(timedOut instanceof Anthropic.APIConnectionTimeoutError);
    assert.ok((await pending) instanceof Anthropic.APIConnectionError);
    assert.equal(fake.calls[2]?.outcome, 'server-closed');
  });
});
