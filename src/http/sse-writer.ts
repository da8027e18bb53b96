import type { ServerResponse } from 'node:http';
import { ClientClosedError, clientLeft } from '../core/call-signal.ts';
import { isNexusError, NexusError, toOpenAIErrorBody } from '../core/errors.ts';
import { clientNotified } from '../pipeline/dispatch-messages.ts';
import type { MessagesBatch } from '../pipeline/request.ts';
import { anthropicErrorEvent } from '../protocols/anthropic/errors.ts';
import type { StreamBatch } from '../providers/types.ts';
import type { Exchange } from './exchange.ts';

/**
 * No `connection` header: Node sends `keep-alive` or `close` as the client asked (and as shutdown decides); a
 * fixed `connection: keep-alive` overrode a client's `Connection: close` and held its socket open.
 */
export const sseHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;

/** How one protocol puts its batches on the wire. */
export interface SseFraming<B> {
  /** The wire text of one batch; '' when it has nothing for the client. */
  text(batch: B): string;
  /** Whether this batch completes the answer (the client's stream ends with it while the upstream drains). */
  completes(batch: B): boolean;
  /** Written after the last batch of a complete stream (OpenAI's `data: [DONE]`; nothing for Anthropic). */
  readonly end: string;
  /** The one event that ends a stream broken after its first byte. */
  errorEvent(error: NexusError, requestId: string): string;
}

/** OpenAI chat chunks: `data: <chunk>` per event (the upstream's own text when valid), `data: [DONE]` last. */
export const openAIFraming: SseFraming<StreamBatch> = {
  text(batch) {
    let text = '';
    for (const event of batch) {
      if (event.hidden !== true) text += `data: ${event.raw ?? JSON.stringify(event.chunk)}\n\n`;
    }
    return text;
  },
  completes: (batch) => batch.complete === true,
  end: 'data: [DONE]\n\n',
  errorEvent: (error) => `data: ${JSON.stringify(toOpenAIErrorBody(error))}\n\n`,
};

/** Anthropic events: `event: <name>` and its `data:` lines; the stream ends after `message_stop`. */
export const anthropicFraming: SseFraming<MessagesBatch> = {
  text(batch) {
    let text = '';
    for (const event of batch) {
      const name = event.event === undefined ? '' : `event: ${event.event}\n`;
      text += `${name}data: ${event.data.includes('\n') ? event.data.split('\n').join('\ndata: ') : event.data}\n\n`;
    }
    return text;
  },
  completes: () => false,
  end: '',
  errorEvent: (error, requestId) => anthropicErrorEvent(error, requestId),
};

/**
 * The one SSE writer, for both protocols: each upstream batch in one write, waiting for `drain` when the client
 * reads slower than the upstream sends (so memory stays bounded and backpressure reaches the upstream socket);
 * `onStart` runs just before the first byte (the response headers). A failure before the first byte
 * propagates, so the edge can still answer with a status; after it, the stream ends with the protocol's error
 * event and never with a clean end, and the code goes on the request's record. A client that left gets
 * nothing more: the writer stops reading at the next batch (`ClientClosedError`). Its stream's `return()` decides
 * what becomes of the upstream (cancelled, or read on for the requests that follow it: pipeline/cache.ts).
 */
export async function writeSse<B>(
  exchange: Exchange,
  stream: AsyncIterable<B>,
  framing: SseFraming<B>,
  onStart: () => void,
): Promise<void> {
  const { response } = exchange;
  let started = false;
  let ended = false;
  const start = () => {
    started = true;
    exchange.state.activeStreams++;
    onStart();
    response.writeHead(200, sseHeaders);
  };
  try {
    try {
      for await (const batch of stream) {
        if (ended) continue;
        // The upstream may outlive this client (requests follow its stream): never write to a closed socket.
        if (response.destroyed) throw new ClientClosedError('client closed the stream');
        const text = framing.text(batch);
        const completes = framing.completes(batch);
        if (text === '' && !completes) continue;
        if (!started) start();
        if (completes) {
          // The answer is whole: finish the client's stream now, in one write, while the upstream body drains.
          ended = true;
          response.end(text + framing.end);
        } else if (!response.write(text)) await drained(response);
      }
    } catch (error) {
      if (!started || error instanceof ClientClosedError || clientLeft(exchange.signal)) throw error;
      const failure = isNexusError(error)
        ? error
        : new NexusError('stream_interrupted', 'The stream broke after it started.', { cause: error });
      exchange.errorCode = failure.code;
      if (response.writableEnded || response.destroyed) return;
      response.end(clientNotified(error) ? undefined : framing.errorEvent(failure, exchange.id));
      return;
    }
    if (ended) return;
    if (response.destroyed) throw new ClientClosedError('client closed the stream');
    if (!started) start();
    response.end(framing.end);
  } finally {
    if (started) exchange.state.activeStreams--;
  }
}

/** Resolves on `drain`; rejects if the client closes first (or has closed: a write to it returns false). */
function drained(response: ServerResponse): Promise<void> {
  if (response.destroyed) return Promise.reject(new ClientClosedError('client closed the stream'));
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      response.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      response.off('drain', onDrain);
      reject(new ClientClosedError('client closed the stream'));
    };
    response.once('drain', onDrain);
    response.once('close', onClose);
  });
}
