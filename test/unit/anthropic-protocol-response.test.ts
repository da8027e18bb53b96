import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MessageStream } from '@anthropic-ai/sdk/lib/MessageStream';
import fc from 'fast-check';
import { NexusError } from '../../src/core/errors.ts';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  FinishReason,
  ToolCall,
  Usage,
} from '../../src/core/openai-types.ts';
import {
  type AnthropicMessage,
  anthropicStopReason,
  canonicalToAnthropic,
} from '../../src/protocols/anthropic/canonical-to-response.ts';
import {
  anthropicErrorEvent,
  anthropicErrorType,
  toAnthropicErrorBody,
} from '../../src/protocols/anthropic/errors.ts';
import {
  type AnthropicStreamEvent,
  createStreamTranslator,
  serializeEvent,
  translateChunks,
} from '../../src/protocols/anthropic/stream-to-events.ts';

function completion(
  message: Partial<ChatCompletion['choices'][0]['message']>,
  extra: Partial<ChatCompletion> = {},
) {
  return {
    id: 'chatcmpl-abc123',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: null, ...message },
        finish_reason: message.tool_calls ? 'tool_calls' : 'stop',
      },
    ],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    ...extra,
  } as ChatCompletion;
}

describe('canonicalToAnthropic', () => {
  test('text and tool calls become blocks; ids, names and parsed inputs are kept', () => {
    const { value, warnings } = canonicalToAnthropic(
      completion({
        content: 'Let me look.',
        tool_calls: [
          {
            id: 'call_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
          { id: 'call_2', type: 'function', function: { name: 'now', arguments: '' } },
        ],
      }),
    );
    assert.deepEqual(value, {
      id: 'msg_abc123',
      type: 'message',
      role: 'assistant',
      model: 'gpt-4o-mini',
      content: [
        { type: 'text', text: 'Let me look.' },
        { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'call_2', name: 'now', input: {} },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: {
        input_tokens: 10,
        output_tokens: 5,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    });
    assert.deepEqual(warnings, []);
  });

  test('usage: input_tokens excludes cache reads and cache writes', () => {
    const usage: Usage = {
      prompt_tokens: 1000,
      completion_tokens: 20,
      total_tokens: 1020,
      prompt_tokens_details: { cached_tokens: 600, cache_creation_tokens: 300 },
    };
    const { value } = canonicalToAnthropic(completion({ content: 'x' }, { usage }));
    assert.deepEqual(value.usage, {
      input_tokens: 100,
      output_tokens: 20,
      cache_read_input_tokens: 600,
      cache_creation_input_tokens: 300,
    });
  });

  test('missing usage is zeros plus a warning; unparsable arguments are {} plus a warning', () => {
    const { value, warnings } = canonicalToAnthropic(
      completion(
        { tool_calls: [{ id: '', type: 'function', function: { name: 'f', arguments: '{"cut' } }] },
        { usage: undefined },
      ),
    );
    assert.deepEqual(value.content, [{ type: 'tool_use', id: 'toolu_abc123_0', name: 'f', input: {} }]);
    assert.deepEqual(warnings.map((warning) => warning.param).sort(), ['tool_use', 'usage']);
  });

  test('stop reasons', () => {
    const cases: Array<[string | null, string | null]> = [
      ['stop', 'end_turn'],
      ['length', 'max_tokens'],
      ['tool_calls', 'tool_use'],
      ['function_call', 'tool_use'],
      ['content_filter', 'refusal'],
      ['something_new', 'end_turn'],
      [null, null],
    ];
    for (const [finish, stop] of cases) assert.equal(anthropicStopReason(finish), stop, String(finish));
  });

  test('a refusal is text with stop_reason refusal; an empty reply has no blocks', () => {
    const refused = canonicalToAnthropic(completion({ content: null, refusal: 'I cannot help with that.' }));
    assert.deepEqual(refused.value.content, [{ type: 'text', text: 'I cannot help with that.' }]);
    assert.equal(refused.value.stop_reason, 'refusal');
    assert.deepEqual(canonicalToAnthropic(completion({ content: '' })).value.content, []);
  });

  test('a reply without choices is an upstream error', () => {
    assert.throws(() => canonicalToAnthropic(completion({}, { choices: [] })), /without choices/);
  });
});

function chunk(delta: ChatCompletionChunk['choices'][0]['delta'], finish: FinishReason | null = null) {
  return {
    id: 'chatcmpl-s1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, delta, finish_reason: finish }],
  } as ChatCompletionChunk;
}

function usageChunk(usage: Usage): ChatCompletionChunk {
  return { ...chunk({}), choices: [], usage };
}

describe('stream translation', () => {
  test('the exact event sequence for text then two tool calls', () => {
    const { value: events, warnings } = translateChunks([
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Hi' }),
      chunk({ content: ' there' }),
      chunk({
        tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'f', arguments: '' } }],
      }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"x":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }),
      chunk({
        tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'g', arguments: '{}' } }],
      }),
      chunk({}, 'tool_calls'),
      usageChunk({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 }),
    ]);
    assert.deepEqual(warnings, []);
    assert.deepEqual(events, [
      {
        type: 'message_start',
        message: {
          id: 'msg_s1',
          type: 'message',
          role: 'assistant',
          model: 'gpt-4o-mini',
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: {
            input_tokens: 0,
            output_tokens: 0,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
          },
        },
      },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' there' } },
      { type: 'content_block_stop', index: 0 },
      {
        type: 'content_block_start',
        index: 1,
        content_block: { type: 'tool_use', id: 'call_a', name: 'f', input: {} },
      },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"x":' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '1}' } },
      { type: 'content_block_stop', index: 1 },
      {
        type: 'content_block_start',
        index: 2,
        content_block: { type: 'tool_use', id: 'call_b', name: 'g', input: {} },
      },
      { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{}' } },
      { type: 'content_block_stop', index: 2 },
      {
        type: 'message_delta',
        delta: { stop_reason: 'tool_use', stop_sequence: null },
        usage: {
          input_tokens: 7,
          output_tokens: 3,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
        },
      },
      { type: 'message_stop' },
    ]);
  });

  test('serialised as event/data pairs', () => {
    assert.equal(
      serializeEvent({ type: 'message_stop' }),
      'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    );
  });

  test('message_delta and message_stop come only from finish(); a stream that never finished throws', () => {
    const translator = createStreamTranslator();
    const events = [chunk({ content: 'partial' }), chunk({}, 'stop')].flatMap((item) =>
      translator.push(item),
    );
    assert.ok(!events.some((event) => event.type === 'message_stop' || event.type === 'message_delta'));
    const unfinished = createStreamTranslator();
    unfinished.push(chunk({ content: 'cut here' }));
    assert.throws(
      () => unfinished.finish(),
      (error: unknown) => error instanceof NexusError && error.code === 'stream_interrupted',
    );
    assert.throws(() => createStreamTranslator().finish(), /ended before/);
  });

  test('no usage from the upstream: output_tokens 0 and a warning', () => {
    const { value, warnings } = translateChunks([chunk({ content: 'x' }, 'stop')]);
    assert.deepEqual(value.at(-2), {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 0 },
    });
    assert.deepEqual(
      warnings.map((warning) => warning.param),
      ['usage'],
    );
  });

  test('a fragment for a tool call whose block is closed cannot be expressed and throws', () => {
    const translator = createStreamTranslator();
    translator.push(chunk({ tool_calls: [{ index: 0, id: 'a', function: { name: 'f', arguments: '{' } }] }));
    translator.push(chunk({ tool_calls: [{ index: 1, id: 'b', function: { name: 'g', arguments: '{}' } }] }));
    assert.throws(
      () => translator.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '}' } }] })),
      /interleaved/,
    );
  });
});

