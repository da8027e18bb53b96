import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { AnthropicMessageBody } from '../../src/cache/cache-types.ts';
import { AnthropicStreamAccumulator, ChatStreamAccumulator } from '../../src/cache/stream-accumulator.ts';
import { replayAnthropicMessage, replayChatCompletion } from '../../src/cache/stream-replay.ts';
import type { ChatCompletion, ChatCompletionChunk } from '../../src/core/openai-types.ts';

function completion(
  content: string | null,
  extra: Partial<ChatCompletion['choices'][number]['message']> = {},
): ChatCompletion {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1_750_000_000,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content, ...extra }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
  };
}

function accumulate(chunks: readonly ChatCompletionChunk[]): ChatCompletion | undefined {
  const accumulator = new ChatStreamAccumulator();
  for (const chunk of chunks) accumulator.add(chunk);
  return accumulator.result();
}

describe('chat stream accumulator', () => {
  it('rebuilds the completion a replay came from, for any text and chunking', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 60 }),
        fc.integer({ min: 1, max: 8 }),
        (text, max) => {
          const original = completion(text);
          const chunks = replayChatCompletion(original, { includeUsage: true, maxChunkChars: max });
          assert.deepEqual(accumulate(chunks), original);
        },
      ),
    );
  });

  it('rebuilds tool calls, reasoning and refusal', () => {
    const original: ChatCompletion = {
      ...completion(null, {
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
          { id: 'call_2', type: 'function', function: { name: 'g', arguments: '' } },
        ],
        reasoning_content: 'think',
      }),
    };
    original.choices[0]!.finish_reason = 'tool_calls';
    assert.deepEqual(accumulate(replayChatCompletion(original, { includeUsage: true })), original);
    const refused = completion(null, { refusal: 'I can’t help with that.' });
    assert.deepEqual(accumulate(replayChatCompletion(refused, { includeUsage: true })), refused);
  });

  it('gives nothing for a stream that did not finish', () => {
    const chunks = replayChatCompletion(completion('cut short'), { includeUsage: true });
    // Without the finish chunk and the usage chunk: a stream cut after its content.
    assert.equal(accumulate(chunks.slice(0, 2)), undefined);
    assert.equal(accumulate([]), undefined);
    const two: ChatCompletion = {
      ...completion('a'),
      choices: [
        { index: 0, message: { role: 'assistant', content: 'a' }, finish_reason: 'stop' },
        { index: 1, message: { role: 'assistant', content: 'b' }, finish_reason: 'stop' },
      ],
    };
    const twoChunks = replayChatCompletion(two);
    assert.ok(accumulate(twoChunks));
    // One choice finished, the other not.
    assert.equal(accumulate(twoChunks.slice(0, -1)), undefined);
  });
});

const message: AnthropicMessageBody = {
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5',
  content: [
    { type: 'thinking', thinking: 'hmm', signature: 'sig' },
    { type: 'text', text: 'Here you go ✓' },
    { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: { q: 'tea', n: [1, 2] } },
    { type: 'tool_use', id: 'toolu_2', name: 'noop', input: {} },
  ],
  stop_reason: 'tool_use',
  stop_sequence: null,
  usage: { input_tokens: 9, output_tokens: 12, cache_read_input_tokens: 2 },
};

function accumulateEvents(events: readonly { type: string; [field: string]: unknown }[]) {
  const accumulator = new AnthropicStreamAccumulator();
  for (const event of events) accumulator.add(event);
  return accumulator.result();
}

describe('Anthropic stream accumulator', () => {
  it('rebuilds the message a replay came from', () => {
    assert.deepEqual(accumulateEvents(replayAnthropicMessage(message)), message);
  });

  it('gives nothing without message_stop, after an error event, or with broken tool JSON', () => {
    const events = replayAnthropicMessage(message);
    assert.equal(accumulateEvents(events.slice(0, -1)), undefined);
    assert.equal(
      accumulateEvents([...events.slice(0, -1), { type: 'error', error: {} }, events.at(-1)!]),
      undefined,
    );
    const broken = events.map((event) =>
      event.type === 'content_block_delta' && (event.delta as { type: string }).type === 'input_json_delta'
        ? { ...event, delta: { type: 'input_json_delta', partial_json: '{"q":' } }
        : event,
    );
    assert.equal(accumulateEvents(broken), undefined);
  });
});
