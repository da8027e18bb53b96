import { NexusError } from '../../core/errors.ts';
import type { ChatCompletionChunk, Usage } from '../../core/openai-types.ts';
import type { Warning } from '../../core/warning.ts';
import {
  type AnthropicContentBlock,
  type AnthropicMessage,
  type AnthropicStopReason,
  type AnthropicUsage,
  anthropicMessageId,
  anthropicStopReason,
  anthropicUsage,
  toolUseId,
  usageMissing,
} from './canonical-to-response.ts';
import type { Converted } from './request-to-canonical.ts';

export interface MessageStartEvent {
  type: 'message_start';
  message: AnthropicMessage;
}

export interface ContentBlockStartEvent {
  type: 'content_block_start';
  index: number;
  content_block: AnthropicContentBlock;
}

export interface ContentBlockDeltaEvent {
  type: 'content_block_delta';
  index: number;
  delta: { type: 'text_delta'; text: string } | { type: 'input_json_delta'; partial_json: string };
}

export interface ContentBlockStopEvent {
  type: 'content_block_stop';
  index: number;
}

export interface MessageDeltaEvent {
  type: 'message_delta';
  delta: { stop_reason: AnthropicStopReason | null; stop_sequence: string | null };
  /** Cumulative totals for the whole message; `input_tokens` included, see `createStreamTranslator`. */
  usage: Partial<AnthropicUsage> & { output_tokens: number };
}

export interface MessageStopEvent {
  type: 'message_stop';
}

export type AnthropicStreamEvent =
  | MessageStartEvent
  | ContentBlockStartEvent
  | ContentBlockDeltaEvent
  | ContentBlockStopEvent
  | MessageDeltaEvent
  | MessageStopEvent;

export interface StreamTranslator {
  /** The events one canonical chunk produces (often none or one). */
  push(chunk: ChatCompletionChunk): AnthropicStreamEvent[];
  /**
   * The closing events once the canonical stream has ended normally: `message_delta` (stop reason, usage)
   * and `message_stop`. Throws `stream_interrupted` if the stream never started or never finished.
   */
  finish(): AnthropicStreamEvent[];
  /** What could not be carried over, known by the time `finish()` returns. */
  readonly warnings: readonly Warning[];
}

/**
 * Canonical chunk stream → Anthropic's SSE event sequence, as a state machine (no I/O):
 * `message_start` on the first chunk; for each text run and each tool call, `content_block_start`, deltas
 * (`text_delta`; `input_json_delta` carrying the upstream's argument fragments as they are) and
 * `content_block_stop`, with indexes counting blocks from 0; then `message_delta` and `message_stop` only
 * from `finish()`, so a stream that breaks never ends with a clean `message_stop`.
 *
 * Input tokens: OpenAI-compatible upstreams report usage only in their last chunk, so `message_start` says
 * `input_tokens: 0` and the real counts (input, output, cache read and write) come in `message_delta.usage`,
 * which Anthropic defines as cumulative totals that may include `input_tokens`; the official SDK's
 * MessageStream takes them from there. Nothing is estimated.
 *
 * Only choice 0 is read (Anthropic has no `n`). Tool calls are streamed in the order they start; a fragment
 * for a tool call whose block is already closed cannot be expressed and fails the stream.
 */
export function createStreamTranslator(): StreamTranslator {
  const warnings: Warning[] = [];
  let messageId = '';
  let started = false;
  let nextIndex = 0;
  /** The Anthropic block currently open: text, or the tool call with this OpenAI index. */
  let open: { index: number; tool: number | undefined } | undefined;
  const tools = new Map<number, { index: number; id: string }>();
  let stopReason: AnthropicStopReason | null = null;
  let sawRefusal = false;
  let usage: Usage | undefined;

  const close = (events: AnthropicStreamEvent[]) => {
    if (open === undefined) return;
    events.push({ type: 'content_block_stop', index: open.index });
    open = undefined;
  };

  const text = (events: AnthropicStreamEvent[], piece: string) => {
    if (open !== undefined && open.tool !== undefined) close(events);
    if (open === undefined) {
      open = { index: nextIndex++, tool: undefined };
      events.push({
        type: 'content_block_start',
        index: open.index,
        content_block: { type: 'text', text: '' },
      });
    }
    events.push({
      type: 'content_block_delta',
      index: open.index,
      delta: { type: 'text_delta', text: piece },
    });
  };

  const toolDelta = (events: AnthropicStreamEvent[], delta: NonNullable<ToolDeltas>[number]) => {
    let state = tools.get(delta.index);
    if (state === undefined) {
      close(events);
      state = { index: nextIndex++, id: toolUseId(delta.id, messageId, tools.size) };
      tools.set(delta.index, state);
      open = { index: state.index, tool: delta.index };
      events.push({
        type: 'content_block_start',
        index: state.index,
        content_block: { type: 'tool_use', id: state.id, name: delta.function?.name ?? '', input: {} },
      });
    } else if (open?.tool !== delta.index) {
      throw new NexusError(
        'stream_interrupted',
        'The provider interleaved tool calls, which an Anthropic event stream cannot carry.',
      );
    }
    const fragment = delta.function?.arguments;
    if (fragment !== undefined && fragment !== '') {
      events.push({
        type: 'content_block_delta',
        index: state.index,
        delta: { type: 'input_json_delta', partial_json: fragment },
      });
    }
  };

  return {
    warnings,
    push(chunk) {
      const events: AnthropicStreamEvent[] = [];
      if (!started) {
        started = true;
        messageId = anthropicMessageId(chunk.id);
        events.push({ type: 'message_start', message: startMessage(messageId, chunk.model) });
      }
      if (chunk.usage != null) usage = chunk.usage;
      const choice = chunk.choices.find((candidate) => candidate.index === 0);
      if (choice === undefined) return events;
      const { content, refusal, tool_calls: toolCalls } = choice.delta;
      if (typeof content === 'string' && content !== '') text(events, content);
      if (typeof refusal === 'string' && refusal !== '') {
        sawRefusal = true;
        text(events, refusal);
      }
      for (const delta of toolCalls ?? []) toolDelta(events, delta);
      if (choice.finish_reason != null) {
        close(events);
        stopReason = sawRefusal ? 'refusal' : anthropicStopReason(choice.finish_reason);
      }
      return events;
    },
    finish() {
      if (!started || stopReason === null) {
        throw new NexusError(
          'stream_interrupted',
          'The provider stream ended before the answer was complete.',
        );
      }
      const events: AnthropicStreamEvent[] = [];
      close(events);
      if (usage === undefined) warnings.push(usageMissing);
      events.push({
        type: 'message_delta',
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: usage === undefined ? { output_tokens: 0 } : anthropicUsage(usage),
      });
      events.push({ type: 'message_stop' });
      return events;
    },
  };
}

type ToolDeltas = ChatCompletionChunk['choices'][number]['delta']['tool_calls'];

function startMessage(id: string, model: string): AnthropicMessage {
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    // Not known until the upstream's last chunk: the real counts arrive in message_delta.
    usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  };
}

/** One event in SSE wire form: `event: <type>` and its JSON `data:` line. */
export function serializeEvent(event: { type: string }): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** A whole chunk list → events, for tests and replays; throws like `finish()` on an incomplete stream. */
export function translateChunks(chunks: readonly ChatCompletionChunk[]): Converted<AnthropicStreamEvent[]> {
  const translator = createStreamTranslator();
  const events = chunks.flatMap((chunk) => translator.push(chunk));
  events.push(...translator.finish());
  return { value: events, warnings: [...translator.warnings] };
}
