import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { NexusError } from '../../src/core/errors.ts';
import { readChunkStream } from '../../src/providers/shared/openai-chunk-stream.ts';
import { readServerSentEvents } from '../../src/providers/shared/sse.ts';

/** Splits bytes at the given cut points, which may fall mid-line or inside a UTF-8 sequence. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    pieces.push(bytes.subarray(start, point));
    start = point;
  }
  pieces.push(bytes.subarray(start));
  return pieces.filter((piece) => piece.length > 0);
}

async function* from(pieces: Buffer[]): AsyncGenerator<Buffer> {
  for (const piece of pieces) yield piece;
}

async function collect(pieces: Buffer[]): Promise<string[]> {
  const data: string[] = [];
  for await (const batch of readServerSentEvents(from(pieces)))
    data.push(...batch.map((event) => event.data));
  return data;
}

const payload = fc
  .string({ unit: 'grapheme', minLength: 0, maxLength: 40 })
  .filter((text) => !/[\r\n]/.test(text));

describe('SSE decoding', () => {
  it('yields the same events however the bytes are split (mid-line, mid-UTF-8, \\r\\n or \\n)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(payload, { minLength: 1, maxLength: 8 }),
        fc.constantFrom('\n', '\r\n'),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (datas, newline, cuts) => {
          const text = datas.map((data) => `data: ${data}${newline}${newline}`).join('');
          const bytes = Buffer.from(`: comment${newline}${text}`, 'utf8');
          assert.deepEqual(await collect(split(bytes, cuts)), datas);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps a final event that lacks its blank line', async () => {
    assert.deepEqual(await collect([Buffer.from('data: one\n\ndata: two\n')]), ['one', 'two']);
    assert.deepEqual(await collect([Buffer.from('data: one\n\ndata: two')]), ['one', 'two']);
  });
});

const chunk = (content: string, finish: string | null = null) =>
  JSON.stringify({
    id: 'c',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [{ index: 0, delta: { content }, finish_reason: finish }],
  });

async function drain(text: string, clientWantsUsage = false) {
  const out: string[] = [];
  const stream = readChunkStream(from([Buffer.from(text)]), {
    providerName: 'Fake',
    clientWantsUsage,
    signal: new AbortController().signal,
  });
  for await (const batch of stream)
    for (const event of batch) {
      const label = event.chunk.choices[0]?.delta.content ?? 'usage';
      out.push(event.hidden === true ? `hidden ${label}` : label);
    }
  return out;
}

describe('OpenAI chunk stream', () => {
  it('ends normally on [DONE]', async () => {
    assert.deepEqual(await drain(`data: ${chunk('a')}\n\ndata: ${chunk('b', 'stop')}\n\ndata: [DONE]\n\n`), [
      'a',
      'b',
    ]);
  });

  it('accepts a clean end without [DONE] only when every choice finished', async () => {
    assert.deepEqual(await drain(`data: ${chunk('a')}\n\ndata: ${chunk('', 'stop')}\n\n`), ['a', '']);
  });

  it('throws stream_interrupted when the body ends before the answer finished', async () => {
    await assert.rejects(
      drain(`data: ${chunk('a')}\n\n`),
      (error: NexusError) => error.code === 'stream_interrupted',
    );
  });

  it('throws stream_interrupted on a malformed event or an error event', async () => {
    await assert.rejects(drain(`data: ${chunk('a')}\n\ndata: {not json\n\n`), /malformed/);
    const seen: string[] = [];
    const stream = readChunkStream(from([Buffer.from(`data: ${chunk('a')}\n\ndata: {not json\n\n`)]), {
      providerName: 'Fake',
      clientWantsUsage: false,
      signal: new AbortController().signal,
    });
    await assert.rejects(async () => {
      for await (const batch of stream)
        for (const event of batch) seen.push(event.chunk.choices[0]?.delta.content ?? '');
    });
    assert.deepEqual(seen, ['a'], 'events before the malformed one in the same read are still delivered');
    await assert.rejects(
      drain(`data: ${chunk('a')}\n\ndata: {"error":{"message":"overloaded"}}\n\n`),
      (error: NexusError) => error.code === 'stream_interrupted' && /overloaded/.test(error.message),
    );
  });

  it('marks the usage-only chunk hidden (read for accounting, not forwarded) unless the client asked for it', async () => {
    const usage = JSON.stringify({
      id: 'c',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'm',
      choices: [],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    });
    const text = `data: ${chunk('a', 'stop')}\n\ndata: ${usage}\n\ndata: [DONE]\n\n`;
    assert.deepEqual(await drain(text, false), ['a', 'hidden usage']);
    assert.deepEqual(await drain(text, true), ['a', 'usage']);
  });
});
