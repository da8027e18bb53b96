import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export type { EventSourceMessage };

/** Longest single SSE event accepted from an upstream, in characters; a larger one is a protocol fault. */
const maxEventSize = 8 * 1024 * 1024;

/** The upstream broke the SSE framing itself (not just sent a bad JSON payload). */
export class SseProtocolError extends Error {
  override readonly name = 'SseProtocolError';
}

/**
 * Decodes an upstream SSE body into events, one array per upstream read so that the caller can forward a
 * burst in one write while never holding back an event that has fully arrived. UTF-8 sequences and lines
 * split across reads are reassembled (StringDecoder + eventsource-parser), so no event is torn.
 */
export async function* readServerSentEvents(
  body: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<EventSourceMessage[], void, undefined> {
  const decoder = new StringDecoder('utf8');
  let pending: EventSourceMessage[] = [];
  let failure: Error | undefined;
  const parser = createParser({
    onEvent: (event) => {
      pending.push(event);
    },
    onError: (error) => {
      if (error.type === 'max-buffer-size-exceeded') failure = error;
    },
    maxBufferSize: maxEventSize,
  });
  for await (const piece of body) {
    parser.feed(typeof piece === 'string' ? piece : decoder.write(piece as Buffer));
    if (failure !== undefined) throw new SseProtocolError(`event larger than ${maxEventSize} characters`);
    if (pending.length > 0) {
      const ready = pending;
      pending = [];
      yield ready;
    }
  }
  const rest = decoder.end();
  if (rest !== '') parser.feed(rest);
  // A final event without its blank line still counts: some servers end the body right after `data: ...\n`.
  parser.feed('\n\n');

  if (pending.length > 0) yield pending;
}
