/**
 * Proves the fake Gemini provider against the official `@google/genai` SDK: if the SDK builds its URLs
 * against the fake, parses what it sends and fails the way it fails against Google, gateway tests built on
 * the fake test real behaviour.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ApiError, type GenerateContentResponse, GoogleGenAI } from '@google/genai';
import { type FakeGemini, fakeEmbedding, startFakeGemini } from '../support/fake-gemini.ts';
import { readSse } from '../support/sse.ts';

const limits = { timeout: 10_000 };
const model = 'gemini-2.5-flash';
const apiKey = 'AIzaSyFakeKeyForTheFakeGemini0000000';

let fake: FakeGemini;

beforeEach(async () => {
  fake = await startFakeGemini({ apiKey });
});

afterEach(async () => {
  await fake.close();
});

function sdk(key = apiKey): GoogleGenAI {
  return new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: fake.origin, timeout: 5000 } });
}

async function drain(stream: AsyncIterable<GenerateContentResponse>) {
  const responses: GenerateContentResponse[] = [];
  try {
    for await (const response of stream) responses.push(response);
    return { responses, error: undefined };
  } catch (error) {
    return { responses, error };
  }
}

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${fake.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': apiKey },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
}

describe('generateContent', () => {
  test('the SDK reaches /v1beta/models/{model}:generateContent with the key header', limits, async () => {
    const response = await sdk().models.generateContent({
      model,
      contents: 'hello there gemini',
      config: { systemInstruction: 'Be brief.', temperature: 0.5, maxOutputTokens: 50 },
    });

    assert.equal(response.text, 'Echo: hello there gemini');
    assert.equal(response.candidates?.[0]?.finishReason, 'STOP');
    assert.equal(response.modelVersion, model);
    assert.equal(response.usageMetadata?.promptTokenCount, 5);
    assert.equal(response.usageMetadata?.candidatesTokenCount, 4);
    assert.equal(response.usageMetadata?.totalTokenCount, 9);
    const [call] = fake.callsTo('generateContent');
    assert.equal(call?.path, `/v1beta/models/${model}:generateContent`);
    assert.equal(call?.model, model);
    assert.equal(call?.headers['x-goog-api-key'], apiKey);
    assert.equal(call?.query, '', 'the key is never in the query string');
    const body = call?.body as Record<string, unknown>;
    assert.deepEqual(body.contents, [{ role: 'user', parts: [{ text: 'hello there gemini' }] }]);
    assert.deepEqual(body.generationConfig, { temperature: 0.5, maxOutputTokens: 50 });
  });

  test('scripted function calls come back as the SDK functionCalls', limits, async () => {
    fake.setReply({
      functionCalls: [
        { name: 'get_weather', args: { city: 'Paris' }, thoughtSignature: 'c2lnbmF0dXJl' },
        { name: 'get_weather', args: { city: 'Tokyo' } },
      ],
    });
    const response = await sdk().models.generateContent({
      model,
      contents: 'weather in Paris and Tokyo?',
      config: {
        tools: [
          {
            functionDeclarations: [
              {
                name: 'get_weather',
                parameters: {
                  type: 'object' as never,
                  properties: { city: { type: 'string' as never } },
                  required: ['city'],
                },
              },
            ],
          },
        ],
      },
    });

    assert.deepEqual(
      response.functionCalls?.map((call) => [call.name, call.args]),
      [
        ['get_weather', { city: 'Paris' }],
        ['get_weather', { city: 'Tokyo' }],
      ],
    );
    assert.equal(response.candidates?.[0]?.content?.parts?.[0]?.thoughtSignature, 'c2lnbmF0dXJl');
    assert.equal(response.candidates?.[0]?.finishReason, 'STOP', 'Gemini finishes a function call with STOP');
  });

  test('a prompt block has promptFeedback and no candidates', limits, async () => {
    fake.setReply({ blockReason: 'PROHIBITED_CONTENT' });

    const response = await sdk().models.generateContent({ model, contents: 'something bad' });

    assert.equal(response.promptFeedback?.blockReason, 'PROHIBITED_CONTENT');
    assert.equal(response.candidates, undefined);
    assert.equal(response.text, undefined);
  });

  test('maxOutputTokens truncates the reply with MAX_TOKENS', limits, async () => {
    const response = await sdk().models.generateContent({
      model,
      contents: 'one two three four',
      config: { maxOutputTokens: 2 },
    });

    assert.equal(response.text, 'Echo: one');
    assert.equal(response.candidates?.[0]?.finishReason, 'MAX_TOKENS');
  });
});

describe('streamGenerateContent', () => {
  test('the SDK asks for alt=sse and reassembles the words; the last event finishes', limits, async () => {
    fake.setReply({ text: 'one two three', usage: { cachedContentTokenCount: 2 } });

    const { responses, error } = await drain(
      await sdk().models.generateContentStream({ model, contents: 'count' }),
    );

    assert.equal(error, undefined);
    assert.equal(responses.map((response) => response.text).join(''), 'one two three');
    assert.equal(responses.length, 3);
    assert.ok(
      responses.slice(0, -1).every((response) => response.candidates?.[0]?.finishReason === undefined),
    );
    assert.equal(responses.at(-1)?.candidates?.[0]?.finishReason, 'STOP');
    assert.equal(responses.at(-1)?.usageMetadata?.cachedContentTokenCount, 2);
    const [call] = fake.callsTo('streamGenerateContent');
    assert.equal(call?.query, '?alt=sse');
  });

  test('events are data lines ending in CRLF CRLF, with no [DONE]', limits, async () => {
    const response = await post(`/models/${model}:streamGenerateContent?alt=sse`, {
      contents: [{ role: 'user', parts: [{ text: 'a b' }] }],
    });
    const bytes = await response.clone().text();
    const { events, error } = await readSse(response);

    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    assert.equal(error, undefined);
    assert.ok(bytes.endsWith('}\r\n\r\n'));
    assert.ok(events.every((event) => event.data !== '[DONE]'));
    assert.equal(events.length, 3);
  });

  test('without alt=sse the stream is one JSON array', limits, async () => {
    const response = await post(`/models/${model}:streamGenerateContent`, {
      contents: [{ role: 'user', parts: [{ text: 'a b' }] }],
    });

    assert.equal(((await response.json()) as unknown[]).length, 3);
  });

  test('a cut stream makes the SDK iteration throw after the events before the cut', limits, async () => {
    fake.setReply({ text: 'one two three four five' });
    fake.enqueue({ kind: 'cut', afterEvents: 2 });

    const { responses, error } = await drain(
      await sdk().models.generateContentStream({ model, contents: 'x' }),
    );

    assert.ok(error instanceof Error);
    assert.equal(responses.length, 2);
    assert.equal(await fake.calls[0]?.settled, 'server-destroyed');
  });

  test('no-finish sends every event but leaves finishReason off the last one', limits, async () => {
    fake.setReply({ text: 'one two' });
    fake.enqueue({ kind: 'no-finish' });

    const { responses, error } = await drain(
      await sdk().models.generateContentStream({ model, contents: 'x' }),
    );

    assert.equal(error, undefined);
    assert.equal(responses.map((response) => response.text).join(''), 'one two');
    assert.ok(responses.every((response) => response.candidates?.[0]?.finishReason === undefined));
  });

  test('an error event surfaces in the SDK as an ApiError with its code', limits, async () => {
    fake.enqueue({ kind: 'error-event', afterEvents: 1, status: 503, message: 'overloaded' });

    const { responses, error } = await drain(
      await sdk().models.generateContentStream({ model, contents: 'a b c' }),
    );

    assert.equal(responses.length, 1);
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 503);
  });
});

describe('embeddings', () => {
  test('embedContent uses batchEmbedContents and gets deterministic vectors', limits, async () => {
    const response = await sdk().models.embedContent({
      model: 'text-embedding-004',
      contents: ['alpha', 'beta gamma'],
      config: { outputDimensionality: 8 },
    });

    assert.deepEqual(
      response.embeddings?.map((embedding) => embedding.values),
      [fakeEmbedding('alpha', 8), fakeEmbedding('beta gamma', 8)],
    );
    const [call] = fake.callsTo('batchEmbedContents');
    assert.equal(call?.path, '/v1beta/models/text-embedding-004:batchEmbedContents');
    assert.ok(call !== undefined);
    const requests = (call.body as { requests: Array<Record<string, unknown>> }).requests;
    assert.deepEqual(requests[0], {
      content: { parts: [{ text: 'alpha' }], role: 'user' },
      outputDimensionality: 8,
      model: 'models/text-embedding-004',
    });
  });
});

describe('errors', () => {
  test('a queued 429 is an ApiError with Google RESOURCE_EXHAUSTED and RetryInfo', limits, async () => {
    fake.enqueue({ kind: 'status', status: 429 });

    const error = await sdk()
      .models.generateContent({ model, contents: 'x' })
      .catch((caught: unknown) => caught);

    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 429);
    const body = JSON.parse(error.message) as {
      error: { status: string; details: Array<{ retryDelay?: string }> };
    };
    assert.equal(body.error.status, 'RESOURCE_EXHAUSTED');
    assert.ok(body.error.details.some((detail) => detail.retryDelay === '34.4s'));
    const ok = await sdk().models.generateContent({ model, contents: 'x' });
    assert.equal(ok.candidates?.[0]?.finishReason, 'STOP', 'the queue drained');
  });

  test(
    'a wrong key is a 400 API_KEY_INVALID and a missing key a 403, as Google answers',
    limits,
    async () => {
      const wrong = await sdk('AIzaWrongKey000000000000')
        .models.generateContent({ model, contents: 'x' })
        .catch((caught: unknown) => caught);
      const missing = await fetch(`${fake.url}/models/${model}:generateContent`, {
        method: 'POST',
        body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'x' }] }] }),
        signal: AbortSignal.timeout(5000),
      });

      assert.ok(wrong instanceof ApiError);
      assert.equal(wrong.status, 400);
      assert.match(wrong.message, /API_KEY_INVALID/);
      assert.equal(missing.status, 403);
    },
  );

  test('unknown fields and JSON Schema keywords are rejected the way Gemini does', limits, async () => {
    const unknownField = await post(`/models/${model}:generateContent`, {
      contents: [{ role: 'user', parts: [{ text: 'x' }] }],
      temperature: 1,
    });
    const schemaKeyword = await post(`/models/${model}:generateContent`, {
      contents: [{ role: 'user', parts: [{ text: 'x' }] }],
      tools: [
        {
          functionDeclarations: [
            { name: 'f', parameters: { type: 'object', properties: {}, additionalProperties: false } },
          ],
        },
      ],
    });
    const badRole = await post(`/models/${model}:generateContent`, {
      contents: [{ role: 'assistant', parts: [{ text: 'x' }] }],
    });

    assert.equal(unknownField.status, 400);
    assert.match(
      ((await unknownField.json()) as { error: { message: string } }).error.message,
      /"temperature"/,
    );
    assert.equal(schemaKeyword.status, 400);
    assert.match(
      ((await schemaKeyword.json()) as { error: { message: string } }).error.message,
      /additionalProperties/,
    );
    assert.equal(badRole.status, 400);
  });

  test('an unknown path is a Google 404 and close() releases a hung call', limits, async () => {
    const unknown = await post('/models/x:doSomething', {});
    fake.enqueue({ kind: 'hang' });
    const pending = fetch(`${fake.url}/models/${model}:generateContent`, {
      method: 'POST',
      body: '{}',
      signal: AbortSignal.timeout(5000),
    }).catch((caught: unknown) => caught);
    while (fake.calls.length < 2) await new Promise((resolve) => setImmediate(resolve));

    await fake.close();

    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { status: string } }).error.status, 'NOT_FOUND');
    assert.ok((await pending) instanceof Error);
    assert.equal(fake.calls[1]?.outcome, 'server-closed');
  });
});
