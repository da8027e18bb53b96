import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { NexusError } from '../../src/core/errors.ts';
import type { ChatCompletionChunk } from '../../src/core/openai-types.ts';
import { ChunkTemplate } from '../../src/providers/shared/chunk-template.ts';
import { readChunkStream } from '../../src/providers/shared/openai-chunk-stream.ts';
import type { StreamBatch } from '../../src/providers/types.ts';

const head = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm' };
const content = (text: string, index = 0) =>
  JSON.stringify({
    ...head,
    choices: [{ index, delta: { content: text }, logprobs: null, finish_reason: null }],
  });
const role = JSON.stringify({
  ...head,
  choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
});
const finish = (reason = 'stop', index = 0) =>
  JSON.stringify({ ...head, choices: [{ index, delta: {}, finish_reason: reason }] });
const usage = JSON.stringify({
  ...head,
  choices: [],
  usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
});
/** The same JSON with blanks around `:` and `,`, as Python servers write it. */
const spaced = (json: string) => JSON.stringify(JSON.parse(json), null, 1).replace(/\n/g, ' ');

const template = (raw: string) => ChunkTemplate.learn(raw, JSON.parse(raw));

describe('chunk templates (which chunks are forwarded without a parse)', () => {
  it('recognises the chunks of the same answer, also with blanks around the colons', () => {
    const plain = template(content('Hello'));
    const blank = template(spaced(content('Hello')));
    for (const text of [
      '',
      'x',
      ' world',
      'a \\ b "quoted" é 😀 \u0000',
      '"usage": {"total_tokens": 1}',
      '"error"',
    ]) {
      assert.equal(plain?.matches(content(text)), true, text);
      assert.equal(blank?.matches(spaced(content(text))), true, text);
    }
    // Servers that escape differently (`\u00e9`, `\/`) are still well-formed JSON strings.
    assert.equal(plain?.matches(content('x').replace('"x"', '"\\u00e9\\/"')), true);
  });

  it('is learned only from a plain chunk: one choice, index 0, no finish, no usage', () => {
    const finishing = content('last').replace('"finish_reason":null', '"finish_reason":"stop"');
    const counted = JSON.stringify({ ...JSON.parse(content('a')), usage: { total_tokens: 1 } });
    for (const frame of [
      finish(),
      finishing,
      counted,
      usage,
      role.replace('"index":0', '"index":1'),
      content('a', 1),
    ]) {
      assert.equal(template(frame), undefined, frame);
    }
    const two = JSON.stringify({
      ...head,
      choices: [JSON.parse(content('a')).choices[0], { index: 1, delta: {} }],
    });
    assert.equal(template(two), undefined);
  });

  it('never matches a finish, usage, an error, another choice or tool call, or anything malformed', () => {
    const plain = template(content('Hello'));
    const withKey = (key: string, value: unknown) =>
      JSON.stringify({ ...JSON.parse(content('a')), [key]: value });
    const tools = (index: number, text: string) =>
      JSON.stringify({
        ...head,
        choices: [
          {
            index: 0,
            delta: { tool_calls: [{ index, function: { arguments: text } }] },
            finish_reason: null,
          },
        ],
      });
    const rejected = [
      finish(),
      finish('length'),
      usage,
      withKey('usage', { total_tokens: 1 }),
      withKey('error', { message: 'overloaded' }),
      content('a', 1),
      content('cut').slice(0, -3),
      `${content('a')},`,
      ` ${content('a')}`,
      content('a').replace('"a"', '"a\\x"'),
      content('a').replace('"a"', '"a\n"'),
      content('a').replace('"a"', '"a\\u12"'),
      content('a').replace('"a"', '"a\\"'),
      'not json',
    ];
    for (const frame of rejected) assert.equal(plain?.matches(frame), false, frame);
    const tool = template(tools(0, '{"a'));
    assert.equal(tool?.matches(tools(0, '":1}')), true);
    assert.equal(tool?.matches(tools(1, '":1}')), false);
  });

  it("matches only valid JSON with the plain chunk's keys and values (random chunks and random edits)", () => {
    const plain = template(content('Hello'));
    const word = fc.constantFrom(
      'usage',
      'error',
      'finish_reason',
      'index',
      '"',
      '\\',
      '\\u00',
      ':',
      '{',
      '}',
      'é',
      '😀',
    );
    const text = fc
      .array(fc.oneof(word, fc.string({ maxLength: 4 })), { maxLength: 8 })
      .map((parts) => parts.join(''));
    const chunk = fc.record({
      text,
      index: fc.constantFrom(0, 0, 1),
      finish: fc.constantFrom(null, null, 'stop'),
      usage: fc.constantFrom(undefined, null, { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }),
      error: fc.constantFrom(undefined, undefined, { message: 'x' }),
    });
    const edit = fc.record({ at: fc.nat(), remove: fc.nat({ max: 3 }), insert: text });
    fc.assert(
      fc.property(chunk, fc.option(edit), (c, change) => {
        const object: Record<string, unknown> = {
          ...head,
          choices: [{ index: c.index, delta: { content: c.text }, logprobs: null, finish_reason: c.finish }],
        };
        if (c.usage !== undefined) object.usage = c.usage;
        if (c.error !== undefined) object.error = c.error;
        let frame = JSON.stringify(object);
        if (change !== null) {
          const at = change.at % (frame.length + 1);
          frame = frame.slice(0, at) + change.insert + frame.slice(at + change.remove);
        }
        if (plain?.matches(frame) !== true) return;
        const parsed = JSON.parse(frame) as ChatCompletionChunk & { error?: unknown };
        assert.equal(parsed.error, undefined);
        assert.equal(parsed.usage ?? null, null);
        assert.deepEqual(
          parsed.choices.map((choice) => [choice.index, choice.finish_reason]),
          [[0, null]],
        );
      }),
      { numRuns: 3000 },
    );
  });
});

