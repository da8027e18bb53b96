import { NexusError } from '../core/errors.ts';
import type { ChatCompletionChunk } from '../core/openai-types.ts';
import type { ChatStream, StreamEvent } from '../providers/types.ts';

/** Timeouts for one stream attempt, in milliseconds; 0 disables each. */
export interface StreamTimeouts {
  readonly firstTokenMs: number;
  readonly stallMs: number;
}

/** A stream whose first real event has arrived: safe to commit to the client. */
export interface OpenedStream {
  /** Batches read while waiting for the first real event (role-only chunks), to send first. */
  readonly head: readonly (readonly StreamEvent[])[];
  readonly iterator: AsyncIterator<readonly StreamEvent[], void>;
  /** Milliseconds from sending the request to the first real event. */
  readonly ttftMs: number;
}

/**
 * Opens a stream and waits for its first real event (content, a tool call, a finish or usage; a role-only
 * chunk does not count) within `firstTokenMs`. Until then nothing has reached the client, so any failure,
 * the first-token timeout included, can fail over invisibly. The timeout aborts `controller` with an
 * `upstream_timeout` error, which the adapter rethrows.
 */
export async function openUntilFirstToken(
  open: () => Promise<ChatStream>,
  controller: AbortController,
  timeouts: StreamTimeouts,
  providerName: string,
): Promise<OpenedStream> {
  const started = performance.now();
  const timer =
    timeouts.firstTokenMs > 0
      ? setTimeout(
          () =>
            controller.abort(
              new NexusError(
                'upstream_timeout',
                `${providerName} sent no first token within ${timeouts.firstTokenMs} ms.`,
              ),
            ),
          timeouts.firstTokenMs,
        )
      : undefined;
  try {
    const stream = await open();
    const iterator = stream[Symbol.asyncIterator]();
    const head: (readonly StreamEvent[])[] = [];
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) {
        // Ended before anything real: the adapter would have thrown on truncation, so this is an empty answer.
        return { head, iterator, ttftMs: performance.now() - started };
      }
      head.push(next.value);
      if (next.value.some(isSubstantial)) return { head, iterator, ttftMs: performance.now() - started };
    }
  } catch (error) {
    throw controller.signal.aborted && controller.signal.reason instanceof NexusError
      ? controller.signal.reason
      : error;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function isSubstantial(event: StreamEvent): boolean {
  const chunk: ChatCompletionChunk = event.chunk;
  if (chunk.usage != null) return true;
  return chunk.choices.some(
    (choice) =>
      choice.finish_reason != null ||
      (typeof choice.delta.content === 'string' && choice.delta.content !== '') ||
      (choice.delta.tool_calls?.length ?? 0) > 0 ||
      Object.keys(choice.delta).some(
        (key) => key !== 'role' && key !== 'content' && choice.delta[key] != null,
      ),
  );
}

/**
 * Reads the committed part of a stream: the head batches, then the rest under an inter-event stall timer. A
 * stall aborts `controller` with `stream_interrupted`, which surfaces from the adapter as the stream's error.
 * A plain reader rather than another generator layer: one promise per batch instead of several.
 */
export class StallGuardedReader {
  readonly #head: (readonly StreamEvent[])[];
  readonly #iterator: AsyncIterator<readonly StreamEvent[], void>;
  readonly #controller: AbortController;
  readonly #timer: NodeJS.Timeout | undefined;
  #waiting = false;
  #finished = false;

  constructor(opened: OpenedStream, controller: AbortController, stallMs: number, providerName: string) {
    this.#head = [...opened.head];
    this.#iterator = opened.iterator;
    this.#controller = controller;
    // One timer for the whole stream, re-armed before each wait. It counts only time spent waiting on the
    // upstream: if it fires while the client is slow to read (backpressure), it simply re-arms.
    this.#timer =
      stallMs > 0
        ? setTimeout(() => {
            if (this.#waiting) {
              controller.abort(
                new NexusError(
                  'stream_interrupted',
                  `${providerName} stream stalled for more than ${stallMs} ms.`,
                ),
              );
            } else this.#timer?.refresh();
          }, stallMs)
        : undefined;
  }

  /** The next batch, or undefined when the stream has completed. */
  async next(): Promise<readonly StreamEvent[] | undefined> {
    const buffered = this.#head.shift();
    if (buffered !== undefined) return buffered;
    this.#waiting = true;
    this.#timer?.refresh();
    try {
      const next = await this.#iterator.next();
      if (next.done === true) {
        this.#finished = true;
        return undefined;
      }
      return next.value;
    } catch (error) {
      const reason = this.#controller.signal.reason;
      throw this.#controller.signal.aborted && reason instanceof NexusError ? reason : error;
    } finally {
      this.#waiting = false;
    }
  }

  /** Stops the timer; a stream stopped early (the client left) lets the adapter release its upstream body. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (!this.#finished) {
      this.#finished = true;
      await this.#iterator.return?.();
    }
  }
}
