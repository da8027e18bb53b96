/**
 * Proves the fake OpenAI provider against the official `openai` SDK: if the SDK parses what the fake sends
 * and fails the way it fails against OpenAI, gateway tests built on the fake test real behaviour.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { type FakeOpenAI, fakeEmbedding, startFakeOpenAI } from '../support/fake-openai.ts';
import { endsWithDone, readSse, sseJson } from '../support/sse.ts';

const limits = { timeout: 10_000 };
const model = 'gpt-4o-mini';
const messages = [{ role: 'user' as const, content: 'hello there fake' }];

let fake: FakeOpenAI;

beforeEach(async () => {
  fake = await startFakeOpenAI();
});

afterEach(async () => {
  await fake.close();
});

function sdk(options: { apiKey?: string; timeout?: number; maxRetries?: number } = {}): OpenAI {
  return new OpenAI({
    apiKey: options.apiKey ?? 'sk-test',
    baseURL: fake.url,
    maxRetries: options.maxRetries ?? 0,
    timeout: options.timeout ?? 2000,
    // The SDK logs unparseable SSE data before throwing; the malformed-chunk test expects exactly that.
    logLevel: 'off',
  });
}

function streamText(client: OpenAI, includeUsage = true) {
  return client.chat.completions.create({
    model,
    messages,
    stream: true,
    ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
  });
}

/** Collects chunks until the stream ends; returns the error instead of throwing so partial chunks survive. */
async function drain(stream: AsyncIterable<ChatCompletionChunk>) {
  const chunks: ChatCompletionChunk[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
    return { chunks, error: undefined };
  } catch (error) {
    return { chunks, error };
  }
}

