/**
 * The Anthropic event-stream translator on byte streams. Event sequences are real Anthropic streams recorded
 * by vercel/ai (packages/anthropic/src/__fixtures__/*.chunks.txt, one JSON event per line), written back as
 * SSE the way Anthropic sends them (`event: <type>` + `data: <json>`).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { NexusError } from '../../src/core/errors.ts';
import type { ChatCompletionChunk } from '../../src/core/openai-types.ts';
import { readAnthropicStream } from '../../src/providers/anthropic/stream.ts';
import type { StreamEvent, Warning } from '../../src/providers/types.ts';

/** vercel/ai anthropic-text.chunks.txt */
const textEvents = [
  '{"type":"message_start","message":{"model":"claude-sonnet-4-5-20250929","id":"msg_01QC4g3HwBThD4BaNtBckFDJ","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard","inference_geo":"not_available"}}}',
  '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
  '{"type":"ping"}',
  '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}',
  '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"! I"}}',
  '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\'m doing well, thank you for asking"}}',
  '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":". How are you doing today?"}}',
  '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" Is"}}',
  '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there anything I can help you with?"}}',
  '{"type":"content_block_stop","index":0}',
  '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":30}}',
  '{"type":"message_stop"}',
];
const fullText =
  "Hello! I'm doing well, thank you for asking. How are you doing today? Is there anything I can help you with?";

/** vercel/ai anthropic-tool-no-args.chunks.txt: text, then a tool use whose only input fragment is empty. */
const toolNoArgsEvents = [
  '{"type":"message_start","message":{"model":"claude-sonnet-4-5-20250929","id":"msg_01GE2RKp1VYsPzdFs3sS9z5S","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":565,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":7,"service_tier":"standard"}}}',
  '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
  '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"I\'ll update the issue list for"}}',
  '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" you."}}',
  '{"type":"ping"}',
  '{"type":"content_block_stop","index":0}',
  '{"type":"ping"}',
  '{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01QE1WLsSVp5hy5Q3GmGTmjP","name":"updateIssueList","input":{}}}',
  '{"type":"ping"}',
  '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}',
  '{"type":"content_block_stop","index":1}',
  '{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":565,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":48}}',
  '{"type":"message_stop"}',
];

/** vercel/ai anthropic-json-tool.1.chunks.txt: one tool use whose input arrives in fragments. */
const jsonToolEvents = [
  '{"type":"message_start","message":{"model":"claude-haiku-4-5-20251001","id":"msg_01K2JbSUMYhez5RHoK9ZCj9U","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":849,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":10,"service_tier":"standard"}}}',
  '{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_01KFbKqPYSuAKujiL6mTfzYA","name":"json","input":{}}}',
  '{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}',
  '{"type":"ping"}',
  '{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\\"elements\\": [{\\"location\\": \\"San Francisco\\", \\"temperature\\": 58, \\"condition\\": \\"sunny\\"}]"}}',
  '{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"}"}}',
  '{"type":"content_block_stop","index":0}',
  '{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":849,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":47}}',
  '{"type":"message_stop"}',
];

/** Writes JSON event lines as Anthropic's SSE: the event name repeats the `type` field. */
function toSse(lines: string[]): string {
  return lines
    .map((line) => `event: ${(JSON.parse(line) as { type: string }).type}\ndata: ${line}\n\n`)
    .join('');
}

async function* pieces(parts: Array<string | Buffer>): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.from(part);
}

interface Options {
  clientWantsUsage?: boolean;
  signal?: AbortSignal;
}

async function run(parts: Array<string | Buffer>, options: Options = {}) {
  const warnings: Warning[] = [];
  const batches: StreamEvent[][] = [];
  let error: unknown;
  try {
    for await (const batch of readAnthropicStream(pieces(parts), {
      providerName: 'Anthropic (Key #1)',
      clientWantsUsage: options.clientWantsUsage ?? false,
      signal: options.signal ?? new AbortController().signal,
      warnings,
    })) {
      batches.push(batch);
    }
  } catch (caught) {
    error = caught;
  }
  const events = batches.flat();
  const chunks = events.map((event) => event.chunk);
  return { batches, events, chunks, error, warnings, text: textOf(chunks) };
}

