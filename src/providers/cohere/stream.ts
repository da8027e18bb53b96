import { randomUUID } from 'node:crypto';
import type { CallSignal } from '../../core/call-signal.ts';
import { NexusError } from '../../core/errors.ts';
import type { ChatCompletionChunk, FinishReason } from '../../core/openai-types.ts';
import { type EventSourceMessage, readServerSentEvents } from '../shared/sse.ts';
import { redactSecrets } from '../shared/upstream-errors.ts';
import { batchOf, type StreamEvent } from '../types.ts';
import { failedGeneration, mapFinishReason, toUsage } from './response.ts';
import type { CohereStreamEvent } from './wire.ts';

export interface CohereStreamOptions {
  readonly providerName: string;
  /** The model id put in every chunk. */
  readonly model: string;
  /** Whether the client asked for the final usage chunk; if not, it is marked `hidden`. */
  readonly clientWantsUsage: boolean;
  readonly signal: CallSignal;
}

type Delta = ChatCompletionChunk['choices'][number]['delta'];

/**
 * Translates a Cohere v2 chat stream (docs.cohere.com/docs/streaming: `message-start`, `content-*`,
 * `tool-plan-delta`, `tool-call-*`, `message-end`, then `data: [DONE]`) into OpenAI chunks. The answer is
 * complete only at `message-end`; a cut, a malformed event, an error event, a `[DONE]` before `message-end`
 * or a generation Cohere ends with ERROR/TIMEOUT throws `stream_interrupted`. Events translated before the
 * bad one in the same read are yielded first.
 */
export async function* readCohereStream(
  body: AsyncIterable<Uint8Array>,
  options: CohereStreamOptions,
): AsyncGenerator<StreamEvent[], void, undefined> {
  const translator = new CohereStreamTranslator(options);
  let stop = false;
  try {
    for await (const events of readServerSentEvents(body)) {
      const batch: StreamEvent[] = [];
      for (const event of events) {
        if (event.data === '[DONE]') {
          stop = true;
          break;
        }
        try {
          batch.push(...translator.translate(event));
        } catch (error) {
          if (batch.length > 0) yield batchOf(batch);
          throw error;
        }
        if (translator.ended) {
          stop = true;
          break;
        }
      }
      if (batch.length > 0) yield batchOf(batch);
      // Whatever follows `message-end` (only `[DONE]`) carries nothing; the answer is complete.
      if (stop) break;
    }
  } catch (error) {
    if (options.signal.aborted) throw options.signal.reason ?? error;
    if (error instanceof NexusError) throw error;
    throw new NexusError('stream_interrupted', `${options.providerName} stream broke: ${describe(error)}`, {
      cause: error,
    });
  }
  if (!translator.ended) {
    throw new NexusError(
      'stream_interrupted',
      `${options.providerName} stream ended before the answer was complete.`,
    );
  }
}

/** The per-stream state: the chunk id, whether the role was sent, and Cohere tool-call index → OpenAI's. */
class CohereStreamTranslator {
  ended = false;
  readonly #options: CohereStreamOptions;
  #id = `chatcmpl-${randomUUID()}`;
  readonly #created = Math.floor(Date.now() / 1000);
  #started = false;
  readonly #toolIndexes = new Map<number, number>();
  /** OpenAI index of the call being streamed → whether any argument text arrived. */
  readonly #arguments = new Map<number, boolean>();
  #currentTool: number | undefined;

  constructor(options: CohereStreamOptions) {
    this.#options = options;
  }