function postChat(body: unknown): Promise<Response> {
  return fetch(`${fake.url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('chat completions', () => {
  test('a non-stream completion parses in the SDK and echoes the last user message', limits, async () => {
    const completion = await sdk().chat.completions.create({ model, messages });

    assert.match(completion.id, /^chatcmpl-/);
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, model);
    assert.equal(typeof completion.created, 'number');
    const [choice] = completion.choices;
    assert.equal(choice?.message.content, 'Echo: hello there fake');
    assert.equal(choice?.message.role, 'assistant');
    assert.equal(choice?.message.refusal, null);
    assert.equal(choice?.finish_reason, 'stop');
    assert.equal(choice?.logprobs, null);
    assert.equal(completion.usage?.prompt_tokens, 3);
    assert.equal(completion.usage?.completion_tokens, 4);
    assert.equal(completion.usage?.total_tokens, 7);
    assert.equal(completion.usage?.prompt_tokens_details?.cached_tokens, 0);

    const [call] = fake.callsTo('/chat/completions');
    assert.equal(fake.calls.length, 1);
    assert.equal(call?.method, 'POST');
    assert.equal(call?.headers.authorization, 'Bearer sk-test');
    assert.deepEqual(call?.body, { model, messages });
    assert.equal(call?.fault, null);
    assert.equal(await call?.settled, 'completed');
  });

  test('a stream yields role, content pieces, finish and the usage chunk', limits, async () => {
    const { chunks, error } = await drain(await streamText(sdk()));

    assert.equal(error, undefined);
    assert.deepEqual(chunks[0]?.choices[0]?.delta, { role: 'assistant', content: '', refusal: null });
    const contentChunks = chunks.filter((chunk) => chunk.choices[0]?.delta.content);
    assert.ok(contentChunks.length > 1, 'content arrives in several chunks');
    assert.equal(
      contentChunks.map((chunk) => chunk.choices[0]?.delta.content).join(''),
      'Echo: hello there fake',
    );
    const usageChunk = chunks.at(-1);
    const finishChunk = chunks.at(-2);
    assert.equal(finishChunk?.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(finishChunk?.choices[0]?.delta, {});
    assert.deepEqual(usageChunk?.choices, []);
    assert.equal(usageChunk?.usage?.total_tokens, 7);
    assert.ok(chunks.slice(0, -1).every((chunk) => chunk.usage === null));
    assert.equal(new Set(chunks.map((chunk) => chunk.id)).size, 1);
    assert.ok(chunks.every((chunk) => chunk.object === 'chat.completion.chunk' && chunk.model === model));
  });

  test('without include_usage the stream carries no usage field at all', limits, async () => {
    const { chunks } = await drain(await streamText(sdk(), false));

    assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'stop');
    assert.ok(chunks.every((chunk) => !('usage' in chunk)));
  });

  test('the wire stream is OpenAI SSE ending in [DONE]', limits, async () => {
    const response = await postChat({ model, messages, stream: true });

    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const { events, error } = await readSse(response);
    assert.equal(error, undefined);
    assert.ok(endsWithDone(events));
    assert.ok(events.every((event) => event.event === undefined));
    assert.equal(sseJson<ChatCompletionChunk>(events).at(-1)?.choices[0]?.finish_reason, 'stop');
  });

  test('two parallel tool calls stream in fragments and reassemble in the SDK helper', limits, async () => {
    const weather = {
      id: 'call_weather',
      name: 'get_weather',
      arguments: '{"city":"Paris","unit":"celsius"}',
    };
    const time = { id: 'call_time', name: 'get_time', arguments: '{"timezone":"Europe/Paris"}' };
    fake.setReply({ toolCalls: [weather, time] });
    const chunks: ChatCompletionChunk[] = [];

    const runner = sdk().chat.completions.stream({
      model,
      messages,
      stream_options: { include_usage: true },
    });
    runner.on('chunk', (chunk) => chunks.push(chunk));
    const completion = await runner.finalChatCompletion();

    const message = completion.choices[0]?.message;
    assert.equal(completion.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(message?.content, null);
    const calls = (message?.tool_calls ?? []).map((call) =>
      call.type === 'function' ? [call.id, call.function.name, JSON.parse(call.function.arguments)] : [],
    );
    assert.deepEqual(calls, [
      ['call_weather', 'get_weather', { city: 'Paris', unit: 'celsius' }],
      ['call_time', 'get_time', { timezone: 'Europe/Paris' }],
    ]);
    // The OpenAI shape: the first delta carries role + first call header; fragments carry only index + arguments.
    assert.deepEqual(chunks[0]?.choices[0]?.delta, {
      role: 'assistant',
      content: null,
      refusal: null,
      tool_calls: [
        { index: 0, id: 'call_weather', type: 'function', function: { name: 'get_weather', arguments: '' } },
      ],
    });
    const fragments = chunks
      .flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? [])
      .filter((delta) => delta.id === undefined);
    assert.ok(fragments.filter((delta) => delta.index === 0).length > 1);
    assert.ok(fragments.filter((delta) => delta.index === 1).length > 1);
    assert.ok(fragments.every((delta) => Object.keys(delta).join() === 'index,function'));
    assert.equal(completion.usage?.total_tokens, chunks.at(-1)?.usage?.total_tokens);
  });

  test('a non-stream tool call reply has null content and tool_calls', limits, async () => {
    fake.setReply({ toolCalls: [{ id: 'call_1', name: 'lookup', arguments: '{"q":"x"}' }] });

    const completion = await sdk().chat.completions.create({ model, messages });

    assert.equal(completion.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(completion.choices[0]?.message.content, null);
    assert.deepEqual(completion.choices[0]?.message.tool_calls, [
      { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } },
    ]);
  });

  test('a scripted reply sticks until reset; usage overrides recompute the total', limits, async () => {
    const client = sdk();
    fake.setReply({ text: 'scripted words', usage: { prompt_tokens: 100 } });

    const first = await client.chat.completions.create({ model, messages });
    const second = await client.chat.completions.create({ model, messages });
    fake.reset();
    const third = await client.chat.completions.create({ model, messages });

    assert.equal(first.choices[0]?.message.content, 'scripted words');
    assert.equal(second.choices[0]?.message.content, 'scripted words');
    assert.deepEqual([first.usage?.prompt_tokens, first.usage?.total_tokens], [100, 102]);
    assert.equal(third.choices[0]?.message.content, 'Echo: hello there fake');
    assert.equal(fake.calls.length, 1, 'reset() forgot the first two calls');
  });

  test('max_tokens truncates the reply and reports finish_reason length', limits, async () => {
    const completion = await sdk().chat.completions.create({ model, messages, max_tokens: 2 });

    assert.equal(completion.choices[0]?.message.content, 'Echo: hello');
    assert.equal(completion.choices[0]?.finish_reason, 'length');
    assert.equal(completion.usage?.completion_tokens, 2);
  });
});

describe('embeddings and models', () => {
  test('float embeddings are deterministic unit vectors honouring dimensions', limits, async () => {
    const client = sdk();
    const input = ['alpha', 'beta'];

    const response = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input,
      encoding_format: 'float',
    });
    const again = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'alpha',
      encoding_format: 'float',
    });
    const small = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'alpha',
      encoding_format: 'float',
      dimensions: 4,
    });

    assert.equal(response.object, 'list');
    assert.equal(response.model, 'text-embedding-3-small');
    assert.deepEqual(
      response.data.map((item) => [item.object, item.index, item.embedding.length]),
      [
        ['embedding', 0, 16],
        ['embedding', 1, 16],
      ],
    );
    assert.deepEqual(again.data[0]?.embedding, response.data[0]?.embedding);
    assert.notDeepEqual(response.data[0]?.embedding, response.data[1]?.embedding);
    assert.equal(small.data[0]?.embedding.length, 4);
    const norm = Math.hypot(...(response.data[0]?.embedding ?? []));
    assert.ok(Math.abs(norm - 1) < 1e-5, `unit length, got ${norm}`);
    assert.deepEqual(response.usage, { prompt_tokens: 2, total_tokens: 2 });
  });

  test('the SDK asks for base64 by default and decodes it to the same float vectors', limits, async () => {
    const client = sdk();
    const input = ['alpha', 'gamma delta'];

    const decoded = await client.embeddings.create({ model: 'text-embedding-3-small', input });
    const floats = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input,
      encoding_format: 'float',
    });

    assert.deepEqual(fake.calls[0]?.body, {
      model: 'text-embedding-3-small',
      input,
      encoding_format: 'base64',
    });
    assert.deepEqual(
      decoded.data.map((item) => item.embedding),
      floats.data.map((item) => item.embedding),
    );
    assert.deepEqual(decoded.data[1]?.embedding, fakeEmbedding('gamma delta', 16));
    const raw = await fetch(`${fake.url}/embeddings`, {
      method: 'POST',
      body: JSON.stringify({ model: 'text-embedding-3-small', input: 'alpha', encoding_format: 'base64' }),
    });
    const body = (await raw.json()) as { data: Array<{ embedding: unknown }> };
    assert.equal(typeof body.data[0]?.embedding, 'string');
  });

  test('models list and retrieve', limits, async () => {
    const client = sdk();
    const ids: string[] = [];

    for await (const entry of client.models.list()) ids.push(entry.id);
    const one = await client.models.retrieve('gpt-4o');

    assert.deepEqual(ids, ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small']);
    assert.deepEqual(one, { id: 'gpt-4o', object: 'model', created: one.created, owned_by: 'system' });
    await assert.rejects(client.models.retrieve('nope'), OpenAI.NotFoundError);
  });
});

describe('request errors', () => {
  test('invalid JSON gets a 400 OpenAI error object', limits, async () => {
    const response = await postChat('{"model":');

    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { type: string; param: unknown; code: unknown } };
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(body.error.param, null);
    assert.equal(body.error.code, null);
    assert.equal(fake.calls[0]?.body, '{"model":');
  });

  test('missing messages surfaces as BadRequestError naming the parameter', limits, async () => {
    const request = { model } as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming;

    const error = await sdk()
      .chat.completions.create(request)
      .catch((caught: unknown) => caught);

    assert.ok(error instanceof OpenAI.BadRequestError);
    assert.equal(error.param, 'messages');
    assert.equal(error.code, 'missing_required_parameter');
  });

  test('missing model is a 400 and an unknown path is a 404, both OpenAI error objects', limits, async () => {
    const noModel = await postChat({ messages });
    const unknown = await fetch(`${fake.url}/nothing/here`, { method: 'POST', body: '{}' });

    assert.equal(noModel.status, 400);
    assert.match(((await noModel.json()) as { error: { message: string } }).error.message, /model/);
    assert.equal(unknown.status, 404);
    assert.deepEqual(await unknown.json(), {
      error: {
        message: 'Invalid URL (POST /v1/nothing/here)',
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
  });

  test(
    'with apiKey set, a wrong key is an AuthenticationError with code invalid_api_key',
    limits,
    async () => {
      await fake.close();
      fake = await startFakeOpenAI({ apiKey: 'sk-right' });

      const error = await sdk({ apiKey: 'sk-wrong' })
        .chat.completions.create({ model, messages })
        .catch((caught: unknown) => caught);
      const missing = await postChat({ model, messages });
      const ok = await sdk({ apiKey: 'sk-right' }).chat.completions.create({ model, messages });

      assert.ok(error instanceof OpenAI.AuthenticationError);
      assert.equal(error.code, 'invalid_api_key');
      assert.equal(error.type, 'invalid_request_error');
      assert.equal(missing.status, 401);
      assert.equal(ok.choices[0]?.finish_reason, 'stop');
    },
  );
});

describe('faults', () => {
  test(
    'a queued 429 surfaces as RateLimitError with its headers, then the queue drains',
    limits,
    async () => {
      const client = sdk();
      fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '7' } });

      const error = await client.chat.completions
        .create({ model, messages })
        .catch((caught: unknown) => caught);
      const next = await client.chat.completions.create({ model, messages });

      assert.ok(error instanceof OpenAI.RateLimitError);
      assert.equal(error.status, 429);
      assert.equal(error.code, 'rate_limit_exceeded');
      assert.equal(error.headers?.get('retry-after'), '7');
      assert.equal(next.choices[0]?.finish_reason, 'stop');
      assert.deepEqual(
        fake.calls.map((call) => call.fault?.kind ?? null),
        ['status', null],
      );
    },
  );

  test(
    'a 500 is InternalServerError; the SDK retries queued failures and the fake counts each attempt',
    limits,
    async () => {
      fake.enqueue({ kind: 'status', status: 500 });
      const error = await sdk()
        .chat.completions.create({ model, messages })
        .catch((caught: unknown) => caught);
      assert.ok(error instanceof OpenAI.InternalServerError);

      fake.reset();
      // retry-after-ms 0 makes the SDK retry at once instead of backing off.
      const retryNow = { 'retry-after-ms': '0' };
      fake.enqueue(
        { kind: 'status', status: 500, headers: retryNow },
        { kind: 'status', status: 429, headers: retryNow },
      );
      const completion = await sdk({ maxRetries: 2 }).chat.completions.create({ model, messages });

      assert.equal(completion.choices[0]?.finish_reason, 'stop');
      assert.equal(fake.callsTo('/v1/chat/completions').length, 3);
      assert.deepEqual(
        fake.calls.map((call) => call.headers['x-stainless-retry-count']),
        ['0', '1', '2'],
      );
    },
  );

  test('a persistent fault applies to every call until cleared; queued faults go first', limits, async () => {
    const client = sdk();
    const attempt = () =>
      client.chat.completions.create({ model, messages }).then(
        () => 200,
        (error: unknown) => (error instanceof OpenAI.APIError ? error.status : -1),
      );
    fake.setPersistentFault({ kind: 'status', status: 503 });
    fake.enqueue({ kind: 'status', status: 502, body: '<html>bad gateway</html>' });

    const statuses = [await attempt(), await attempt(), await attempt()];
    fake.setPersistentFault(null);
    statuses.push(await attempt());

    assert.deepEqual(statuses, [502, 503, 503, 200]);
  });

  test(
    'delay holds the response back: a shorter SDK timeout fires, the fake sees the abort',
    limits,
    async () => {
      fake.enqueue({ kind: 'delay', ms: 5_000 });

      const error = await sdk({ timeout: 200 })
        .chat.completions.create({ model, messages })
        .catch((caught: unknown) => caught);

      assert.ok(error instanceof OpenAI.APIConnectionTimeoutError);
      assert.equal(await fake.calls[0]?.settled, 'client-aborted');
    },
  );

  test(
    'slow-first-byte sends headers at once, so the SDK timeout does not fire and the body follows',
    limits,
    async () => {
      // The same timeout that kills a `delay` fault above: the SDK timeout only covers waiting for headers.
      fake.enqueue({ kind: 'slow-first-byte', ms: 600 });

      const stream = await streamText(sdk({ timeout: 200 }));
      const { chunks, error } = await drain(stream);

      assert.equal(error, undefined);
      assert.equal(chunks.at(-1)?.usage?.total_tokens, 7);
    },
  );

  test('stall sends N chunks then goes silent until close() tears the socket down', limits, async () => {
    fake.enqueue({ kind: 'stall', afterChunks: 2 });
    const stream = await streamText(sdk());
    const chunks: ChatCompletionChunk[] = [];

    const failure = (async () => {
      for await (const chunk of stream) {
        chunks.push(chunk);
        if (chunks.length === 2) void fake.close();
      }
    })();

    // undici reports a body that ends without its final HTTP chunk as `TypeError: terminated`.
    await assert.rejects(failure, { name: 'TypeError', message: 'terminated' });
    assert.equal(chunks.length, 2);
    assert.equal(await fake.calls[0]?.settled, 'server-closed');
  });

  test('a stalled stream notices when the client gives up', limits, async () => {
    fake.enqueue({ kind: 'stall', afterChunks: 1 });
    const stream = await streamText(sdk());
    let received = 0;

    for await (const _chunk of stream) {
      received += 1;
      stream.controller.abort();
    }

    assert.equal(received, 1);
    assert.equal(await fake.calls[0]?.settled, 'client-aborted');
  });

  test(
    'cut destroys the socket after N chunks: iteration throws, no finish_reason, no usage',
    limits,
    async () => {
      fake.enqueue({ kind: 'cut', afterChunks: 3 });

      const { chunks, error } = await drain(await streamText(sdk()));

      // The SDK does not wrap mid-body transport errors in APIConnectionError: undici's error surfaces as is.
      assert.ok(error instanceof TypeError);
      assert.equal(error.message, 'terminated');
      assert.equal(chunks.length, 3);
      assert.ok(chunks.every((chunk) => chunk.choices[0]?.finish_reason === null));
      assert.equal(await fake.calls[0]?.settled, 'server-destroyed');
    },
  );

  test('a cut stream makes the SDK helper reject finalChatCompletion', limits, async () => {
    fake.enqueue({ kind: 'cut', afterChunks: 2 });

    const runner = sdk().chat.completions.stream({ model, messages });

    await assert.rejects(runner.finalChatCompletion(), OpenAI.OpenAIError);
    assert.equal(fake.calls.length, 1);
  });

  test(
    'malformed-chunk breaks SDK parsing after N chunks; on the wire the stream carries on to [DONE]',
    limits,
    async () => {
      fake.enqueue({ kind: 'malformed-chunk', afterChunks: 2 }, { kind: 'malformed-chunk', afterChunks: 2 });

      const { chunks, error } = await drain(await streamText(sdk()));
      const wire = await readSse(await postChat({ model, messages, stream: true }));

      assert.ok(error instanceof SyntaxError);
      assert.equal(chunks.length, 2);
      assert.equal(wire.error, undefined);
      assert.equal(wire.events[2]?.data, '{not json');
      assert.ok(endsWithDone(wire.events));
      assert.equal(
        sseJson<ChatCompletionChunk>(wire.events.toSpliced(2, 1)).at(-1)?.choices[0]?.finish_reason,
        'stop',
      );
    },
  );

  test('no-done ends the stream cleanly without [DONE]; the SDK still finishes', limits, async () => {
    fake.enqueue({ kind: 'no-done' }, { kind: 'no-done' });

    const { chunks, error } = await drain(await streamText(sdk(), false));
    const wire = await readSse(await postChat({ model, messages, stream: true }));

    assert.equal(error, undefined);
    assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'stop');
    assert.equal(wire.error, undefined);
    assert.equal(endsWithDone(wire.events), false);
    assert.equal(sseJson<ChatCompletionChunk>(wire.events).at(-1)?.choices[0]?.finish_reason, 'stop');
  });

  test('reset gives APIConnectionError (not a timeout) and is still recorded', limits, async () => {
    fake.enqueue({ kind: 'reset' });

    const error = await sdk()
      .chat.completions.create({ model, messages })
      .catch((caught: unknown) => caught);

    assert.ok(error instanceof OpenAI.APIConnectionError);
    assert.ok(!(error instanceof OpenAI.APIConnectionTimeoutError));
    assert.equal(fake.calls.length, 1);
    assert.equal(await fake.calls[0]?.settled, 'server-destroyed');
  });

  test('hang never answers: the SDK times out', limits, async () => {
    fake.enqueue({ kind: 'hang' });

    const error = await sdk({ timeout: 300 })
      .chat.completions.create({ model, messages })
      .catch((caught: unknown) => caught);

    assert.ok(error instanceof OpenAI.APIConnectionTimeoutError);
    assert.equal(await fake.calls[0]?.settled, 'client-aborted');
  });

  test('close() destroys hung connections so a client without a timeout is released', limits, async () => {
    fake.enqueue({ kind: 'hang' });
    const pending = sdk({ timeout: 600_000 })
      .chat.completions.create({ model, messages })
      .catch((caught: unknown) => caught);
    while (fake.calls.length === 0) await new Promise((resolve) => setImmediate(resolve));

    await fake.close();

    assert.ok((await pending) instanceof OpenAI.APIConnectionError);
    assert.equal(fake.calls[0]?.outcome, 'server-closed');
  });

  test(
    'stream faults shape a JSON body too: a cut non-stream body fails while being read',
    limits,
    async () => {
      fake.enqueue({ kind: 'cut', afterChunks: 0 });

      const error = await sdk()
        .chat.completions.create({ model, messages })
        .catch((caught: unknown) => caught);

      // Headers arrived, so this is not an APIConnectionError: the body read fails with undici's error.
      assert.ok(error instanceof TypeError);
      assert.equal(error.message, 'terminated');
      assert.equal(await fake.calls[0]?.settled, 'server-destroyed');
    },
  );
});

describe('sse helper', () => {
  test('events split mid-line and mid-UTF-8 parse intact', limits, async () => {
    const bytes = new TextEncoder().encode(
      'data: {"text":"héllo 🌍"}\n\n: comment\n\nevent: ping\ndata: [DONE]\n\n',
    );
    const pieces = [bytes.slice(0, 5), bytes.slice(5, 17), bytes.slice(17, 24), bytes.slice(24)];
    async function* source() {
      yield* pieces;
    }

    const { events, error } = await readSse(source());

    assert.equal(error, undefined);
    assert.deepEqual(sseJson(events), [{ text: 'héllo 🌍' }]);
    assert.equal(events[1]?.event, 'ping');
    assert.ok(endsWithDone(events));
  });
});