describe('Anthropic errors', () => {
  test('types follow the status as Anthropic assigns them', () => {
    const cases: Array<[number, string]> = [
      [400, 'invalid_request_error'],
      [415, 'invalid_request_error'],
      [422, 'invalid_request_error'],
      [401, 'authentication_error'],
      [403, 'permission_error'],
      [404, 'not_found_error'],
      [413, 'request_too_large'],
      [429, 'rate_limit_error'],
      [500, 'api_error'],
      [502, 'api_error'],
      [503, 'overloaded_error'],
      [504, 'timeout_error'],
    ];
    for (const [status, type] of cases) assert.equal(anthropicErrorType(status), type, String(status));
  });

  test('body and stream event shapes', () => {
    const error = new NexusError('upstream_rate_limited', 'Slow down.');
    assert.deepEqual(toAnthropicErrorBody(error, 'req-1'), {
      type: 'error',
      error: { type: 'rate_limit_error', message: 'Slow down.' },
      request_id: 'req-1',
    });
    const event = anthropicErrorEvent(new NexusError('stream_interrupted', 'cut'));
    assert.equal(
      event,
      'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"cut"},"request_id":null}\n\n',
    );
  });
});

// --- Properties ----------------------------------------------------------------------------------------------

interface Generated {
  completion: ChatCompletion;
  /** Cut points used to fragment text and arguments in the streamed form. */
  cuts: number[];
}