function textOf(chunks: ChatCompletionChunk[]): string {
  return chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
}

function argumentsOf(chunks: ChatCompletionChunk[], index: number): string {
  return chunks
    .flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? [])
    .filter((call) => call.index === index)
    .map((call) => call.function?.arguments ?? '')
    .join('');
}

function assertInterrupted(error: unknown, message: RegExp) {
  assert.ok(error instanceof NexusError, `expected a NexusError, got ${String(error)}`);
  assert.equal(error.code, 'stream_interrupted');
  assert.match(error.message, message);
}

describe('translating recorded streams', () => {
  test('text: role chunk, content deltas, finish chunk, then the usage chunk (hidden unless asked)', async () => {
    const hidden = await run([toSse(textEvents)]);
    const shown = await run([toSse(textEvents)], { clientWantsUsage: true });

    assert.equal(hidden.error, undefined);
    assert.deepEqual(hidden.chunks[0]?.choices, [
      { index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null },
    ]);
    assert.equal(hidden.text, fullText);
    const finish = hidden.chunks.at(-2);
    assert.deepEqual(finish?.choices, [{ index: 0, delta: {}, finish_reason: 'stop' }]);
    const usage = hidden.events.at(-1);
    assert.equal(usage?.hidden, true);
    assert.deepEqual(usage?.chunk.choices, []);
    assert.deepEqual(usage?.chunk.usage, {
      prompt_tokens: 12,
      completion_tokens: 30,
      total_tokens: 42,
      prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 0 },
    });
    assert.equal(shown.events.at(-1)?.hidden, undefined);
    assert.ok(
      hidden.chunks.every(
        (chunk) =>
          chunk.id === 'msg_01QC4g3HwBThD4BaNtBckFDJ' &&
          chunk.model === 'claude-sonnet-4-5-20250929' &&
          chunk.object === 'chat.completion.chunk',
      ),
    );
    assert.ok(
      hidden.events.every((event) => event.raw === undefined),
      'translated events are never raw',
    );
    assert.deepEqual(hidden.warnings, []);
  });

  test('a tool without arguments gets a header, then `{}` at its block stop', async () => {
    const { chunks, error, text } = await run([toSse(toolNoArgsEvents)]);

    assert.equal(error, undefined);
    assert.equal(text, "I'll update the issue list for you.");
    const calls = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    assert.deepEqual(calls, [
      {
        index: 0,
        id: 'toolu_01QE1WLsSVp5hy5Q3GmGTmjP',
        type: 'function',
        function: { name: 'updateIssueList', arguments: '' },
      },
      { index: 0, function: { arguments: '{}' } },
    ]);
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(chunks.at(-1)?.usage?.completion_tokens, 48);
  });

  test('input_json_delta fragments reassemble to the exact JSON text', async () => {
    const { chunks, error } = await run([toSse(jsonToolEvents)]);

    assert.equal(error, undefined);
    const text = argumentsOf(chunks, 0);
    assert.equal(
      text,
      '{"elements": [{"location": "San Francisco", "temperature": 58, "condition": "sunny"}]}',
    );
    assert.deepEqual(JSON.parse(text), {
      elements: [{ location: 'San Francisco', temperature: 58, condition: 'sunny' }],
    });
  });

  test('the same events come out however the bytes are split, mid-line and mid-UTF-8', async () => {
    const withUnicode = textEvents.map((line) => line.replace('Hello', 'Héllo 🌍'));
    const bytes = Buffer.from(toSse(withUnicode), 'utf8');
    const expected = (await run([bytes])).chunks.map((chunk) => JSON.stringify({ ...chunk, created: 0 }));

    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: bytes.length }), { maxLength: 30 }), async (cuts) => {
        const points = [...new Set([0, ...cuts, bytes.length])].sort((a, b) => a - b);
        const parts = points.slice(1).map((end, index) => bytes.subarray(points[index], end));
        const { chunks, error } = await run(parts);
        assert.equal(error, undefined);
        assert.deepEqual(
          chunks.map((chunk) => JSON.stringify({ ...chunk, created: 0 })),
          expected,
        );
      }),
      { numRuns: 100 },
    );
  });
});

