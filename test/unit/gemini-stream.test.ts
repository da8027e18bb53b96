import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { NexusError } from '../../src/core/errors.ts';
import { type GeminiStreamOptions, readGeminiStream } from '../../src/providers/gemini/stream.ts';
import type { StreamEvent } from '../../src/providers/types.ts';

// Recorded Gemini streams, from vercel/ai:packages/google/src/__fixtures__ (signatures shortened).
/** google-text.chunks.txt */
const textEvents = [
  '{"candidates":[{"content":{"parts":[{"text":"There are **3**"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":5,"totalTokenCount":199,"promptTokensDetails":[{"modality":"TEXT","tokenCount":9}],"thoughtsTokenCount":185},"modelVersion":"gemini-3-pro-preview","responseId":"bH6LaZW8Fp_3nsEPqtaSwQ4"}',
  '{"candidates":[{"content":{"parts":[{"text":" \\"r\\"s in strawberry.\\n\\nst**r**awbe**rr**y"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":23,"totalTokenCount":217,"promptTokensDetails":[{"modality":"TEXT","tokenCount":9}],"thoughtsTokenCount":185},"modelVersion":"gemini-3-pro-preview","responseId":"bH6LaZW8Fp_3nsEPqtaSwQ4"}',
  '{"candidates":[{"content":{"parts":[{"text":"","thoughtSignature":"EqsFCqgFAb4+9vvtAF5n87lB4OGDOoTRMOqp35jW"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":23,"totalTokenCount":217,"promptTokensDetails":[{"modality":"TEXT","tokenCount":9}],"thoughtsTokenCount":185},"modelVersion":"gemini-3-pro-preview","responseId":"bH6LaZW8Fp_3nsEPqtaSwQ4"}',
];

/** google-tool-call.chunks.txt */
const toolCallEvents = [
  '{"candidates":[{"content":{"parts":[{"functionCall":{"name":"weather","args":{"location":"San Francisco"}},"thoughtSignature":"EqUCCqICAb4+9vsh8Pd5taZVoPzSvjWWwzBrvhEQ"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":29,"candidatesTokenCount":15,"totalTokenCount":89,"promptTokensDetails":[{"modality":"TEXT","tokenCount":29}],"thoughtsTokenCount":45},"modelVersion":"gemini-3-pro-preview","responseId":"b36LacjwM668nsEP2tbsgQQ"}',
  '{"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":29,"candidatesTokenCount":15,"totalTokenCount":89,"promptTokensDetails":[{"modality":"TEXT","tokenCount":29}],"thoughtsTokenCount":45},"modelVersion":"gemini-3-pro-preview","responseId":"b36LacjwM668nsEP2tbsgQQ"}',
];

/** issue-19758-prompt-block.chunks.txt */
const promptBlockEvent =
  '{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9,"promptTokensDetails":[{"modality":"TEXT","tokenCount":9}],"serviceTier":"standard"},"modelVersion":"gemini-3.7-flash","responseId":"EXCPatOAKMrQjMcPteHVmQo"}';

/** Gemini frames each event as `data: ...` + CRLF CRLF. */
const sse = (events: string[]) => events.map((event) => `data: ${event}\r\n\r\n`).join('');

async function* from(pieces: Array<string | Buffer>): AsyncGenerator<Uint8Array> {
  for (const piece of pieces) yield typeof piece === 'string' ? Buffer.from(piece) : piece;
}

const options = (overrides: Partial<GeminiStreamOptions> = {}): GeminiStreamOptions => ({
  providerName: 'Google Gemini (Key #1)',
  model: 'gemini-x',
  clientWantsUsage: true,
  candidates: 1,
  signal: new AbortController().signal,
  ...overrides,
});

async function run(pieces: Array<string | Buffer>, overrides: Partial<GeminiStreamOptions> = {}) {
  const batches: StreamEvent[][] = [];
  try {
    for await (const batch of readGeminiStream(from(pieces), options(overrides))) batches.push(batch);
    return { batches, events: batches.flat(), error: undefined };
  } catch (error) {
    return { batches, events: batches.flat(), error };
  }
}