const toolName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_-]{0,30}$/);
const toolInput = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 });

const generated: fc.Arbitrary<Generated> = fc
  .record({
    idSuffix: fc.stringMatching(/^[A-Za-z0-9]{1,29}$/),
    text: fc.option(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }), { nil: null }),
    tools: fc.uniqueArray(
      fc.record({ id: fc.stringMatching(/^call_[A-Za-z0-9]{4,24}$/), name: toolName, input: toolInput }),
      { maxLength: 4, selector: (tool) => tool.id },
    ),
    truncated: fc.boolean(),
    cacheRead: fc.nat(5000),
    cacheWrite: fc.nat(5000),
    uncached: fc.nat(100_000),
    output: fc.nat(100_000),
    cuts: fc.array(fc.nat(400), { maxLength: 12 }),
  })
  .map(({ idSuffix, text, tools, truncated, cacheRead, cacheWrite, uncached, output, cuts }) => {
    const toolCalls: ToolCall[] = tools.map((tool) => ({
      id: tool.id,
      type: 'function',
      function: { name: tool.name, arguments: JSON.stringify(tool.input) },
    }));
    const finish: FinishReason = toolCalls.length > 0 ? 'tool_calls' : truncated ? 'length' : 'stop';
    const usage: Usage = {
      prompt_tokens: uncached + cacheRead + cacheWrite,
      completion_tokens: output,
      total_tokens: uncached + cacheRead + cacheWrite + output,
      prompt_tokens_details: { cached_tokens: cacheRead, cache_creation_tokens: cacheWrite },
    };
    const value: ChatCompletion = {
      id: `chatcmpl-${idSuffix}`,
      object: 'chat.completion',
      created: 1,
      model: 'some-model',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: text,
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          },
          finish_reason: finish,
        },
      ],
      usage,
    };
    return { completion: value, cuts };
  });

/** The Anthropic message read back into canonical terms, as an Anthropic-to-OpenAI adapter would. */
function backToCanonical(message: AnthropicMessage) {
  const text = message.content
    .filter((block) => block.type === 'text')
    .map((block) => block.text)
    .join('');
  const toolCalls = message.content
    .filter((block) => block.type === 'tool_use')
    .map((block) => ({ id: block.id, name: block.name, input: block.input }));
  const finish = { end_turn: 'stop', max_tokens: 'length', tool_use: 'tool_calls' } as Record<string, string>;
  const { usage } = message;
  return {
    text: text === '' ? null : text,
    toolCalls,
    finish: message.stop_reason === null ? null : finish[message.stop_reason],
    usage: {
      prompt: usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens,
      completion: usage.output_tokens,
      cached: usage.cache_read_input_tokens,
      created: usage.cache_creation_input_tokens,
    },
  };
}

