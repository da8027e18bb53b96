import type { CallSignal } from '../../core/call-signal.ts';
import { NexusError } from '../../core/errors.ts';
import type { ChatCompletionChunk, FinishReason } from '../../core/openai-types.ts';
import { type EventSourceMessage, readServerSentEvents } from '../shared/sse.ts';
import { batchOf, type StreamEvent, type Warning } from '../types.ts';
import { reportDroppedBlock, toUsage } from './convert-response.ts';
import { errorMessageOf } from './errors.ts';
import { mapStopReason } from './map-stop-reason.ts';
import type { AnthropicUsage } from './wire-types.ts';

export interface AnthropicStreamOptions {
  readonly providerName: string;
  /** Whether the client asked for the final usage chunk; if not, it is marked `hidden` (read, not forwarded). */
  readonly clientWantsUsage: boolean;
  readonly signal: CallSignal;
  /** Receives what the OpenAI shape cannot carry (thinking blocks, a paused turn). */
  readonly warnings: Warning[];
  /** How long the rest of the body may take to end after `message_stop`, in milliseconds. Default 2000. */
  readonly drainTimeoutMs?: number;
}

/**
 * Translates Anthropic's Messages event stream (https://docs.anthropic.com/en/api/messages-streaming) into
 * OpenAI chunks: `message_start` → the role chunk, text deltas → content, `tool_use` blocks → tool-call deltas
 * (the header with id and name first, then the `input_json_delta` fragments as arguments), `message_delta` →
 * the stop reason and final usage, sent as the finish chunk and the usage chunk on `message_stop`.
 * The stream ends normally only on `message_stop`; a cut, a malformed event or an `error` event throws
 * `stream_interrupted`, after the events that arrived intact before it.
 */
export async function* readAnthropicStream(
  body: AsyncIterable<Uint8Array>,
  options: AnthropicStreamOptions,
): AsyncGenerator<StreamEvent[], void, undefined> {
  const translator = new StreamTranslator(options);
  const reads = readServerSentEvents(body);
  try {
    for (;;) {
      const read = await reads.next();
      if (read.done === true) break;
      const batch: StreamEvent[] = [];
      for (const event of read.value) {
        try {
          batch.push(...translator.translate(event));
        } catch (error) {
          // Whatever arrived intact before the bad event still reaches the client, then the error does.
          if (batch.length > 0) yield batchOf(batch);
          throw error;
        }
        if (translator.finished) break;
      }
      // A read of pings alone still yields (an empty batch): Anthropic pings while the model works, and the
      // pipeline's stall guard must see that the upstream is alive rather than cut it off.
      yield batchOf(batch);
      if (translator.finished) return;
    }
  } catch (error) {
    if (options.signal.aborted) throw options.signal.reason ?? error;
    if (error instanceof NexusError) throw error;
    throw new NexusError('stream_interrupted', `${options.providerName} stream broke: ${describe(error)}`, {
      cause: error,
    });
  } finally {
    // undici reuses a connection only when its body was read to the end; stopping at `message_stop` would
    // cost every streamed request a new connection (and TLS handshake). The answer is complete, so the rest
    // is read in the background, and dropped if it does not end in time.
    if (translator.finished) drainInBackground(reads, body, options.drainTimeoutMs ?? 2000);
    else await reads.return();
  }
  throw new NexusError(
    'stream_interrupted',
    `${options.providerName} stream ended before message_stop; the answer is incomplete.`,
  );
}

/** Reads a finished stream's remaining bytes; destroys the body when it has not ended after `timeoutMs`. */
function drainInBackground(reads: AsyncGenerator<unknown>, body: unknown, timeoutMs: number): void {
  const timer = setTimeout(() => {
    const destroy = (body as { destroy?: unknown }).destroy;
    if (typeof destroy === 'function') destroy.call(body);
  }, timeoutMs);
  void (async () => {
    try {
      while ((await reads.next()).done !== true) {}
    } catch {
      // The answer was already complete; a failure after message_stop changes nothing for the client.
    } finally {
      clearTimeout(timer);
    }
  })();
}

type Block =
  | { kind: 'text' }
  | { kind: 'tool'; toolIndex: number; sentArguments: boolean }
  | { kind: 'other' };

interface Head {
  id: string;
  model: string;
  created: number;
}

type Delta = ChatCompletionChunk['choices'][number]['delta'];

class StreamTranslator {
  finished = false;
  readonly #options: AnthropicStreamOptions;
  #head: Head | undefined;
  #usage: AnthropicUsage = {};
  #stopReason: string | null = null;
  readonly #blocks = new Map<number, Block>();
  #toolCount = 0;

  constructor(options: AnthropicStreamOptions) {
    this.#options = options;
  }

