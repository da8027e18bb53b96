import type { StreamFrames } from '../cache/cache-types.ts';
import { ChatStreamAccumulator } from '../cache/stream-accumulator.ts';
import { FanoutAbandonedError, type StreamFanout } from '../cache/stream-fanout.ts';
import type { ChatCompletion, ChatCompletionChunk } from '../core/openai-types.ts';
import { markComplete, markUsage, type StreamBatch, type StreamEvent } from '../providers/types.ts';
import type { ReplyStream } from './request.ts';

/**
 * The cache stage's streams (pipeline/cache.ts): a stored answer replayed, a leader's stream as a follower reads
 * it, and the recorder that shows each batch of a request's own stream to the cache and its followers.
 */

/** A stored stream replayed as its own chunks' text (parsed only if a consumer reads `chunk`). */
export function replayFrames(frames: StreamFrames, includeUsage: boolean): ReplyStream<StreamBatch> {
  const texts = includeUsage && frames.usage !== null ? [...frames.chunks, frames.usage] : frames.chunks;
  const events = texts.map((text) => new StoredChunk(text));
  return new ReplayedStream<StreamBatch>([markComplete(events)]);
}

/** A stored stream as one completion, for a JSON request; undefined if it does not add up to a whole answer. */
export function completionOf(frames: StreamFrames): ChatCompletion | undefined {
  const accumulator = new ChatStreamAccumulator();
  try {
    for (const text of frames.chunks) accumulator.add(JSON.parse(text) as ChatCompletionChunk);
    if (frames.usage !== null) accumulator.add(JSON.parse(frames.usage) as ChatCompletionChunk);
  } catch {
    return undefined;
  }
  return accumulator.result();
}

/** A stored chunk's text, parsed on first access to `chunk`. */
class StoredChunk implements StreamEvent {
  readonly raw: string;
  #chunk: ChatCompletionChunk | undefined;

  constructor(raw: string) {
    this.raw = raw;
  }

  get chunk(): ChatCompletionChunk {
    this.#chunk ??= JSON.parse(this.raw) as ChatCompletionChunk;
    return this.#chunk;
  }
}

/**
 * A leader's batch as a follower sees it: the usage chunk shown or hidden as the follower asked (the leader's
 * client may have asked otherwise). Only a batch that carried usage holds such a chunk.
 */
export function usageShownAs(batch: StreamBatch, wantsUsage: boolean): StreamBatch {
  if (batch.usage === undefined) return batch;
  const events = batch.map((event): StreamEvent => {
    if (!isUsageEvent(event)) return event;
    return wantsUsage
      ? { chunk: event.chunk, raw: event.raw }
      : { chunk: event.chunk, raw: event.raw, hidden: true };
  });
  const shown = markUsage(events, batch.usage);
  return batch.complete === true ? markComplete(shown) : shown;
}

/**
 * Whether an event is the usage chunk, without parsing a chunk that was forwarded as text: its text has an
 * empty `choices` array (a key: unescaped quotes occur in JSON text only around keys and string values).
 */
export function isUsageEvent(event: StreamEvent): boolean {
  if (event.hidden === true) return true;
  if (event.raw !== undefined) return emptyChoices.test(event.raw);
  return event.chunk.choices.length === 0 && event.chunk.usage != null;
}

const emptyChoices = /"choices"\s*:\s*\[\s*\]/;

/** A stream whose ends callbacks run once. */
abstract class EndingStream<B> implements ReplyStream<B>, AsyncIterator<B> {
  #ended = false;
  #onEnd: Array<() => void> = [];

  onEnd(callback: () => void): void {
    if (this.#ended) callback();
    else this.#onEnd.push(callback);
  }

  protected end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const callback of this.#onEnd) callback();
    this.#onEnd = [];
  }

  abstract next(): Promise<IteratorResult<B, undefined>>;

  async return(): Promise<IteratorResult<B, undefined>> {
    this.end();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): AsyncIterator<B> {
    return this;
  }
}

