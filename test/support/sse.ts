/**
 * Reads Server-Sent Events bodies in tests: bytes → `TextDecoderStream` → `EventSourceParserStream`, so
 * events split mid-line or mid-UTF-8 across network chunks parse exactly as a real client would.
 */
import { EventSourceParserStream } from 'eventsource-parser/stream';

export interface SseEvent {
  /** The `event:` field, `undefined` when absent (OpenAI chat streams never set it). */
  event: string | undefined;
  id: string | undefined;
  data: string;
}

/** A fetch `Response`, a web stream, or any async iterable of bytes (e.g. an undici `request` body). */
export type SseSource = Response | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string>;

export interface SseReadResult {
  /** Every event received before the stream ended or failed. */
  events: SseEvent[];
  /** The transport error that ended the stream, or `undefined` when it ended cleanly. */
  error: unknown;
}

function toByteStream(source: SseSource): ReadableStream<Uint8Array> {
  if (source instanceof Response) {
    if (!source.body) throw new Error('The response has no body to read events from.');
    return source.body;
  }
  if (source instanceof ReadableStream) return source;
  const iterator = source[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(typeof next.value === 'string' ? encoder.encode(next.value) : next.value);
    },
    async cancel(reason) {
      await iterator.return?.(reason);
    },
  });
}

/** Yields each event as it arrives; throws when the transport fails. */
export async function* iterateSse(source: SseSource): AsyncGenerator<SseEvent> {
  const messages = toByteStream(source)
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream());
  for await (const message of messages) {
    yield { event: message.event, id: message.id, data: message.data };
  }
}

/** Reads the whole stream; throws when the transport fails. */
export async function readSseEvents(source: SseSource): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for await (const event of iterateSse(source)) events.push(event);
  return events;
}

/** Reads the whole stream and never throws: a cut stream returns the events before the cut and the error. */
export async function readSse(source: SseSource): Promise<SseReadResult> {
  const events: SseEvent[] = [];
  try {
    for await (const event of iterateSse(source)) events.push(event);
    return { events, error: undefined };
  } catch (error) {
    return { events, error };
  }
}

/** True when the last event is OpenAI's `data: [DONE]` terminator. */
export function endsWithDone(events: SseEvent[]): boolean {
  return events.at(-1)?.data === '[DONE]';
}

/** Parses every event's data as JSON, skipping `[DONE]`; throws on the first event that is not JSON. */
export function sseJson<T = unknown>(events: SseEvent[]): T[] {
  return events.filter((event) => event.data !== '[DONE]').map((event) => JSON.parse(event.data) as T);
}