/** A message with text at block 0 and two tool uses at blocks 1 and 2. */
function twoToolEvents(): string[] {
  const event = (data: object) => JSON.stringify(data);
  const tool = (index: number, id: string, name: string, fragments: string[]) => [
    event({ type: 'content_block_start', index, content_block: { type: 'tool_use', id, name, input: {} } }),
    ...fragments.map((partial_json) =>
      event({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } }),
    ),
    event({ type: 'content_block_stop', index }),
  ];
  return [
    event({
      type: 'message_start',
      message: {
        id: 'msg_two',
        model: 'claude-test',
        usage: { input_tokens: 20, cache_read_input_tokens: 100, output_tokens: 1 },
      },
    }),
    event({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    event({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Checking.' } }),
    event({ type: 'content_block_stop', index: 0 }),
    ...tool(1, 'toolu_a', 'get_weather', ['', '{"city": ', '"Paris"}']),
    ...tool(2, 'toolu_b', 'get_time', ['{"tz":', '"CET"}']),
    // message_delta usage may omit input counts; the ones from message_start stay.
    event({ type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 33 } }),
    event({ type: 'message_stop' }),
  ];
}

describe('tool calls', () => {
  test('several tool uses get OpenAI indexes 0, 1 in order, whatever their block index', async () => {
    const { chunks, error } = await run([toSse(twoToolEvents())], { clientWantsUsage: true });

    assert.equal(error, undefined);
    const headers = chunks
      .flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? [])
      .filter((call) => call.id !== undefined);
    assert.deepEqual(
      headers.map((call) => [call.index, call.id, call.function?.name]),
      [
        [0, 'toolu_a', 'get_weather'],
        [1, 'toolu_b', 'get_time'],
      ],
    );
    assert.deepEqual(JSON.parse(argumentsOf(chunks, 0)), { city: 'Paris' });
    assert.deepEqual(JSON.parse(argumentsOf(chunks, 1)), { tz: 'CET' });
    assert.deepEqual(chunks.at(-1)?.usage, {
      prompt_tokens: 120,
      completion_tokens: 33,
      total_tokens: 153,
      prompt_tokens_details: { cached_tokens: 100 },
    });
  });

  test('a read holding only pings yields an empty batch, so the stall guard sees a live upstream', async () => {
    const ping = 'event: ping\ndata: {"type": "ping"}\n\n';
    const { batches, error, text } = await run([
      toSse(textEvents.slice(0, 2)),
      ping,
      ping + ping,
      toSse(textEvents.slice(3)),
    ]);

    assert.equal(error, undefined);
    assert.deepEqual(
      batches.map((batch) => batch.length),
      [1, 0, 0, 8],
    );
    assert.equal(text, fullText);
  });

  test('thinking blocks are skipped with one warning; unknown event types are ignored', async () => {
    const lines = textEvents.toSpliced(
      1,
      0,
      '{"type":"content_block_start","index":5,"content_block":{"type":"thinking","thinking":""}}',
      '{"type":"content_block_delta","index":5,"delta":{"type":"thinking_delta","thinking":"hmm"}}',
      '{"type":"content_block_stop","index":5}',
      '{"type":"some_future_event","detail":1}',
    );

    const { text, error, warnings } = await run([toSse(lines)]);

    assert.equal(error, undefined);
    assert.equal(text, fullText);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]?.message ?? '', /'thinking'/);
  });
});

