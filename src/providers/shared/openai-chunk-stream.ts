import type { CallSignal } from '../../core/call-signal.ts';
import { NexusError } from '../../core/errors.ts';
import type { ChatCompletionChunk, Usage } from '../../core/openai-types.ts';
import { markComplete, markUsage, type StreamBatch, type StreamEvent } from '../types.ts';
import { errorMessageOf } from './openai-error-message.ts';
import { type EventSourceMessage, readServerSentEvents } from './sse.ts';

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
 */
export async function* readChunkStream(
  body: AsyncIterable<Uint8Array>,
  options: ChunkStreamOptions,
): AsyncGenerator<StreamBatch, void, undefined> {
  const finished = new Map<number, boolean>();
  let done = false;
  try {
    for await (const events of readServerSentEvents(body)) {
      if (done) continue;
      const batch: StreamEvent[] = [];
      let usage: Usage | undefined;
      for (const event of events) {
        if (event.data === '[DONE]') {
          done = true;
          break;
        }
        let chunk: ChatCompletionChunk;
        try {
          chunk = parseChunk(event, options.providerName);
        } catch (error) {
          // Whatever arrived intact before the bad event still reaches the client, then the error does.
          if (batch.length > 0) yield usage === undefined ? batch : markUsage(batch, usage);
          throw error;
        }
        for (const choice of chunk.choices) {
          finished.set(choice.index, choice.finish_reason != null || finished.get(choice.index) === true);
        }
        if (chunk.usage != null) usage = chunk.usage;
        const hidden = chunk.choices.length === 0 && !options.clientWantsUsage;
        batch.push(hidden ? { chunk, raw: event.data, hidden } : { chunk, raw: event.data });
      }
      if (usage !== undefined) markUsage(batch, usage);
      if (done) yield markComplete(batch);
      else if (batch.length > 0) yield batch;
      // After [DONE], keep reading until the body ends on its own instead of returning: returning here would
      // destroy a body that has fully arrived but not yet emitted 'end', and undici builds an AbortError (with a
      // stack trace) for that on every stream. Anything sent after [DONE] is ignored, a broken connection too:
      // the answer is already whole.
    }
  } catch (error) {
    if (done) return;
    if (options.signal.aborted) throw options.signal.reason ?? error;
    if (error instanceof NexusError) throw error;
    throw new NexusError('stream_interrupted', `${options.providerName} stream broke: ${describe(error)}`, {
      cause: error,
    });
  }
  const complete = done || (finished.size > 0 && [...finished.values()].every(Boolean));
  if (!complete) {
    throw new NexusError(
      'stream_interrupted',
      `${options.providerName} stream ended before the answer was complete.`,
    );
  }
}

function parseChunk(event: EventSourceMessage, providerName: string): ChatCompletionChunk {
  let parsed: unknown;
  try {
    parsed = JSON.parse(event.data);
  } catch {
    throw new NexusError('stream_interrupted', `${providerName} sent a malformed stream event.`);
  }
  if (parsed === null || typeof parsed !== 'object') {
    throw new NexusError('stream_interrupted', `${providerName} sent a malformed stream event.`);
  }
  const record = parsed as Record<string, unknown>;
  if (record.error !== undefined || event.event === 'error') {
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