const deltas = (events: StreamEvent[]) =>
  events.map((event) => [
    event.chunk.choices[0]?.delta ?? null,
    event.chunk.choices[0]?.finish_reason ?? null,
  ]);

describe('Gemini SSE → chat.completion.chunk', () => {
  test('a recorded text stream: role, text deltas, finish, then the usage chunk', async () => {
    const { events, error } = await run([sse(textEvents)]);

    assert.equal(error, undefined);
    assert.deepEqual(deltas(events), [
      [{ role: 'assistant', content: '' }, null],
      [{ content: 'There are **3**' }, null],
      [{ content: ' "r"s in strawberry.\n\nst**r**awbe**rr**y' }, null],
      [{}, 'stop'],
      [null, null],
    ]);
    const usage = events.at(-1)?.chunk;
    assert.deepEqual(usage?.choices, []);
    assert.deepEqual(usage?.usage, {
      prompt_tokens: 9,
      completion_tokens: 208,
      total_tokens: 217,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 185 },
    });
    assert.ok(events.every((event) => event.chunk.id === 'chatcmpl-bH6LaZW8Fp_3nsEPqtaSwQ4'));
    assert.ok(events.every((event) => event.chunk.model === 'gemini-3-pro-preview'));
    assert.ok(events.every((event) => event.raw === undefined && event.hidden === undefined));
  });

  test('a recorded function call arrives whole in one delta, and finishes as tool_calls', async () => {
    const { events, error } = await run([sse(toolCallEvents)]);

    assert.equal(error, undefined);
    assert.deepEqual(deltas(events).slice(0, -1), [
      [{ role: 'assistant', content: '' }, null],
      [
        {
          tool_calls: [
            {
              index: 0,
              id: 'call_0',
              type: 'function',
              function: { name: 'weather', arguments: '{"location":"San Francisco"}' },
              extra_content: { google: { thought_signature: 'EqUCCqICAb4+9vsh8Pd5taZVoPzSvjWWwzBrvhEQ' } },
            },
          ],
        },
        null,
      ],
      [{}, 'tool_calls'],
    ]);
  });

  test('calls in later events keep counting: indexes and ids stay unique', async () => {
    const call = (city: string, finish = '') =>
      JSON.stringify({
        candidates: [
          {
            content: { parts: [{ functionCall: { name: 'get_weather', args: { city } } }] },
            ...(finish ? { finishReason: finish } : {}),
          },
        ],
      });
    const { events } = await run([sse([call('Paris'), call('Tokyo', 'STOP')])]);

    const calls = events.flatMap((event) => event.chunk.choices[0]?.delta.tool_calls ?? []);
    assert.deepEqual(
      calls.map((delta) => [delta.index, delta.id, delta.function?.arguments]),
      [
        [0, 'call_0', '{"city":"Paris"}'],
        [1, 'call_1', '{"city":"Tokyo"}'],
      ],
    );
  });

  test('without include_usage the usage chunk is hidden, not dropped', async () => {
    const { events } = await run([sse(textEvents)], { clientWantsUsage: false });

    assert.equal(events.at(-1)?.hidden, true);
    assert.equal(events.at(-1)?.chunk.usage?.total_tokens, 217);
    assert.ok(events.slice(0, -1).every((event) => event.hidden === undefined));
  });

  test('the same events come out however the bytes are split', async () => {
    const bytes = Buffer.from(sse(textEvents.map((event) => event.replace('There are', 'Thère ãre 🍓'))));
    const expected = (await run([bytes])).events.map((event) => event.chunk.choices[0]?.delta);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: bytes.length }), { maxLength: 12 }), async (cuts) => {
        const points = [...new Set([0, ...cuts, bytes.length])].sort((a, b) => a - b);
        const pieces = points.slice(1).map((end, index) => bytes.subarray(points[index], end));
        const { events, error } = await run(pieces);
        assert.equal(error, undefined);
        assert.deepEqual(
          events.map((event) => event.chunk.choices[0]?.delta),
          expected,
        );
      }),
      { numRuns: 60 },
    );
  });

  test('n candidates: complete once every candidate finished, each with its own index', async () => {
    const both = JSON.stringify({
      candidates: [
        { content: { parts: [{ text: 'A' }] }, index: 0 },
        { content: { parts: [{ text: 'B' }] }, finishReason: 'STOP', index: 1 },
      ],
    });
    const last = JSON.stringify({
      candidates: [{ content: { parts: [{ text: '!' }] }, finishReason: 'MAX_TOKENS', index: 0 }],
      usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 3 },
    });
    const { events, error } = await run([sse([both, last])], { candidates: 2 });

    assert.equal(error, undefined);
    const finishes = events.flatMap((event) =>
      event.chunk.choices
        .filter((choice) => choice.finish_reason)
        .map((choice) => [choice.index, choice.finish_reason]),
    );
    assert.deepEqual(finishes, [
      [1, 'stop'],
      [0, 'length'],
    ]);
    assert.equal(events.at(-1)?.chunk.usage?.total_tokens, 5);
  });
});

