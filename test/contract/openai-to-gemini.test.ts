/**
 * The official `openai` SDK → Nexus → the fake Gemini API on a real socket. An OpenAI client must get
 * OpenAI-shaped answers from Gemini: text, streams, parallel function calls, images, exact usage with cached
 * tokens, embeddings, and errors in the SDK's own classes; a broken Gemini stream never looks complete.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { loadCatalog } from '../../src/catalog/load.ts';
import {
  type FakeGemini,
  fakeEmbedding,
  type RecordedCall,
  startFakeGemini,
} from '../support/fake-gemini.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { endsWithDone, readSse, type SseEvent, sseJson } from '../support/sse.ts';

const upstreamKey = 'AIzaSyTestUpstreamSecret0123456789abc';
const limits = { timeout: 10_000 };
const geminiModel = 'gemini-2.5-flash';
const model = `gemini/${geminiModel}`;
const messages = [{ role: 'user' as const, content: 'hello there nexus' }];

const tools = [
  {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      description: 'Current weather for a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
        required: ['city'],
        additionalProperties: false,
      },
    },
  },
];
const weatherCalls = [
  { name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } },
  { name: 'get_weather', args: { city: 'Tokyo', unit: 'celsius' } },
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

/** Polls `check` on each turn of the event loop until it holds or `ms` pass; returns whether it held. */
async function eventually(check: () => boolean, ms = 2000): Promise<boolean> {
  const deadline = AbortSignal.timeout(ms);
  while (!check()) {
    if (deadline.aborted) return false;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return true;
}

function bodyOf(call: RecordedCall | undefined): Record<string, unknown> {
  assert.ok(call !== undefined, 'Gemini received the call');
  return call.body as Record<string, unknown>;
}

/** The stream ended with one OpenAI error event and no `[DONE]`, and no chunk claimed the answer finished. */
function assertEndsWithErrorEvent(events: SseEvent[]) {
  assert.ok(!events.some((event) => event.data === '[DONE]'), 'a broken stream never sends [DONE]');
  const last = JSON.parse(events.at(-1)?.data ?? '{}') as { error?: { code?: string } };
  assert.equal(
    last.error?.code,
    'stream_interrupted',
    `the last event is an error event: ${events.at(-1)?.data}`,
  );
  const chunks = events.slice(0, -1).map((event) => JSON.parse(event.data) as ChatCompletionChunk);
  assert.ok(chunks.every((chunk) => chunk.choices.every((choice) => choice.finish_reason === null)));
}

/** POSTs a chat body with fetch and reads the raw SSE reply; a hang fails after 5 s instead of stalling. */
async function rawStream(gateway: TestGateway, body: unknown) {
  const response = await fetch(`${gateway.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  return { response, ...(await readSse(response)) };
}

/** Starts a fake Gemini and a gateway in front of it. */
async function startStack(fakeKey = upstreamKey) {
  const fake = await startFakeGemini({ apiKey: fakeKey });
  const gateway = await startGateway({ GEMINI_API_KEY: upstreamKey, GEMINI_BASE_URL: fake.url });
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
    close: async () => {
      await gateway.close();
      await fake.close();
    },
  };
}

describe('OpenAI SDK → Nexus → Gemini', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  let fake: FakeGemini;
  let gateway: TestGateway;
  let client: OpenAI;

  before(async () => {
    stack = await startStack();
    ({ fake, gateway, client } = stack);
  });

  after(async () => {
    await stack?.close();
  });

  beforeEach(() => fake.reset());

  test(
    'a chat returns Gemini text, model and usage; the key travels only in x-goog-api-key',
    limits,
    async () => {
      fake.setReply({ text: 'Paris is the capital.', modelVersion: 'gemini-2.5-flash-001' });
      const { data, response } = await client.chat.completions
        .create({
          model,
          messages: [{ role: 'system', content: 'Be brief.' }, ...messages],
          temperature: 0.2,
        })
        .withResponse();

      assert.equal(data.object, 'chat.completion');
      assert.equal(data.choices[0]?.message.content, 'Paris is the capital.');
      assert.equal(data.choices[0]?.finish_reason, 'stop');
      assert.equal(data.model, 'gemini-2.5-flash-001');
      assert.deepEqual(
        [data.usage?.prompt_tokens, data.usage?.completion_tokens, data.usage?.total_tokens],
        [5, 4, 9],
      );
      assert.equal(response.headers.get('x-nexus-provider'), 'Google Gemini (Key #1)');
      assert.equal(response.headers.get('x-nexus-model'), geminiModel);
      assert.equal(response.headers.get('x-nexus-warnings'), null, 'nothing was dropped');

      const [call] = fake.callsTo('generateContent');
      assert.equal(call?.path, `/v1beta/models/${geminiModel}:generateContent`);
      assert.equal(call?.query, '', 'never ?key=');
      assert.equal(call?.headers['x-goog-api-key'], upstreamKey);
      assert.equal(call?.headers.authorization, undefined);
      assert.deepEqual(bodyOf(call), {
        contents: [{ role: 'user', parts: [{ text: 'hello there nexus' }] }],
        systemInstruction: { parts: [{ text: 'Be brief.' }] },
        generationConfig: { temperature: 0.2 },
      });
    },
  );

  test('a stream reassembles the text, ends with usage when asked and with [DONE]', limits, async () => {
    fake.setReply({ text: 'One two three four five.' });
    const { chunks, error } = await drain(
      await client.chat.completions.create({
        model,
        messages,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );

    assert.equal(error, undefined);
    assert.deepEqual(chunks[0]?.choices[0]?.delta, { role: 'assistant', content: '' });
    assert.equal(
      chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''),
      'One two three four five.',
    );
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1)?.choices, []);
    assert.deepEqual([chunks.at(-1)?.usage?.prompt_tokens, chunks.at(-1)?.usage?.completion_tokens], [3, 5]);
    assert.equal(new Set(chunks.map((chunk) => chunk.id)).size, 1);
    assert.equal(fake.callsTo('streamGenerateContent')[0]?.query, '?alt=sse');

    const raw = await rawStream(gateway, { model, messages, stream: true });
    assert.ok(endsWithDone(raw.events));
    assert.ok(
      sseJson<ChatCompletionChunk>(raw.events).every((chunk) => chunk.choices.length > 0),
      'usage withheld',
    );
  });

  test(
    'two function calls in one turn: same ids and identical arguments, stream or not',
    limits,
    async () => {
      fake.setReply({ functionCalls: weatherCalls });
      const completion = await client.chat.completions.create({
        model,
        messages,
        tools,
        tool_choice: 'required',
      });
      const streamed = await client.chat.completions.stream({ model, messages, tools }).finalChatCompletion();

      const plain = completion.choices[0];
      assert.equal(plain?.finish_reason, 'tool_calls');
      assert.equal(plain?.message.content, null);
      const summary = (calls: typeof plain.message.tool_calls) =>
        (calls ?? []).map((call) =>
          call.type === 'function' ? [call.id, call.function.name, call.function.arguments] : [],
        );
      assert.deepEqual(summary(plain?.message.tool_calls), [
        ['call_0', 'get_weather', '{"city":"Paris","unit":"celsius"}'],
        ['call_1', 'get_weather', '{"city":"Tokyo","unit":"celsius"}'],
      ]);
      assert.equal(streamed.choices[0]?.finish_reason, 'tool_calls');
      assert.deepEqual(summary(streamed.choices[0]?.message.tool_calls), summary(plain?.message.tool_calls));

      const [call] = fake.callsTo('generateContent');
      assert.deepEqual(bodyOf(call).toolConfig, { functionCallingConfig: { mode: 'ANY' } });
      assert.deepEqual(bodyOf(call).tools, [
        {
          functionDeclarations: [
            {
              name: 'get_weather',
              description: 'Current weather for a city',
              parameters: {
                type: 'object',
                properties: {
                  city: { type: 'string' },
                  unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
                },
                required: ['city'],
              },
            },
          ],
        },
      ]);
    },
  );

  test(
    'a Gemini 3 tool loop: results go back named after their calls, with the thought signature',
    limits,
    async () => {
      const gemini3 = 'gemini/gemini-3-flash-preview';
      const [paris, tokyo] = weatherCalls;
      fake.setReply({ functionCalls: [{ ...paris!, thoughtSignature: 'c2lnbmVkLWJ5LWdlbWluaQ==' }, tokyo!] });
      // The SDK's stream helper keeps unknown tool-call fields, so the signature survives a streamed turn too.
      const first = await client.chat.completions
        .stream({ model: gemini3, messages, tools })
        .finalChatCompletion();
      const assistant = first.choices[0]?.message;
      assert.ok(assistant !== undefined);
      fake.setReply({ text: 'Paris 21°C, Tokyo 18°C.' });
      const followUp: ChatCompletionMessageParam[] = [
        ...messages,
        assistant as ChatCompletionMessageParam,
        { role: 'tool', tool_call_id: 'call_0', content: '{"temperature":21}' },
        { role: 'tool', tool_call_id: 'call_1', content: '18' },
      ];

      const second = await client.chat.completions.create({ model: gemini3, messages: followUp, tools });

      assert.equal(second.choices[0]?.message.content, 'Paris 21°C, Tokyo 18°C.');
      const contents = bodyOf(fake.callsTo('generateContent')[0]).contents as Array<{
        role: string;
        parts: unknown[];
      }>;
      assert.deepEqual(
        contents.map((content) => content.role),
        ['user', 'model', 'user'],
      );
      assert.deepEqual(contents[1]?.parts, [
        {
          functionCall: { name: 'get_weather', args: paris?.args },
          thoughtSignature: 'c2lnbmVkLWJ5LWdlbWluaQ==',
        },
        { functionCall: { name: 'get_weather', args: tokyo?.args } },
      ]);
      assert.deepEqual(contents[2]?.parts, [
        { functionResponse: { name: 'get_weather', response: { temperature: 21 } } },
        { functionResponse: { name: 'get_weather', response: { result: 18 } } },
      ]);
    },
  );

  test('images: a data URL is sent inline, an https URL as fileData', limits, async () => {
    const pixel =
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    await client.chat.completions.create({
      model,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these images?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${pixel}` } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg?size=large' } },
          ],
        },
      ],
    });

    assert.deepEqual(bodyOf(fake.calls[0]).contents, [
      {
        role: 'user',
        parts: [
          { text: 'What is in these images?' },
          { inlineData: { mimeType: 'image/png', data: pixel } },
          { fileData: { fileUri: 'https://example.com/cat.jpg?size=large', mimeType: 'image/jpeg' } },
        ],
      },
    ]);
  });

  test(
    'usage is exact: cached tokens inside prompt_tokens, thinking in completion, cost priced so',
    limits,
    async () => {
      const usage = {
        promptTokenCount: 1000,
        cachedContentTokenCount: 400,
        candidatesTokenCount: 50,
        thoughtsTokenCount: 25,
      };
      fake.setReply({ text: 'ok', usage });
      const { data, response } = await client.chat.completions.create({ model, messages }).withResponse();
      const stream = await drain(
        await client.chat.completions.create({
          model,
          messages,
          stream: true,
          stream_options: { include_usage: true },
        }),
      );

      for (const reported of [data.usage, stream.chunks.at(-1)?.usage]) {
        assert.equal(reported?.prompt_tokens, 1000);
        assert.equal(reported?.prompt_tokens_details?.cached_tokens, 400);
        assert.equal(reported?.completion_tokens, 75);
        assert.equal(reported?.completion_tokens_details?.reasoning_tokens, 25);
        assert.equal(reported?.total_tokens, 1075);
      }
      const pricing = loadCatalog().models.find((entry) => entry.id === geminiModel)?.pricing;
      assert.ok(pricing?.cachedInputPerMillion != null);
      const expected =
        (600 * pricing.inputPerMillion +
          400 * pricing.cachedInputPerMillion +
          75 * pricing.outputPerMillion) /
        1e6;
      assert.ok(Math.abs(Number(response.headers.get('x-nexus-cost-usd')) - expected) < 1e-9);
    },
  );

  test('a prompt blocked for safety is a clear 400 naming the reason, streamed or not', limits, async () => {
    fake.setReply({ blockReason: 'PROHIBITED_CONTENT' });
    for (const stream of [false, true]) {
      await assert.rejects(client.chat.completions.create({ model, messages, stream }), (error) => {
        assert.ok(error instanceof OpenAI.BadRequestError, `stream ${stream}`);
        assert.equal(error.code, 'upstream_bad_request');
        assert.match(error.message, /blocked the prompt \(PROHIBITED_CONTENT\)/);
        return true;
      });
    }
  });

  test('an upstream 429 is a RateLimitError with Retry-After from Google RetryInfo', limits, async () => {
    fake.enqueue({ kind: 'status', status: 429 });

    await assert.rejects(client.chat.completions.create({ model, messages }), (error) => {
      assert.ok(error instanceof OpenAI.RateLimitError);
      assert.equal(error.code, 'upstream_rate_limited');
      assert.match(error.message, /RESOURCE_EXHAUSTED/);
      assert.equal(error.headers?.get('retry-after'), '35');
      return true;
    });
  });

  test(
    'float and base64 embeddings equal Gemini vectors; usage 0 since Gemini reports none',
    limits,
    async () => {
      const floats = await client.embeddings.create({
        model: 'gemini/text-embedding-004',
        input: ['the quick brown fox', 'jumps'],
        encoding_format: 'float',
        dimensions: 8,
      });
      const decoded = await client.embeddings.create({
        model: 'gemini/text-embedding-004',
        input: 'base64 please',
      });

      assert.deepEqual(
        floats.data.map((item) => [item.index, item.embedding]),
        [
          [0, fakeEmbedding('the quick brown fox', 8)],
          [1, fakeEmbedding('jumps', 8)],
        ],
      );
      assert.deepEqual(floats.usage, { prompt_tokens: 0, total_tokens: 0 });
      assert.deepEqual(decoded.data[0]?.embedding, fakeEmbedding('base64 please', 16));
      const [call] = fake.callsTo('batchEmbedContents');
      assert.equal(call?.path, '/v1beta/models/text-embedding-004:batchEmbedContents');
      assert.equal(call?.headers['x-goog-api-key'], upstreamKey);
      // The access-log line is written when the response finishes, which may be just after the SDK resolves.
      const logged = await eventually(() => gateway.logs.some((line) => line.includes('no token counts')));
      assert.ok(logged, 'the access log says usage is unavailable');
    },
  );

  test(
    'token-array embedding input is a BadRequestError naming input, and Gemini is not called',
    limits,
    async () => {
      await assert.rejects(
        client.embeddings.create({ model: 'gemini/text-embedding-004', input: [1, 2, 3] }),
        (error) => {
          assert.ok(error instanceof OpenAI.BadRequestError);
          assert.equal(error.code, 'invalid_request');
          assert.equal(error.param, 'input');
          return true;
        },
      );
      assert.equal(fake.calls.length, 0);
    },
  );

  test('parameters Gemini lacks are dropped and named in x-nexus-warnings', limits, async () => {
    const { response } = await client.chat.completions
      .create({ model, messages, logprobs: true, user: 'user-1234', tools, max_completion_tokens: 64 })
      .withResponse();

    const warnings = response.headers.get('x-nexus-warnings') ?? '';
    assert.match(warnings, /'logprobs'/);
    assert.match(warnings, /'user'/);
    assert.match(warnings, /additionalProperties/);
    const body = bodyOf(fake.calls[0]);
    assert.deepEqual(body.generationConfig, { maxOutputTokens: 64 });
    assert.equal('logprobs' in body || 'user' in body, false);
  });

  test('the logs never contain the upstream key', () => {
    assert.ok(gateway.logs.length > 0);
    assert.ok(!gateway.logs.join('\n').includes(upstreamKey));
  });
});

