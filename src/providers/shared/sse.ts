import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';

export type { EventSourceMessage };

/** Longest single SSE event accepted from an upstream, in characters; a larger one is a protocol fault. */
const maxEventSize = 8 * 1024 * 1024;

const none: readonly EventSourceMessage[] = Object.freeze([]);

/** The upstream broke the SSE framing itself (not just sent a bad JSON payload). */
export class SseProtocolError extends Error {
  override readonly name = 'SseProtocolError';
}

/**
 * Decodes an upstream SSE body into events, synchronously, one call per upstream read, so that a reader can
 * sit directly on the body without another async layer. UTF-8 sequences and lines split across reads are
 * reassembled (StringDecoder + eventsource-parser, which already takes the common one-line `data:` event in
 * one step), so no event is torn.
 */
export class SseDecoder {
  readonly #decoder = new StringDecoder('utf8');
  readonly #parser: EventSourceParser;
  #pending: EventSourceMessage[] = [];
  #failure: Error | undefined;

  constructor() {
    this.#parser = createParser({
      onEvent: (event) => {
        this.#pending.push(event);
      },
      onError: (error) => {
        if (error.type === 'max-buffer-size-exceeded') this.#failure = error;
      },
      maxBufferSize: maxEventSize,
    });
  }

  /** The events that this read completed (often none, or several); throws SseProtocolError on a framing fault. */
  push(piece: Uint8Array | string): readonly EventSourceMessage[] {
    this.#parser.feed(typeof piece === 'string' ? piece : this.#decoder.write(piece as Buffer));
    if (this.#failure !== undefined)
      throw new SseProtocolError(`event larger than ${maxEventSize} characters`);
    return this.#take();
  }

  /**
   * At the end of the body: the final event whose blank line never came, if any. Some servers end the body
   * right after `data: ...\n`, so it still counts, but it is also exactly what a cut connection leaves behind:
   * a reader must not trust it without checking it whole.
   */
  end(): readonly EventSourceMessage[] {
    const rest = this.#decoder.end();
    if (rest !== '') this.#parser.feed(rest);
    this.#parser.feed('\n\n');
    return this.#take();
  }

  #take(): readonly EventSourceMessage[] {
    if (this.#pending.length === 0) return none;
    const ready = this.#pending;
    this.#pending = [];
    return ready;
  }
}

/**
 * Decodes an upstream SSE body into events, one array per upstream read so that the caller can forward a
 * burst in one write while never holding back an event that has fully arrived; the last array may hold the
 * event the body ended in without its blank line (see SseDecoder.end).
 */
export async function* readServerSentEvents(
  body: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<readonly EventSourceMessage[], void, undefined> {
  const decoder = new SseDecoder();
  for await (const piece of body) {
    const events = decoder.push(piece);
    if (events.length > 0) yield events;
  }
  const rest = decoder.end();
  if (rest.length > 0) yield rest;
}