describe('a stream that is not complete never ends quietly', () => {
  test('a body that ends without any finishReason is stream_interrupted, after the text it carried', async () => {
    const { events, error } = await run([sse(textEvents.slice(0, 2))]);

    assert.ok(error instanceof NexusError);
    assert.equal(error.code, 'stream_interrupted');
    assert.match(error.message, /ended before the answer was complete/);
    assert.equal(events.length, 3, 'role and both text deltas were delivered');
    assert.ok(events.every((event) => event.chunk.choices[0]?.finish_reason == null));
  });

  test('an error event is stream_interrupted carrying Google message; events before it in the read come first', async () => {
    const error503 = '{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}';
    const { batches, error } = await run([sse([textEvents[0]!, error503, textEvents[1]!])]);

    assert.ok(error instanceof NexusError);
    assert.equal(error.code, 'stream_interrupted');
    assert.match(error.message, /UNAVAILABLE: The model is overloaded/);
    assert.equal(batches.flat().length, 2);
  });

  test('a malformed event is stream_interrupted', async () => {
    const { events, error } = await run([sse([textEvents[0]!]), 'data: {not json\r\n\r\n']);

    assert.ok(error instanceof NexusError);
    assert.equal(error.code, 'stream_interrupted');
    assert.equal(events.length, 2);
  });

  test('a transport failure mid-body is stream_interrupted naming the cause', async () => {
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield Buffer.from(sse([textEvents[0]!]));
      throw Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    }
    const batches: StreamEvent[][] = [];
    const failure = await (async () => {
      for await (const batch of readGeminiStream(broken(), options())) batches.push(batch);
    })().catch((caught: unknown) => caught);

    assert.ok(failure instanceof NexusError);
    assert.equal(failure.code, 'stream_interrupted');
    assert.match(failure.message, /UND_ERR_SOCKET/);
    assert.equal(batches.flat().length, 2);
  });

  test('a blocked prompt (recorded) is upstream_bad_request before any chunk', async () => {
    const { events, error } = await run([sse([promptBlockEvent])]);

    assert.equal(events.length, 0);
    assert.ok(error instanceof NexusError);
    assert.equal(error.code, 'upstream_bad_request');
    assert.match(error.message, /PROHIBITED_CONTENT/);
  });

  test('an abort from the client is rethrown as the abort reason, not as an upstream failure', async () => {
    const controller = new AbortController();
    async function* aborted(): AsyncGenerator<Uint8Array> {
      yield Buffer.from(sse([textEvents[0]!]));
      controller.abort(new Error('client went away'));
      throw new Error('aborted');
    }
    const failure = await (async () => {
      for await (const _ of readGeminiStream(aborted(), options({ signal: controller.signal }))) {
      }
    })().catch((caught: unknown) => caught);

    assert.ok(!(failure instanceof NexusError));
    assert.equal((failure as Error).message, 'client went away');
  });

  test('events after the finished answer are ignored', async () => {
    const { events, error } = await run([sse([...textEvents, '{not json'])]);

    assert.equal(error, undefined);
    assert.equal(events.at(-1)?.chunk.usage?.prompt_tokens, 9);
  });
});