/**
 * Failures that count against the instance (5xx, broken streams) open its circuit breaker after a few, so
 * each of these tests gets a gateway of its own: what is checked is how one failure looks to the client.
 */
describe('a failing Gemini', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  let fake: FakeGemini;
  let gateway: TestGateway;
  let client: OpenAI;

  beforeEach(async () => {
    stack = await startStack();
    ({ fake, gateway, client } = stack);
  });

  afterEach(async () => {
    await stack?.close();
  });

  test('an upstream 503 is an InternalServerError', limits, async () => {
    // Persistent: Nexus retries a 5xx before giving up, and every attempt must fail.
    fake.setPersistentFault({ kind: 'status', status: 503 });

    await assert.rejects(client.chat.completions.create({ model, messages }), (error) => {
      assert.ok(error instanceof OpenAI.InternalServerError);
      assert.equal(error.code, 'upstream_error');
      return true;
    });
  });

  test(
    'a stream cut mid-way throws in the SDK; on the wire an error event and no [DONE]',
    limits,
    async () => {
      fake.setReply({ text: 'one two three four five six' });
      fake.enqueue({ kind: 'cut', afterEvents: 3 });
      const { chunks, error } = await drain(
        await client.chat.completions.create({ model, messages, stream: true }),
      );

      assert.ok(error instanceof OpenAI.APIError, `got ${String(error)}`);
      assert.equal(error.code, 'stream_interrupted');
      assert.equal(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''), 'one two three');

      fake.enqueue({ kind: 'cut', afterEvents: 3 });
      const raw = await rawStream(gateway, { model, messages, stream: true });
      assert.equal(raw.response.status, 200);
      assertEndsWithErrorEvent(raw.events);
    },
  );

  test(
    'a stream whose body ends without finishReason is incomplete: error event, no [DONE]',
    limits,
    async () => {
      fake.setReply({ text: 'one two three' });
      fake.enqueue({ kind: 'no-finish' });

      const raw = await rawStream(gateway, { model, messages, stream: true });

      assertEndsWithErrorEvent(raw.events);
      assert.match(raw.events.at(-1)?.data ?? '', /ended before the answer was complete/);
    },
  );
});

describe('Gemini rejects the key Nexus holds', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;

  before(async () => {
    stack = await startStack('AIzaTheKeyGeminiExpects000000000');
  });

  after(async () => {
    await stack?.close();
  });

  test(
    "Google's 400 API_KEY_INVALID is upstream_auth_failed (502), never the client's fault",
    limits,
    async () => {
      const { client, fake, gateway } = stack;
      const attempts = [
        () => client.chat.completions.create({ model, messages }),
        () => client.chat.completions.create({ model, messages, stream: true }),
        () => client.embeddings.create({ model: 'gemini/text-embedding-004', input: 'x' }),
      ];
      for (const attempt of attempts) {
        await assert.rejects(attempt(), (error) => {
          assert.ok(!(error instanceof OpenAI.AuthenticationError));
          assert.ok(!(error instanceof OpenAI.BadRequestError));
          assert.ok(error instanceof OpenAI.InternalServerError);
          assert.equal(error.code, 'upstream_auth_failed');
          assert.ok(!error.message.includes(upstreamKey));
          return true;
        });
      }
      assert.equal(fake.calls.length, 3);
      assert.ok(!gateway.logs.join('\n').includes(upstreamKey));
    },
  );
});
