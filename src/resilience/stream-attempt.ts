import type { AttemptAbort } from '../core/call-signal.ts';
import { NexusError } from '../core/errors.ts';
import { isSubstantialChunk, type StreamBatch, type StreamEvent } from '../providers/types.ts';

/** Timeouts for one stream attempt, in milliseconds; 0 disables each. */
export interface StreamTimeouts {
  readonly firstTokenMs: number;
  readonly stallMs: number;
}

/** A stream whose first real event has arrived: safe to commit to the client. */
export interface OpenedStream<B> {
  /**
   * Batches read while waiting for the first real event, to send first. The committed stream takes them out as
   * it delivers them, so a whole answer that arrived in the first read is not held for the rest of the request.
   */
  readonly head: B[];
  readonly iterator: AsyncIterator<B, void>;
  /** Milliseconds from sending the request to the first real event. */
  readonly ttftMs: number;
}

/**
 * Opens a stream and waits for its first real event (`isReal`: content, a tool call, a finish or usage; a
 * role-only chunk or Anthropic's `message_start` does not count) within `firstTokenMs`. Until then nothing has
 * reached the client, so any failure, the first-token timeout included, can fail over invisibly. The timeout
 * aborts `controller` with an `upstream_timeout` error, which the adapter rethrows. Generic over the batch
 * type, so OpenAI chunk streams and Anthropic event streams (`/v1/messages`) commit by the same rule.
 */
export async function openUntilFirstToken<B>(
  open: () => Promise<AsyncIterable<B>>,
  controller: AttemptAbort,
  timeouts: StreamTimeouts,
  providerName: string,
  isReal: (batch: B) => boolean,
): Promise<OpenedStream<B>> {
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
    const head: B[] = [];
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) {
        // Ended before anything real: the adapter would have thrown on truncation, so this is an empty answer.
        return { head, iterator, ttftMs: performance.now() - started };
      }
      head.push(next.value);
      if (isReal(next.value)) return { head, iterator, ttftMs: performance.now() - started };
    }
  } catch (error) {
    throw abortReasonOr(controller, error);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * What an attempt's failure really was: the adapter rethrows whatever aborted it, and when the attempt was
 * aborted on purpose (a first-token or stall timeout) the abort's own reason is the truth.
 */
export function abortReasonOr(controller: AttemptAbort, error: unknown): unknown {
  return controller.aborted && controller.reason instanceof NexusError ? controller.reason : error;
}

/** An OpenAI chunk batch is real once any of its events is (see `isSubstantial`). */
export function chatBatchIsReal(batch: StreamBatch): boolean {
  return batch.some(isSubstantial);
}

function isSubstantial(event: StreamEvent): boolean {
  return isSubstantialChunk(event.chunk);
}