describe('broken streams', () => {
  const overloaded =
    'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n';

  test('an error event throws stream_interrupted after the events read with it', async () => {
    const { batches, error, text } = await run([toSse(textEvents.slice(0, 5)) + overloaded]);

    assertInterrupted(error, /error mid-stream: Overloaded \(overloaded_error\)/);
    assert.equal(batches.length, 1, 'the intact events of the same read were yielded first');
    assert.equal(text, 'Hello! I');
  });

  test('a malformed event throws, after the intact ones', async () => {
    const { error, text } = await run([
      toSse(textEvents.slice(0, 4)),
      'event: content_block_delta\ndata: {not json\n\n',
    ]);

    assertInterrupted(error, /malformed/);
    assert.equal(text, 'Hello');
  });

  test('a body that ends without message_stop throws, even after message_delta', async () => {
    const { error, chunks } = await run([toSse(textEvents.slice(0, -1))]);

    assertInterrupted(error, /ended before message_stop/);
    assert.ok(chunks.every((chunk) => chunk.choices.every((choice) => choice.finish_reason === null)));
  });

  test('events out of order are a protocol fault', async () => {
    const noStart = await run([toSse(textEvents.slice(1))]);
    const noBlock = await run([toSse([textEvents[0]!, textEvents[3]!])]);
    const twice = await run([toSse([textEvents[0]!, textEvents[0]!])]);

    assertInterrupted(noStart.error, /before message_start/);
    assertInterrupted(noBlock.error, /never started/);
    assertInterrupted(twice.error, /second message_start/);
  });

  test('a transport error becomes stream_interrupted; an abort rethrows the abort reason', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.from(toSse(textEvents.slice(0, 3)));
      throw Object.assign(new Error('socket hang up'), { code: 'UND_ERR_SOCKET' });
    }
    const warnings: Warning[] = [];
    const options = { providerName: 'Anthropic (Key #1)', clientWantsUsage: false, warnings };
    const controller = new AbortController();
    const reason = new Error('client went away');

    await assert.rejects(
      (async () => {
        for await (const _ of readAnthropicStream(failing(), { ...options, signal: controller.signal })) {
        }
      })(),
      (error) => {
        assertInterrupted(error, /UND_ERR_SOCKET/);
        return true;
      },
    );
    await assert.rejects(
      (async () => {
        for await (const _ of readAnthropicStream(failing(), { ...options, signal: controller.signal })) {
          controller.abort(reason);
        }
      })(),
      (error) => error === reason,
    );
  });
});

describe('the upstream body', () => {
  const options = (warnings: Warning[] = [], drainTimeoutMs?: number) => ({
    providerName: 'Anthropic (Key #1)',
    clientWantsUsage: false,
    signal: new AbortController().signal,
    warnings,
    ...(drainTimeoutMs === undefined ? {} : { drainTimeoutMs }),
  });

  test('is read to its end after message_stop, so the connection can be reused', async () => {
    let readToEnd: () => void = () => {};
    const ended = new Promise<void>((resolve) => {
      readToEnd = resolve;
    });
    async function* body(): AsyncGenerator<Buffer> {
      yield Buffer.from(toSse(textEvents));
      // What a server sends after message_stop: nothing but the end of the body, a moment later.
      await new Promise((resolve) => setImmediate(resolve));
      yield Buffer.from(': trailing comment\n\n');
      readToEnd();
    }
    const chunks: ChatCompletionChunk[] = [];

    for await (const batch of readAnthropicStream(body(), options()))
      chunks.push(...batch.map((e) => e.chunk));
    await ended;

    assert.equal(textOf(chunks), fullText);
  });

  test('that never ends after message_stop is destroyed once the drain time is up', async () => {
    let destroyed: () => void = () => {};
    const destroyedPromise = new Promise<void>((resolve) => {
      destroyed = resolve;
    });
    const body = {
      async *[Symbol.asyncIterator]() {
        yield Buffer.from(toSse(textEvents));
        await destroyedPromise;
        throw new Error('aborted');
      },
      destroy: () => destroyed(),
    };
    let finishes = 0;

    for await (const batch of readAnthropicStream(body, options([], 5))) {
      finishes += batch.filter((event) => event.chunk.choices[0]?.finish_reason === 'stop').length;
    }
    await destroyedPromise;

    assert.equal(finishes, 1, 'the answer completed before the drain began');
  });

  test('is released at once when the consumer stops before message_stop', async () => {
    let released = false;
    async function* body(): AsyncGenerator<Buffer> {
      try {
        yield Buffer.from(toSse(textEvents.slice(0, 4)));
        yield Buffer.from(toSse(textEvents.slice(4)));
      } finally {
        released = true;
      }
    }

    for await (const _batch of readAnthropicStream(body(), options())) break;

    assert.equal(released, true);
  });
});