async function* from(pieces: Buffer[]): AsyncGenerator<Buffer> {
  for (const piece of pieces) yield piece;
}

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

async function read(pieces: Buffer[], clientWantsUsage = false): Promise<StreamBatch[]> {
  const batches: StreamBatch[] = [];
  const stream = readChunkStream(from(pieces), {
    providerName: 'Fake',
    clientWantsUsage,
    signal: new AbortController().signal,
  });
  for await (const batch of stream) batches.push(batch);
  return batches;
}

const sse = (frames: string[]) => Buffer.from(frames.map((frame) => `data: ${frame}\n\n`).join(''), 'utf8');
const interrupted = (error: NexusError) => error.code === 'stream_interrupted';

describe('OpenAI chunk stream with scanned chunks', () => {
  it('forwards the upstream text and the same chunks however the bytes are split (mid-frame, mid-UTF-8)', async () => {
    const words = fc.array(fc.string({ unit: 'grapheme', maxLength: 6 }), { minLength: 1, maxLength: 6 });
    await fc.assert(
      fc.asyncProperty(
        words,
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.boolean(),
        async (texts, cuts, blanks) => {
          const body = [role, ...texts.map((text) => content(text)), finish(), usage];
          const frames = blanks ? body.map(spaced) : body;
          const batches = await read(split(sse([...frames, '[DONE]']), cuts));
          const events = batches.flat();
          assert.deepEqual(
            events.map((event) => event.raw),
            frames,
          );
          assert.deepEqual(
            events.map((event) => event.chunk),
            frames.map((frame) => JSON.parse(frame)),
          );
          assert.deepEqual(batches.at(-1)?.complete, true);
          assert.deepEqual(batches.map((batch) => batch.usage).filter(Boolean), [
            { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
          ]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reports usage on its batch and keeps the usage chunk hidden unless the client asked for it', async () => {
    const body = sse([role, content('a'), content('b'), finish(), usage, '[DONE]']);
    for (const wants of [false, true]) {
      const [batch] = await read([body], wants);
      assert.deepEqual(batch?.usage, { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
      assert.deepEqual(
        batch?.map((event) => event.hidden === true),
        [false, false, false, false, !wants],
      );
    }
    // A usage object written inside the content is text, not usage.
    const [fake] = await read([sse([role, content('{"usage": {"total_tokens": 9}}'), finish(), '[DONE]'])]);
    assert.equal(fake?.usage, undefined);
  });

  it('never passes off a cut as a complete answer: a truncated final frame throws stream_interrupted', async () => {
    const whole = sse([role, content('a'), content('b'), finish()]).toString();
    // Cut anywhere inside the last frame (the finish): the answer is not complete.
    const lastFrame = whole.lastIndexOf('data: ');
    for (let cut = lastFrame + 7; cut < whole.length - 2; cut += 3) {
      await assert.rejects(read([Buffer.from(whole.slice(0, cut))]), interrupted, `cut at ${cut}`);
    }
    // A final frame that is whole but lacks its blank line still counts.
    const batches = await read([Buffer.from(whole.slice(0, -1))]);
    assert.equal(batches.flat().length, 4);
    // Cut inside a content frame after the stream committed: not complete either.
    await assert.rejects(read([Buffer.from(`${whole.slice(0, whole.indexOf('"b"') + 2)}`)]), interrupted);
  });

  it('ends with stream_interrupted on an error frame or a frame that is not a JSON object after commit', async () => {
    for (const bad of [
      '{"error":{"message":"overloaded"}}',
      '{"error": "overloaded"}',
      'Internal Server Error',
    ]) {
      await assert.rejects(
        read([sse([role, content('a'), content('b'), bad, finish(), '[DONE]'])]),
        interrupted,
        bad,
      );
    }
    // An error frame of an SSE `event: error` type too.
    const typed = Buffer.from(
      `data: ${role}\n\ndata: ${content('a')}\n\nevent: error\ndata: ${content('b')}\n\n`,
    );
    await assert.rejects(read([typed]), interrupted);
  });

  it('ends with stream_interrupted on a frame malformed inside, after the frames before it', async () => {
    const broken = content('x').replace('"delta"', '"delta",');
    const delivered: (string | undefined)[] = [];
    const stream = readChunkStream(
      from([sse([role, content('a'), content('b'), broken, finish(), '[DONE]'])]),
      {
        providerName: 'Fake',
        clientWantsUsage: false,
        signal: new AbortController().signal,
      },
    );
    await assert.rejects(async () => {
      for await (const batch of stream) delivered.push(...batch.map((event) => event.raw));
    }, interrupted);
    assert.deepEqual(delivered, [role, content('a'), content('b')]);
  });

  it('tracks every choice: a second choice that never finished makes a body without [DONE] incomplete', async () => {
    const frames = [role, content('a'), content('b', 1), finish('stop', 0)];
    await assert.rejects(read([sse(frames)]), interrupted);
    const batches = await read([sse([...frames, finish('stop', 1)])]);
    assert.equal(batches.flat().length, 5);
  });
});