/** A cached answer's batches, replayed. */
export class ReplayedStream<B> extends EndingStream<B> {
  readonly #batches: B[];

  constructor(batches: B[]) {
    super();
    this.#batches = batches;
  }

  async next(): Promise<IteratorResult<B, undefined>> {
    const batch = this.#batches.shift();
    if (batch !== undefined) return { done: false, value: batch };
    this.end();
    return { done: true, value: undefined };
  }
}

/** A leader's stream as one follower reads it. */
export class FollowedStream<B> extends EndingStream<B> {
  readonly #source: AsyncIterator<B>;
  readonly #map: (batch: B) => B;

  constructor(source: AsyncIterator<B>, map: (batch: B) => B) {
    super();
    this.#source = source;
    this.#map = map;
  }

  async next(): Promise<IteratorResult<B, undefined>> {
    try {
      const next = await this.#source.next();
      if (next.done === true) {
        this.end();
        return { done: true, value: undefined };
      }
      return { done: false, value: this.#map(next.value) };
    } catch (error) {
      this.end();
      throw error;
    }
  }

  override async return(): Promise<IteratorResult<B, undefined>> {
    await this.#source.return?.();
    return super.return();
  }
}

/**
 * The request's own stream, passed through unchanged, with each batch shown to `observe` (and to the followers'
 * fanout); `onComplete` runs when it ended normally. A stream that breaks never completes, and its followers
 * get the same error. When its client stops reading (`return()`: it left) while followers still read, the
 * stream is read on to its end for them, and completes if it ends normally; the fanout's `upstreamSignal`
 * cancels the upstream call if they all leave first. With no follower left, it is cancelled at once and never
 * completes.
 */
export class RecordingStream<B> implements ReplyStream<B>, AsyncIterator<B> {
  readonly #source: ReplyStream<B>;
  readonly #iterator: AsyncIterator<B>;
  readonly #fanout: StreamFanout<B> | undefined;
  readonly #observe: (batch: B) => void;
  #complete: (() => void) | undefined;
  #broken = false;
  #finished = false;

  constructor(source: ReplyStream<B>, fanout: StreamFanout<B> | undefined, observe: (batch: B) => void) {
    this.#source = source;
    this.#iterator = source[Symbol.asyncIterator]();
    this.#fanout = fanout;
    this.#observe = observe;
  }

  onEnd(callback: () => void): void {
    this.#source.onEnd(callback);
  }

  onComplete(callback: () => void): void {
    this.#complete = callback;
  }

  async next(): Promise<IteratorResult<B, undefined>> {
    let next: IteratorResult<B, unknown>;
    try {
      next = await this.#iterator.next();
    } catch (error) {
      this.#broken = true;
      this.#finish(() => this.#fanout?.fail(error));
      throw error;
    }
    if (next.done === true) {
      this.#finish(() => {
        this.#fanout?.end();
        if (!this.#broken) this.#complete?.();
      });
      return { done: true, value: undefined };
    }
    const batch = next.value;
    try {
      this.#observe(batch);
    } catch {
      // An answer that cannot be read back whole is not stored; the client still gets every byte.
      this.#broken = true;
    }
    this.#fanout?.push(batch);
    return { done: false, value: batch };
  }

  async return(): Promise<IteratorResult<B, undefined>> {
    if (this.#fanout !== undefined && this.#fanout.subscribers > 0) {
      // Followers still read: feed them (and the cache) until the upstream ends. This request, its accounting
      // and its log line end with the upstream call, as they would have with its client still there.
      try {
        let next = await this.next();
        while (next.done !== true) next = await this.next();
      } catch {
        // The followers got the failure through the fanout; this request's client is gone.
      }
      return { done: true, value: undefined };
    }
    this.#broken = true;
    this.#finish(() => this.#fanout?.fail(new FanoutAbandonedError()));
    await this.#iterator.return?.();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): AsyncIterator<B> {
    return this;
  }

  #finish(action: () => void): void {
    if (this.#finished) return;
    this.#finished = true;
    action();
  }
}