/** Splits text at the given cut points (by code point, so no surrogate pair is torn). */
function fragments(text: string, cuts: number[]): string[] {
  const points = Array.from(text);
  const at = [...new Set(cuts.map((cut) => cut % (points.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let start = 0;
  for (const cut of [...at, points.length]) {
    if (cut > start) pieces.push(points.slice(start, cut).join(''));
    start = Math.max(start, cut);
  }
  return pieces;
}

/** The chunk stream an OpenAI-compatible upstream would send for this completion, fragmented by `cuts`. */
function chunksOf({ completion: reply, cuts }: Generated): ChatCompletionChunk[] {
  const choice = reply.choices[0]!;
  const head = { id: reply.id, object: 'chat.completion.chunk' as const, created: 1, model: reply.model };
  const delta = (value: ChatCompletionChunk['choices'][0]['delta'], finish: FinishReason | null = null) => ({
    ...head,
    choices: [{ index: 0, delta: value, finish_reason: finish }],
  });
  const chunks: ChatCompletionChunk[] = [delta({ role: 'assistant', content: '' })];
  for (const piece of fragments(choice.message.content ?? '', cuts)) chunks.push(delta({ content: piece }));
  (choice.message.tool_calls ?? []).forEach((call, index) => {
    chunks.push(
      delta({
        tool_calls: [
          { index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } },
        ],
      }),
    );
    for (const piece of fragments(call.function.arguments, cuts)) {
      chunks.push(delta({ tool_calls: [{ index, function: { arguments: piece } }] }));
    }
  });
  chunks.push(delta({}, choice.finish_reason));
  chunks.push({ ...head, choices: [], usage: reply.usage });
  return chunks;
}

/** Reassembles events with the official SDK's own accumulator (what `messages.stream().finalMessage()` does). */
async function reassemble(events: AnthropicStreamEvent[]): Promise<AnthropicMessage> {
  const lines = `${events.map((event) => JSON.stringify(event)).join('\n')}\n`;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(lines));
      controller.close();
    },
  });
  return (await MessageStream.fromReadableStream(body).finalMessage()) as unknown as AnthropicMessage;
}

describe('properties', () => {
  test('canonical → Anthropic → canonical keeps text, tool calls (ids, names, arguments) and usage', () => {
    fc.assert(
      fc.property(generated, ({ completion: reply }) => {
        const { value, warnings } = canonicalToAnthropic(reply);
        assert.deepEqual(warnings, []);
        const back = backToCanonical(value);
        const choice = reply.choices[0]!;
        assert.equal(back.text, choice.message.content);
        assert.deepEqual(
          back.toolCalls,
          (choice.message.tool_calls ?? []).map((call) => ({
            id: call.id,
            name: call.function.name,
            input: JSON.parse(call.function.arguments),
          })),
        );
        assert.equal(back.finish, choice.finish_reason);
        const usage = reply.usage!;
        assert.deepEqual(back.usage, {
          prompt: usage.prompt_tokens,
          completion: usage.completion_tokens,
          cached: usage.prompt_tokens_details?.cached_tokens,
          created: usage.prompt_tokens_details?.cache_creation_tokens,
        });
      }),
      { numRuns: 300 },
    );
  });

  test('streamed: events reassembled by the official SDK equal the non-stream translation', async () => {
    await fc.assert(
      fc.asyncProperty(generated, async (input) => {
        const { value: events, warnings } = translateChunks(chunksOf(input));
        assert.deepEqual(warnings, []);
        const expected = canonicalToAnthropic(input.completion).value;
        const streamed = await reassemble(events);
        assert.equal(streamed.id, expected.id);
        assert.equal(streamed.model, expected.model);
        assert.deepEqual(streamed.content, expected.content);
        assert.equal(streamed.stop_reason, expected.stop_reason);
        assert.deepEqual(
          {
            input_tokens: streamed.usage.input_tokens,
            output_tokens: streamed.usage.output_tokens,
            cache_creation_input_tokens: streamed.usage.cache_creation_input_tokens,
            cache_read_input_tokens: streamed.usage.cache_read_input_tokens,
          },
          expected.usage,
        );
        // Indexes count blocks from 0 and every started block is stopped before the next starts.
        let open: number | undefined;
        let next = 0;
        for (const event of events) {
          if (event.type === 'content_block_start') {
            assert.equal(open, undefined);
            assert.equal(event.index, next++);
            open = event.index;
          } else if (event.type === 'content_block_delta') assert.equal(event.index, open);
          else if (event.type === 'content_block_stop') {
            assert.equal(event.index, open);
            open = undefined;
          }
        }
        assert.equal(events.at(-1)?.type, 'message_stop');
      }),
      { numRuns: 200 },
    );
  });
});
