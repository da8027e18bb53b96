import type { CallSignal } from '../../core/call-signal.ts';
import { NexusError } from '../../core/errors.ts';
import type { ChatCompletionChunk, FinishReason } from '../../core/openai-types.ts';
import { type EventSourceMessage, readServerSentEvents } from '../shared/sse.ts';
import { batchOf, type StreamEvent } from '../types.ts';
import { describeStatus } from './errors.ts';
import {
  answerParts,
  completionId,
  mapFinishReason,
  throwIfPromptBlocked,
  toToolCalls,
  toUsage,
} from './response.ts';
import type { GeminiResponse, GeminiUsageMetadata } from './wire.ts';

export interface GeminiStreamOptions {
  readonly providerName: string;
  /** The model asked for; replies name `modelVersion` instead when Gemini sends it. */
  readonly model: string;
  /** Whether the client asked for the final usage chunk; if not, it is marked `hidden`. */
  readonly clientWantsUsage: boolean;
  /** Candidates requested (`n`); the answer is complete once this many have finished. */
  readonly candidates: number;
  readonly signal: CallSignal;
}

/**
 * Reads `streamGenerateContent?alt=sse`, where every event is a whole GenerateContentResponse holding the
 * next parts, and yields OpenAI chunks: a role chunk, text deltas, one delta per function call (Gemini sends
 * each call whole), the finish chunk, then the usage chunk from the last usage seen. Gemini sends no
 * `[DONE]`: the answer is complete only when its candidates carried a finishReason, so a body that ends
 * before that, a malformed event or an error event throws `stream_interrupted`.
 */
export async function* readGeminiStream(
  body: AsyncIterable<Uint8Array>,
  options: GeminiStreamOptions,
): AsyncGenerator<StreamEvent[], void, undefined> {
  const state = new StreamState(options);
  try {
    for await (const events of readServerSentEvents(body)) {
      const batch: StreamEvent[] = [];
      for (const event of events) {
        // Anything after the finished answer is ignored; the body is still read to its end.
        if (state.done) break;
        try {
          batch.push(...state.convert(parseEvent(event, options.providerName)));
        } catch (error) {
          // Whatever arrived intact before the bad event still reaches the client, then the error does.
          if (batch.length > 0) yield batchOf(batch);
          throw error;
        }
      }
      if (batch.length > 0) yield batchOf(batch);
    }
  } catch (error) {
    if (options.signal.aborted) throw options.signal.reason ?? error;
    if (error instanceof NexusError) throw error;
    throw new NexusError('stream_interrupted', `${options.providerName} stream broke: ${describe(error)}`, {
      cause: error,
    });
  }
  if (state.done) return;
  const last = state.finishAtEnd();
  if (last === undefined) {
    throw new NexusError(
      'stream_interrupted',
      `${options.providerName} stream ended before the answer was complete.`,
    );
  }
  if (last.length > 0) yield batchOf(last);
}

type Delta = ChatCompletionChunk['choices'][number]['delta'];

class StreamState {
  done = false;
  #id: string | undefined;
  #model: string;
  readonly #created = Math.floor(Date.now() / 1000);
  /** Per candidate index: calls emitted so far, and whether it has finished. */
  readonly #calls = new Map<number, number>();
  readonly #finished = new Set<number>();
  #usage: GeminiUsageMetadata | undefined;
  readonly #options: GeminiStreamOptions;

  constructor(options: GeminiStreamOptions) {
    this.#options = options;
    this.#model = options.model;
  }

  convert(response: GeminiResponse): StreamEvent[] {
    throwIfPromptBlocked(response, this.#options.providerName);
    this.#id ??= completionId(response);
    if (response.modelVersion !== undefined) this.#model = response.modelVersion;
    if (response.usageMetadata !== undefined) this.#usage = response.usageMetadata;
    const events: StreamEvent[] = [];
    (response.candidates ?? []).forEach((candidate, position) => {
      const index = candidate.index ?? position;
      if (this.#finished.has(index)) return;
      if (!this.#calls.has(index)) {
        this.#calls.set(index, 0);
        events.push(this.#chunk(index, { role: 'assistant', content: '' }, null));
      }
      const parts = answerParts(candidate);
      const text = parts.map((part) => part.text ?? '').join('');
      if (text !== '') events.push(this.#chunk(index, { content: text }, null));
      const first = this.#calls.get(index) ?? 0;
      toToolCalls(parts, first).forEach((call, offset) => {
        events.push(this.#chunk(index, { tool_calls: [{ index: first + offset, ...call }] }, null));
      });
      const calls = first + parts.filter((part) => typeof part.functionCall?.name === 'string').length;
      this.#calls.set(index, calls);
      const finish = mapFinishReason(candidate.finishReason, calls > 0);
      if (finish !== undefined) {
        this.#finished.add(index);
        events.push(this.#chunk(index, {}, finish));
      }
    });
    if (this.#finished.size >= this.#options.candidates && this.#allFinished()) {
      this.done = true;
      events.push(...this.#usageChunk());
    }
    return events;
  }

  /** At the end of the body: complete if every candidate seen has finished (Gemini may return fewer than n). */
  finishAtEnd(): StreamEvent[] | undefined {
    if (!this.#allFinished()) return undefined;
    this.done = true;
    return this.#usageChunk();
  }

  #allFinished(): boolean {
    return this.#calls.size > 0 && [...this.#calls.keys()].every((index) => this.#finished.has(index));
  }

  #head() {
    return {
      id: this.#id ?? completionId({}),
      object: 'chat.completion.chunk' as const,
      created: this.#created,
      model: this.#model,
    };
  }

  #chunk(index: number, delta: Delta, finish: FinishReason | null): StreamEvent {
    return {
      chunk: { ...this.#head(), choices: [{ index, delta, finish_reason: finish, logprobs: null }] },
      raw: undefined,
    };
  }

  #usageChunk(): StreamEvent[] {
    if (this.#usage === undefined) return [];
    const chunk: ChatCompletionChunk = { ...this.#head(), choices: [], usage: toUsage(this.#usage) };
    return [
      this.#options.clientWantsUsage ? { chunk, raw: undefined } : { chunk, raw: undefined, hidden: true },
    ];
  }
}

function parseEvent(event: EventSourceMessage, providerName: string): GeminiResponse {
  let parsed: unknown;
  try {
    parsed = JSON.parse(event.data);
  } catch {
    throw new NexusError('stream_interrupted', `${providerName} sent a malformed stream event.`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new NexusError('stream_interrupted', `${providerName} sent a malformed stream event.`);
  }
  const error = (parsed as { error?: unknown }).error;
  if (error !== undefined || event.event === 'error') {
    const message = error !== null && typeof error === 'object' ? describeStatus(error) : '';
    throw new NexusError(
      'stream_interrupted',
      `${providerName} reported an error mid-stream${message === '' ? '.' : `: ${message}`}`,
    );
  }
  return parsed as GeminiResponse;
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : 'unknown error';
}