  translate(message: EventSourceMessage): StreamEvent[] {
    const event = this.#parse(message);
    const out: StreamEvent[] = [];
    const emit = (delta: Delta, finish: FinishReason | null = null) => {
      if (!this.#started) {
        this.#started = true;
        out.push(this.#chunk({ role: 'assistant', content: '' }, null));
      }
      if (Object.keys(delta).length > 0 || finish !== null) out.push(this.#chunk(delta, finish));
    };
    const content = event.delta?.message?.content;
    const call = event.delta?.message?.tool_calls;
    switch (event.type) {
      case 'message-start':
        if (typeof event.id === 'string' && event.id !== '') this.#id = event.id;
        emit({});
        break;
      case 'content-start':
      case 'content-delta':
        // A reasoning model's `thinking` parts are not part of the answer's text.
        if (typeof content?.text === 'string' && content.text !== '') emit({ content: content.text });
        break;
      case 'tool-plan-delta': {
        const plan = event.delta?.message?.tool_plan;
        if (typeof plan === 'string' && plan !== '') emit({ content: plan });
        break;
      }
      case 'tool-call-start': {
        const index = this.#toolIndexes.size;
        this.#toolIndexes.set(event.index ?? index, index);
        this.#currentTool = index;
        const text = call?.function?.arguments ?? '';
        this.#arguments.set(index, text !== '');
        emit({
          tool_calls: [
            {
              index,
              id: call?.id ?? `call_${index}`,
              type: 'function',
              function: { name: call?.function?.name ?? '', arguments: text },
            },
          ],
        });
        break;
      }
      case 'tool-call-delta': {
        const index = this.#toolIndex(event);
        const text = call?.function?.arguments;
        if (typeof text === 'string' && text !== '') {
          this.#arguments.set(index, true);
          emit({ tool_calls: [{ index, function: { arguments: text } }] });
        }
        break;
      }
      case 'tool-call-end': {
        const index = this.#toolIndex(event);
        // A call without parameters streams no argument text; OpenAI clients expect JSON.
        if (this.#arguments.get(index) === false) {
          emit({ tool_calls: [{ index, function: { arguments: '{}' } }] });
        }
        this.#arguments.set(index, true);
        break;
      }
      case 'message-end':
        this.#end(event, emit, out);
        break;
      default:
        // content-end, citation-start/-end, debug, and events Cohere may add: nothing to forward.
        break;
    }
    return out;
  }

  #end(event: CohereStreamEvent, emit: (delta: Delta, finish?: FinishReason) => void, out: StreamEvent[]) {
    const { providerName, clientWantsUsage } = this.#options;
    const reason = event.delta?.finish_reason;
    const finish = mapFinishReason(reason);
    if (typeof event.delta?.error === 'string' && event.delta.error !== '') {
      throw failedGeneration(reason, providerName, redactSecrets(event.delta.error), true);
    }
    if (finish === 'failed') throw failedGeneration(reason, providerName, undefined, true);
    emit({}, finish);
    const usage: ChatCompletionChunk = {
      ...this.#head(),
      choices: [],
      usage: toUsage(event.delta?.usage),
    };
    out.push(
      clientWantsUsage ? { chunk: usage, raw: undefined } : { chunk: usage, raw: undefined, hidden: true },
    );
    this.ended = true;
  }

  #toolIndex(event: CohereStreamEvent): number {
    const mapped = event.index === undefined ? undefined : this.#toolIndexes.get(event.index);
    const index = mapped ?? this.#currentTool;
    if (index === undefined) {
      throw new NexusError(
        'stream_interrupted',
        `${this.#options.providerName} sent a tool-call event before any tool-call-start.`,
      );
    }
    return index;
  }

  #parse(message: EventSourceMessage): CohereStreamEvent {
    const { providerName } = this.#options;
    let parsed: unknown;
    try {
      parsed = JSON.parse(message.data);
    } catch {
      throw new NexusError('stream_interrupted', `${providerName} sent a malformed stream event.`);
    }
    if (parsed === null || typeof parsed !== 'object') {
      throw new NexusError('stream_interrupted', `${providerName} sent a malformed stream event.`);
    }
    const record = parsed as Record<string, unknown>;
    const type = typeof record.type === 'string' ? record.type : message.event;
    if (type === 'error' || message.event === 'error' || type === undefined) {
      const detail = typeof record.message === 'string' ? `: ${redactSecrets(record.message)}` : '';
      throw new NexusError(
        'stream_interrupted',
        type === undefined && detail === ''
          ? `${providerName} sent a stream event without a type.`
          : `${providerName} reported an error mid-stream${detail}`,
      );
    }
    return { ...(record as object), type } as CohereStreamEvent;
  }

  #head() {
    return {
      id: this.#id,
      object: 'chat.completion.chunk' as const,
      created: this.#created,
      model: this.#options.model,
    };
  }

  #chunk(delta: Delta, finish: FinishReason | null): StreamEvent {
    return {
      chunk: { ...this.#head(), choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] },
      raw: undefined,
    };
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : 'unknown error';
}
