import type { ChatCompletion, ChatCompletionChunk } from '../core/openai-types.ts';
import type { AnthropicBlock, AnthropicMessageBody } from './cache-types.ts';

/**
 * A cached answer asked for with `stream: true` is replayed as the stream a provider would have sent (SPEC
 * §3.3, issue 15 item 2): the same objects, in the same order, which the official SDKs accumulate back into
 * the cached answer. These functions build the events; the edge's SSE writer frames them (`data: ...` plus
 * `data: [DONE]` for OpenAI, `event: <type>` + `data: ...` for Anthropic).
 */

export interface ChatReplayOptions {
  /** The request's `stream_options.include_usage`: a last chunk with no choices and the usage. */
  readonly includeUsage?: boolean | undefined;
  /**
   * Longest text per content chunk, in code points (never splitting a character); default: each text in one
   * chunk. Clients concatenate deltas, so the split changes only how the stream looks, not the answer.
   */
  readonly maxChunkChars?: number | undefined;
}

/**
 * A cached chat completion as `chat.completion.chunk` objects: per choice a role chunk, its reasoning,
 * content and refusal deltas, one start and one arguments delta per tool call, then a chunk with its
 * `finish_reason`; with `includeUsage`, a final usage chunk (and `usage: null` on every other chunk, as OpenAI
 * sends them).
 */
export function replayChatCompletion(
  completion: ChatCompletion,
  options: ChatReplayOptions = {},
): ChatCompletionChunk[] {
  // OpenAI repeats these on every chunk of a stream.
  const extra: Record<string, unknown> = {};
  for (const field of ['system_fingerprint', 'service_tier'] as const) {
    if (completion[field] !== undefined) extra[field] = completion[field];
  }
  const common = {
    ...extra,
    id: completion.id,
    object: 'chat.completion.chunk' as const,
    created: completion.created,
    model: completion.model,
  };
  const chunks: ChatCompletionChunk[] = [];
  const emit = (choice: ChatCompletionChunk['choices'][number]) => {
    const chunk: ChatCompletionChunk = { ...common, choices: [choice] };
    if (options.includeUsage === true) chunk.usage = null;
    chunks.push(chunk);
  };
  for (const choice of completion.choices) {
    const { index, message } = choice;
    const content = message.content;
    emit({
      index,
      delta: { role: 'assistant', content: typeof content === 'string' ? '' : null },
      finish_reason: null,
    });
    for (const field of ['reasoning_content', 'content', 'refusal'] as const) {
      const text = message[field];
      if (typeof text !== 'string' || text === '') continue;
      pieces(text, options.maxChunkChars).forEach((piece, pieceIndex) => {
        const delta = {
          index,
          delta: { [field]: piece },
          finish_reason: null,
        } as ChatCompletionChunk['choices'][number];
        // Log probabilities ride on the first content delta; the SDKs concatenate them.
        if (field === 'content' && pieceIndex === 0 && choice.logprobs != null)
          delta.logprobs = choice.logprobs;
        emit(delta);
      });
    }
    (message.tool_calls ?? []).forEach((call, callIndex) => {
      emit({
        index,
        delta: {
          tool_calls: [
            {
              index: callIndex,
              id: call.id,
              type: 'function',
              function: { name: call.function.name, arguments: '' },
            },
          ],
        },
        finish_reason: null,
      });
      if (call.function.arguments !== '') {
        emit({
          index,
          delta: { tool_calls: [{ index: callIndex, function: { arguments: call.function.arguments } }] },
          finish_reason: null,
        });
      }
    });
    emit({ index, delta: {}, finish_reason: choice.finish_reason ?? 'stop' });
  }
  if (options.includeUsage === true && completion.usage !== undefined) {
    chunks.push({ ...common, choices: [], usage: completion.usage });
  }
  return chunks;
}

/** `text` in pieces of at most `max` code points (all of it when `max` is undefined). */
function pieces(text: string, max: number | undefined): string[] {
  if (max === undefined || max <= 0 || text.length <= max) return [text];
  const points = Array.from(text);
  const out: string[] = [];
  for (let start = 0; start < points.length; start += max)
    out.push(points.slice(start, start + max).join(''));
  return out;
}

/** One Anthropic streaming event (`type` is also the SSE `event:` name). */
export interface AnthropicStreamEvent {
  readonly type:
    | 'message_start'
    | 'content_block_start'
    | 'content_block_delta'
    | 'content_block_stop'
    | 'message_delta'
    | 'message_stop';
  readonly [field: string]: unknown;
}

/**
 * A cached Anthropic message as its event sequence: `message_start` (the message with no content, its input
 * usage and `output_tokens: 0`), per block `content_block_start` / deltas / `content_block_stop` (`text_delta`
 * and `citations_delta` for text, `input_json_delta` for `tool_use` and `server_tool_use`, `thinking_delta` and
 * `signature_delta` for thinking; other blocks whole in their start event), `message_delta` with
 * `stop_reason`, `stop_sequence` and the full usage (cumulative, as Anthropic defines it), `message_stop`.
 */
export function replayAnthropicMessage(message: AnthropicMessageBody): AnthropicStreamEvent[] {
  const { content, ...rest } = message;
  const events: AnthropicStreamEvent[] = [
    {
      type: 'message_start',
      message: {
        ...rest,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...message.usage, output_tokens: 0 },
      },
    },
  ];
  content.forEach((block, index) => {
    for (const event of blockEvents(block, index)) events.push(event);
  });
  events.push(
    {
      type: 'message_delta',
      delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence },
      usage: message.usage,
    },
    { type: 'message_stop' },
  );
  return events;
}

function blockEvents(block: AnthropicBlock, index: number): AnthropicStreamEvent[] {
  const start = (contentBlock: unknown): AnthropicStreamEvent => ({
    type: 'content_block_start',
    index,
    content_block: contentBlock,
  });
  const delta = (value: Record<string, unknown>): AnthropicStreamEvent => ({
    type: 'content_block_delta',
    index,
    delta: value,
  });
  const stop: AnthropicStreamEvent = { type: 'content_block_stop', index };
  if (block.type === 'text' && typeof block.text === 'string') {
    const { text, citations, ...fields } = block;
    const events = [
      start(citations === undefined ? { ...fields, text: '' } : { ...fields, text: '', citations: [] }),
    ];
    if (Array.isArray(citations)) {
      for (const citation of citations) events.push(delta({ type: 'citations_delta', citation }));
    }
    if (text !== '') events.push(delta({ type: 'text_delta', text }));
    return [...events, stop];
  }
  if ((block.type === 'tool_use' || block.type === 'server_tool_use') && 'input' in block) {
    const { input, ...fields } = block;
    const json = JSON.stringify(input ?? {});
    const events = [start({ ...fields, input: {} })];
    if (json !== '{}') events.push(delta({ type: 'input_json_delta', partial_json: json }));
    return [...events, stop];
  }
  if (block.type === 'thinking' && typeof block.thinking === 'string') {
    const { thinking, signature, ...fields } = block;
    const events = [start({ ...fields, thinking: '', signature: '' })];
    if (thinking !== '') events.push(delta({ type: 'thinking_delta', thinking }));
    if (typeof signature === 'string' && signature !== '') {
      events.push(delta({ type: 'signature_delta', signature }));
    }
    return [...events, stop];
  }
  return [start(block), stop];
}
