/**
 * Proves the fake Cohere v2 provider against the official `cohere-ai` SDK: if the SDK parses what the fake
 * sends and fails the way it fails against Cohere, gateway tests built on the fake test real behaviour.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Cohere, CohereClientV2, CohereError } from 'cohere-ai';
import { type FakeCohere, startFakeCohere } from '../support/fake-cohere.ts';
import { fakeEmbedding } from '../support/fake-openai.ts';
import { readSse } from '../support/sse.ts';

const limits = { timeout: 10_000 };
const token = 'co-test-key';
const model = 'command-r-08-2024';
const messages = [{ role: 'user' as const, content: 'hello there fake' }];

let fake: FakeCohere;

beforeEach(async () => {
  fake = await startFakeCohere({ apiKey: token });
});

afterEach(async () => {
  await fake.close();
});

function sdk(key = token): CohereClientV2 {
  // The SDK appends `v2/chat` to the environment, so it takes the origin; Nexus takes `fake.url` (`/v2`).
  return new CohereClientV2({ token: key, environment: fake.origin, timeoutInSeconds: 5 });
}

describe('chat', () => {
  test('a non-stream chat parses in the SDK, echoes the user and reports usage', limits, async () => {
    const reply = await sdk().chat({ model, messages }, { maxRetries: 0 });

    assert.equal(reply.finishReason, 'COMPLETE');
    assert.deepEqual(reply.message.content, [{ type: 'text', text: 'Echo: hello there fake' }]);
    assert.deepEqual(reply.usage?.tokens, { inputTokens: 3, outputTokens: 4 });
    assert.equal(reply.usage?.cachedTokens, 0);
    const [call] = fake.callsTo('/chat');
    assert.equal(call?.headers.authorization, `Bearer ${token}`);
    assert.deepEqual(call?.body, { model, messages, stream: false });
    assert.equal(await call?.settled, 'completed');
  });

  test('chatStream with a tool plan and two tool calls yields the v2 event sequence', limits, async () => {
    fake.setReply({
      toolPlan: 'I will check both.',
      toolCalls: [
        { id: 'get_weather_1', name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' },
        { id: 'get_time_2', name: 'get_time', arguments: '{"timezone":"Europe/Paris"}' },
      ],
    });
    const types: string[] = [];
    let plan = '';
    const calls: Array<{ id: string; name: string; arguments: string }> = [];
    let end: Cohere.ChatMessageEndEventDelta | undefined;

    for await (const event of await sdk().chatStream({ model, messages }, { maxRetries: 0 })) {
      types.push(event.type);
      if (event.type === 'tool-plan-delta') plan += event.delta?.message?.toolPlan ?? '';
      if (event.type === 'tool-call-start') {
        const started = event.delta?.message?.toolCalls;
        calls[event.index ?? -1] = {
          id: started?.id ?? '',
          name: started?.function?.name ?? '',
          arguments: started?.function?.arguments ?? '',
        };
      }
      if (event.type === 'tool-call-delta') {
        const call = calls[event.index ?? -1];
        assert.ok(call, 'a delta follows its start');
        call.arguments += event.delta?.message?.toolCalls?.function?.arguments ?? '';
      }
      if (event.type === 'message-end') end = event.delta;
    }

    assert.equal(types[0], 'message-start');
    assert.equal(types.at(-1), 'message-end');
    assert.equal(plan, 'I will check both.');
    assert.deepEqual(
      calls.map((call) => [call.id, call.name, JSON.parse(call.arguments)]),
      [
        ['get_weather_1', 'get_weather', { city: 'Paris', unit: 'celsius' }],
        ['get_time_2', 'get_time', { timezone: 'Europe/Paris' }],
      ],
    );
    assert.ok(types.filter((type) => type === 'tool-call-delta').length > 4, 'arguments arrive in fragments');
    assert.deepEqual(
      types.filter((type) => type.startsWith('tool-call-') && type !== 'tool-call-delta'),
      ['tool-call-start', 'tool-call-end', 'tool-call-start', 'tool-call-end'],
    );
    assert.equal(end?.finishReason, 'TOOL_CALL');
    assert.deepEqual(end?.usage?.tokens, { inputTokens: 3, outputTokens: 8 });
  });

  test('the wire stream names each event and ends with data: [DONE]', limits, async () => {
    const response = await fetch(`${fake.url}/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages, stream: true }),
      signal: AbortSignal.timeout(5000),
    });

    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const { events, error } = await readSse(response);
    assert.equal(error, undefined);
    assert.equal(events.at(-1)?.data, '[DONE]');
    for (const event of events.slice(0, -1)) {
      assert.equal(event.event, (JSON.parse(event.data) as { type: string }).type);
    }
  });

  test('max_tokens truncates the answer with finish_reason MAX_TOKENS', limits, async () => {
    const reply = await sdk().chat({ model, messages, maxTokens: 2 }, { maxRetries: 0 });

    assert.equal(reply.finishReason, 'MAX_TOKENS');
    assert.deepEqual(reply.message.content, [{ type: 'text', text: 'Echo: hello' }]);
  });
});

describe('embed', () => {
  test('float embeddings with billed input tokens', limits, async () => {
    const reply = await sdk().embed(
      { model: 'embed-english-v3.0', texts: ['alpha', 'beta gamma'], inputType: 'search_document' },
      { maxRetries: 0 },
    );

    assert.deepEqual(reply.embeddings.float, [fakeEmbedding('alpha', 16), fakeEmbedding('beta gamma', 16)]);
    assert.equal(reply.meta?.billedUnits?.inputTokens, 3);
    assert.deepEqual(reply.texts, ['alpha', 'beta gamma']);
  });
});

describe('errors', () => {
  test('a queued 429 is the SDK TooManyRequestsError with Cohere `{id, message}` body', limits, async () => {
    fake.enqueue({ kind: 'status', status: 429 });

    const error = await sdk()
      .chat({ model, messages }, { maxRetries: 0 })
      .catch((caught: unknown) => caught);

    assert.ok(error instanceof Cohere.TooManyRequestsError);
    assert.ok(error instanceof CohereError);
    assert.equal(error.statusCode, 429);
    assert.match((error.body as { message: string }).message, /Trial key/);
    assert.equal(typeof (error.body as { id: string }).id, 'string');
  });

  test(
    'a wrong token is UnauthorizedError; an invalid embed request is BadRequestError',
    limits,
    async () => {
      const unauthorized = await sdk('wrong')
        .chat({ model, messages }, { maxRetries: 0 })
        .catch((caught: unknown) => caught);
      const missingType = await fetch(`${fake.url}/embed`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'embed-english-v3.0', texts: ['x'] }),
        signal: AbortSignal.timeout(5000),
      });

      assert.ok(unauthorized instanceof Cohere.UnauthorizedError);
      assert.equal(missingType.status, 400);
      assert.match(((await missingType.json()) as { message: string }).message, /input_type/);
    },
  );

  test('a cut stream makes the SDK iteration fail, not end quietly', limits, async () => {
    fake.enqueue({ kind: 'cut', afterEvents: 3 });
    const seen: string[] = [];

    await assert.rejects(async () => {
      for await (const event of await sdk().chatStream({ model, messages }, { maxRetries: 0 })) {
        seen.push(event.type);
      }
    });
    assert.deepEqual(seen, ['message-start', 'content-start', 'content-delta']);
    assert.equal(await fake.calls[0]?.settled, 'server-destroyed');
  });
});