  translate(event: EventSourceMessage): StreamEvent[] {
    const data = this.#parse(event);
    const type = typeof data.type === 'string' ? data.type : event.event;
    if (type === 'error' || event.event === 'error') {
      throw this.#broken(`reported an error mid-stream: ${errorMessageOf(data) || 'no message'}`);
    }
    if (type === 'ping') return [];
    if (type === 'message_start') return this.#start(data.message);
    if (this.#head === undefined) throw this.#broken(`sent '${String(type)}' before message_start`);
    switch (type) {
      case 'content_block_start':
        return this.#blockStart(data.index, data.content_block);
      case 'content_block_delta':
        return this.#blockDelta(data.index, data.delta);
      case 'content_block_stop':
        return this.#blockStop(data.index);
      case 'message_delta': {
        const delta = (data.delta ?? {}) as { stop_reason?: unknown };
        if (typeof delta.stop_reason === 'string') this.#stopReason = delta.stop_reason;
        this.#mergeUsage(data.usage);
        return [];
      }
      case 'message_stop':
        this.finished = true;
        return this.#finish();
      default:
        // Anthropic's versioning policy allows new event types; unknown ones are skipped, not fatal.
        return [];
    }
  }

  #parse(event: EventSourceMessage): Record<string, unknown> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(event.data);
    } catch {
      throw this.#broken('sent a malformed stream event');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw this.#broken('sent a malformed stream event');
    }
    return parsed as Record<string, unknown>;
  }

  #start(message: unknown): StreamEvent[] {
    const record = (message ?? {}) as { id?: unknown; model?: unknown; usage?: unknown };
    if (this.#head !== undefined) throw this.#broken('sent a second message_start');
    if (typeof record.id !== 'string' || typeof record.model !== 'string') {
      throw this.#broken('sent a message_start without id or model');
    }
    this.#head = { id: record.id, model: record.model, created: Math.floor(Date.now() / 1000) };
    this.#mergeUsage(record.usage);
    return [this.#chunk({ role: 'assistant', content: '' })];
  }

  #blockStart(index: unknown, block: unknown): StreamEvent[] {
    const position = this.#position(index);
    const content = (block ?? {}) as { type?: unknown; text?: unknown; id?: unknown; name?: unknown };
    if (content.type === 'text') {
      this.#blocks.set(position, { kind: 'text' });
      return typeof content.text === 'string' && content.text !== ''
        ? [this.#chunk({ content: content.text })]
        : [];
    }
    if (content.type === 'tool_use' && typeof content.id === 'string' && typeof content.name === 'string') {
      const toolIndex = this.#toolCount++;
      this.#blocks.set(position, { kind: 'tool', toolIndex, sentArguments: false });
      const header = {
        index: toolIndex,
        id: content.id,
        type: 'function' as const,
        function: { name: content.name, arguments: '' },
      };
      return [this.#chunk({ tool_calls: [header] })];
    }
    this.#blocks.set(position, { kind: 'other' });
    reportDroppedBlock(String(content.type), this.#options.warnings);
    return [];
  }

  #blockDelta(index: unknown, delta: unknown): StreamEvent[] {
    const block = this.#blocks.get(this.#position(index));
    if (block === undefined) throw this.#broken('sent a content_block_delta for a block that never started');
    const change = (delta ?? {}) as { type?: unknown; text?: unknown; partial_json?: unknown };
    if (block.kind === 'text' && change.type === 'text_delta' && typeof change.text === 'string') {
      return change.text === '' ? [] : [this.#chunk({ content: change.text })];
    }
    if (
      block.kind === 'tool' &&
      change.type === 'input_json_delta' &&
      typeof change.partial_json === 'string'
    ) {
      if (change.partial_json === '') return [];
      block.sentArguments = true;
      return [this.#arguments(block.toolIndex, change.partial_json)];
    }
    // Thinking, signature and citation deltas have no OpenAI counterpart (their block start was reported).
    return [];
  }

  #blockStop(index: unknown): StreamEvent[] {
    const block = this.#blocks.get(this.#position(index));
    // A tool without parameters streams no JSON at all; OpenAI clients parse the arguments, so send `{}`.
    if (block?.kind === 'tool' && !block.sentArguments) {
      block.sentArguments = true;
      return [this.#arguments(block.toolIndex, '{}')];
    }
    return [];
  }

  #finish(): StreamEvent[] {
    const finishReason = mapStopReason(this.#stopReason, this.#options.warnings);
    const usageChunk: ChatCompletionChunk = {
      ...this.#headFields(),
      choices: [],
      usage: toUsage(this.#usage),
    };
    return [
      this.#chunk({}, finishReason),
      this.#options.clientWantsUsage
        ? { chunk: usageChunk, raw: undefined }
        : { chunk: usageChunk, raw: undefined, hidden: true },
    ];
  }

  /** Usage counts are cumulative: a later value replaces an earlier one, an absent one keeps it. */
  #mergeUsage(usage: unknown): void {
    if (usage === null || typeof usage !== 'object') return;
    const update = usage as Record<string, unknown>;
    for (const field of [
      'input_tokens',
      'output_tokens',
      'cache_read_input_tokens',
      'cache_creation_input_tokens',
    ] as const) {
      const value = update[field];
      if (typeof value === 'number') this.#usage[field] = value;
    }
  }

  #position(index: unknown): number {
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0) {
      throw this.#broken('sent a content block event without a valid index');
    }
    return index;
  }

  #arguments(toolIndex: number, text: string): StreamEvent {
    return this.#chunk({ tool_calls: [{ index: toolIndex, function: { arguments: text } }] });
  }

  #headFields() {
    const head = this.#head!;
    return {
      id: head.id,
      object: 'chat.completion.chunk' as const,
      created: head.created,
      model: head.model,
    };
  }

  #chunk(delta: Delta, finishReason: FinishReason | null = null): StreamEvent {
    return {
      chunk: { ...this.#headFields(), choices: [{ index: 0, delta, finish_reason: finishReason }] },
      raw: undefined,
    };
  }

  #broken(what: string): NexusError {
    return new NexusError('stream_interrupted', `${this.#options.providerName} ${what}.`);
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : 'unknown error';
}
