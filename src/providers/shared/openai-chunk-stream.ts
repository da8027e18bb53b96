import type { CallSignal } from '../../core/call-signal.ts';
import { NexusError } from '../../core/errors.ts';
import type { ChatCompletionChunk, Usage } from '../../core/openai-types.ts';
import { isSubstantialChunk, markComplete, markUsage, type StreamBatch, type StreamEvent } from '../types.ts';
import { ChunkTemplate } from './chunk-template.ts';
import { errorMessageOf } from './openai-error-message.ts';
import { type EventSourceMessage, SseDecoder } from './sse.ts';

export interface ChunkStreamOptions {
  readonly providerName: string;
  /** Whether the client asked for the final usage chunk; if not, it is marked `hidden` (read, not forwarded). */
  readonly clientWantsUsage: boolean;
  readonly signal: CallSignal;
}

/**
 * Reads an OpenAI-compatible chunk stream (shared by the OpenAI-compatible and Azure OpenAI adapters, whose
 * streams are the same wire format). Ends normally only on `data: [DONE]`, or at the end of the body
 * when every choice has already finished; anything else (a cut, a malformed event, an error event) throws
 * `stream_interrupted`, so a truncated answer can never be passed off as complete.
 *
 * Which chunks are parsed when: every chunk until the first real one (what commits the stream to the client),
 * every chunk that does not match the template of an earlier plain chunk (see ChunkTemplate: a finish, usage,
 * an error, another choice, anything malformed or new), and the event the body ended in without its blank line
 * (what a cut leaves behind). A chunk that matches is valid JSON by construction; it is forwarded as its raw
 * text, and its `chunk` parsed on first access, if a consumer needs it.
 */
export async function* readChunkStream(
  body: AsyncIterable<Uint8Array>,
  options: ChunkStreamOptions,
): AsyncGenerator<StreamBatch, void, undefined> {
  const reader = new ChunkReader(options);
  const decoder = new SseDecoder();
  try {
    for await (const piece of body) {
      // After [DONE], keep reading until the body ends on its own instead of returning: returning here would
      // destroy a body that has fully arrived but not yet emitted 'end', and undici builds an AbortError (with a
      // stack trace) for that on every stream. Anything sent after [DONE] is ignored, a broken connection too:
      // the answer is already whole.
      if (reader.done) continue;
      const events = decoder.push(piece);
      if (events.length === 0) continue;
      const batch = reader.read(events, false);
      // Whatever arrived intact before a bad event still reaches the client, then the error does.
      if (batch !== undefined) yield batch;
      if (reader.failure !== undefined) throw reader.failure;
    }
    if (!reader.done) {
      const batch = reader.read(decoder.end(), true);
      if (batch !== undefined) yield batch;
      if (reader.failure !== undefined) throw reader.failure;
    }
  } catch (error) {
    if (reader.done) return;
    if (options.signal.aborted) throw options.signal.reason ?? error;
    if (error instanceof NexusError) throw error;
    throw new NexusError('stream_interrupted', `${options.providerName} stream broke: ${describe(error)}`, {
      cause: error,
    });
  }
  if (!reader.done && !reader.everyChoiceFinished()) {
    throw new NexusError(
      'stream_interrupted',
      `${options.providerName} stream ended before the answer was complete.`,
    );
  }
}

/** Turns decoded SSE events into batches of chunk events, tracking what completeness needs. */
class ChunkReader {
  readonly #options: ChunkStreamOptions;
  /** Choice index → whether it has finished. */
  readonly #finished = new Map<number, boolean>();
  /** Whether a real event (see isSubstantialChunk) was seen: until then every chunk is parsed. */
  #substantial = false;
  /** Learned from the last plain chunk parsed; chunks that match it are not parsed. */
  #template: ChunkTemplate | undefined;
  /** How many more times a template may be learned: a stream whose chunks never repeat stops trying. */
  #learnings = 8;
  done = false;
  failure: NexusError | undefined;

  constructor(options: ChunkStreamOptions) {
    this.#options = options;
  }

  /**
   * The batch for one read's events (undefined when there is nothing to yield). `unterminated`: the events the
   * body ended in, which are always parsed. Sets `done` on `[DONE]`, and `failure` on a bad event, after which
   * the batch holds the events before it.
   */
  read(events: readonly EventSourceMessage[], unterminated: boolean): StreamBatch | undefined {
    const { providerName, clientWantsUsage } = this.#options;
    const batch: StreamEvent[] = [];
    let usage: Usage | undefined;
    for (const event of events) {
      const data = event.data;
      if (data === '[DONE]') {
        this.done = true;
        break;
      }
      if (
        this.#template !== undefined &&
        !unterminated &&
        event.event === undefined &&
        this.#template.matches(data)
      ) {
        // Only choice 0, unfinished: all that completeness needs to know of it.
        if (!this.#finished.has(0)) this.#finished.set(0, false);
        batch.push(new MatchedChunkEvent(data, providerName));
        continue;
      }
      let chunk: ChatCompletionChunk;
      try {
        chunk = parseChunk(data, event.event, providerName);
      } catch (error) {
        this.failure = error as NexusError;
        break;
      }
      for (const choice of chunk.choices) {
        this.#finished.set(
          choice.index,
          choice.finish_reason != null || this.#finished.get(choice.index) === true,
        );
      }
      if (chunk.usage != null) usage = chunk.usage;
      if (!this.#substantial) this.#substantial = isSubstantialChunk(chunk);
      if (this.#substantial && this.#learnings > 0) {
        const template = ChunkTemplate.learn(data, chunk);
        if (template !== undefined) {
          this.#template = template;
          this.#learnings--;
        }
      }
      const hidden = chunk.choices.length === 0 && !clientWantsUsage;
      batch.push(hidden ? { chunk, raw: data, hidden } : { chunk, raw: data });
    }
    if (usage !== undefined) markUsage(batch, usage);
    if (this.done) return markComplete(batch);
    return batch.length > 0 ? batch : undefined;
  }

  everyChoiceFinished(): boolean {
    if (this.#finished.size === 0) return false;
    for (const finished of this.#finished.values()) if (!finished) return false;
    return true;
  }
}

/**
 * A chunk whose raw text matched a template: forwarded as its text, parsed only if a consumer reads `chunk`
 * (the Anthropic translation, a stream that may resume elsewhere, Azure's annotation filter).
 */
class MatchedChunkEvent implements StreamEvent {
  readonly raw: string;
  readonly #providerName: string;
  #chunk: ChatCompletionChunk | undefined;

  constructor(raw: string, providerName: string) {
    this.raw = raw;
    this.#providerName = providerName;
  }

  get chunk(): ChatCompletionChunk {
    this.#chunk ??= parseChunk(this.raw, undefined, this.#providerName);
    return this.#chunk;
  }
}

function parseChunk(data: string, eventType: string | undefined, providerName: string): ChatCompletionChunk {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw new NexusError('stream_interrupted', `${providerName} sent a malformed stream event.`);
  }
  if (parsed === null || typeof parsed !== 'object') {
    throw new NexusError('stream_interrupted', `${providerName} sent a malformed stream event.`);
  }
  const record = parsed as Record<string, unknown>;
  if (record.error !== undefined || eventType === 'error') {
    throw new NexusError(
      'stream_interrupted',
      `${providerName} reported an error mid-stream: ${errorMessageOf(record)}`,
    );
  }
  if (!Array.isArray(record.choices)) {
    throw new NexusError('stream_interrupted', `${providerName} sent a stream event without choices.`);
  }
  return parsed as ChatCompletionChunk;
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : 'unknown error';
}
