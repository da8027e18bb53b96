import { AttemptAbort, type CallSignal, clientLeft, onAbort } from '../core/call-signal.ts';

/** A follower fell more than `maxLagChunks` behind the leader and was cut off. */
export class FanoutOverrunError extends Error {
  constructor(maxLagChunks: number) {
    super(`The follower fell more than ${maxLagChunks} chunks behind the stream it followed.`);
    this.name = 'FanoutOverrunError';
  }
}

/** The leader stopped reading its stream before the end with no follower left reading it. */
export class FanoutAbandonedError extends Error {
  constructor() {
    super('The stream being followed was abandoned before its end.');
    this.name = 'FanoutAbandonedError';
  }
}

export interface StreamFanoutOptions {
  /**
   * How far (in chunks) a follower may fall behind the newest chunk before it is cut off with
   * `FanoutOverrunError`. Default 4096. The leader never waits for a follower.
   */
  readonly maxLagChunks?: number | undefined;
  /**
   * How many chunks are kept for followers that join late. Past it, no new follower can join (it could no
   * longer get the stream from its start: `subscribe` returns undefined) and chunks every follower has read
   * are dropped. Default 16384.
   */
  readonly maxReplayChunks?: number | undefined;
}

interface Subscriber {
  /** Absolute index of the next chunk this subscriber reads. */
  cursor: number;
  /** Why this subscriber was cut off (overrun, or its signal's reason); thrown at its next read. */
  cut: { readonly error: unknown } | undefined;
}

type State =
  | { readonly kind: 'open' }
  | { readonly kind: 'ended' }
  | { readonly kind: 'failed'; error: unknown };

/**
 * One stream, many readers (issue 15, item 5): the leader's chunks are appended once; every follower reads
 * them all, from the start and in order, then the end or the leader's error. Followers share one history
 * (a cursor each, no copies). A follower slower than the leader is never waited for: past `maxLagChunks` it
 * is cut off, so one slow client costs bounded memory and never slows the leader or the others. A follower
 * that stops reading (`return()` on its iterator, or its signal aborting) unsubscribes at once.
 *
 * A follower is a client like any other: the leader's upstream call runs under `upstreamSignal`, which outlives
 * the leader's own client while followers read, and aborts once the last of them has left.
 *
 * Generic over the chunk type (OpenAI chunks, Anthropic events, SSE batches). The leader feeds it with
 * `push` / `end` / `fail` as it reads (pipeline/cache-streams.ts `RecordingStream`).
 */
export class StreamFanout<T> {
  readonly #maxLag: number;
  readonly #maxReplay: number;
  readonly #history: T[] = [];
  /** Absolute index of `#history[0]`: how many chunks were dropped. */
  #base = 0;
  /**
   * Set once the stream outgrew `maxReplayChunks` (its start may be dropped) or its upstream call was
   * abandoned: nobody new can join.
   */
  #closedToJoin = false;
  #state: State = { kind: 'open' };
  readonly #subscribers = new Set<Subscriber>();
  /** What the leader's upstream call runs under (`upstreamSignal`), once asked for. */
  #upstream: AttemptAbort | undefined;
  /** The leader's client left while followers read: its reason, to abort the upstream once they are gone. */
  #orphaned: { readonly reason: unknown } | undefined;
  #stopWatchingLeader: (() => void) | undefined;
  #wake: { promise: Promise<void>; resolve: () => void } | undefined;
  readonly #done: Promise<void>;
  #settle!: () => void;

  constructor(options: StreamFanoutOptions = {}) {
    this.#maxLag = options.maxLagChunks ?? 4096;
    this.#maxReplay = options.maxReplayChunks ?? 16_384;
    this.#done = new Promise((resolve) => {
      this.#settle = resolve;
    });
  }

  /** Resolves once the stream ended or failed (never rejects): a coalescer's `keepWhile`. */
  get done(): Promise<void> {
    return this.#done;
  }

  /** How many chunks are held for followers (bounded by `maxReplayChunks` and about twice `maxLagChunks`). */
  get bufferedChunks(): number {
    return this.#history.length;
  }

  /** How many followers are reading. */
  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** Appends a chunk for every follower. Never waits; cuts off followers that fell too far behind. */
  push(chunk: T): void {
    if (this.#state.kind !== 'open') throw new Error('push after the stream ended');
    this.#history.push(chunk);
    const head = this.#base + this.#history.length;
    let cut = false;
    for (const subscriber of this.#subscribers) {
      if (head - subscriber.cursor > this.#maxLag) {
        subscriber.cut = { error: new FanoutOverrunError(this.#maxLag) };
        this.#subscribers.delete(subscriber);
        cut = true;
      }
    }
    if (cut) this.#readerLeft();
    if (this.#history.length > this.#maxReplay) {
      this.#closedToJoin = true;
      this.#trim();
    }
    this.#notify();
  }

  /** The stream ended normally: followers finish after the last chunk. */
  end(): void {
    this.#finish({ kind: 'ended' });
  }

  /** The stream failed: followers get `error` after the chunks that came before it. */
  fail(error: unknown): void {
    this.#finish({ kind: 'failed', error });
  }

  /**
   * The signal the leader's upstream call should run under, given the leader's own request signal. It aborts
   * with that signal on a deadline or a timeout; when the leader's client leaves, at once only if no follower
   * is reading, else once the last of them has left (the leader keeps reading the upstream for them). Once it
   * has aborted, nobody new can join. Asked for once, before the upstream call starts.
   */
  upstreamSignal(leader: CallSignal): CallSignal {
    const upstream = new AttemptAbort();
    this.#upstream = upstream;
    if (leader.aborted) this.#abandon(leader.reason);
    else {
      this.#stopWatchingLeader = onAbort(leader, () => {
        if (clientLeft(leader) && this.#subscribers.size > 0) this.#orphaned = { reason: leader.reason };
        else this.#abandon(leader.reason);
      });
    }
    return upstream;
  }

  /**
   * A reader of the whole stream from its first chunk, or undefined when the start is no longer kept (past
   * `maxReplayChunks`) or the upstream call was abandoned: the caller then makes its own upstream call.
   * `signal` unsubscribes when it aborts.
   */
  subscribe(signal?: CallSignal): AsyncIterableIterator<T> | undefined {
    if (this.#closedToJoin) return undefined;
    const subscriber: Subscriber = { cursor: 0, cut: undefined };
    this.#subscribers.add(subscriber);
    const leave = () => {
      stopWatching?.();
      if (this.#subscribers.delete(subscriber)) this.#readerLeft();
    };
    const stopWatching =
      signal === undefined
        ? undefined
        : onAbort(signal, () => {
            subscriber.cut = { error: signal.reason };
            leave();
            this.#notify();
          });
    if (signal?.aborted === true) subscriber.cut = { error: signal.reason };
    const next = async (): Promise<IteratorResult<T, undefined>> => {
      for (;;) {
        if (subscriber.cut !== undefined) {
          leave();
          throw subscriber.cut.error;
        }
        const offset = subscriber.cursor - this.#base;
        if (offset < this.#history.length) {
          subscriber.cursor++;
          return { value: this.#history[offset] as T, done: false };
        }
        if (this.#state.kind === 'ended') {
          leave();
          return { value: undefined, done: true };
        }
        if (this.#state.kind === 'failed') {
          leave();
          throw this.#state.error;
        }
        await this.#wait();
      }
    };
    const iterator: AsyncIterableIterator<T> = {
      next,
      return: async () => {
        leave();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  #finish(state: State): void {
    if (this.#state.kind !== 'open') return;
    this.#state = state;
    this.#stopWatchingLeader?.();
    this.#notify();
    this.#settle();
  }

  /** A follower left: the upstream goes on for the others, or, with the leader's client gone, stops. */
  #readerLeft(): void {
    const orphaned = this.#orphaned;
    if (orphaned !== undefined && this.#subscribers.size === 0 && this.#state.kind === 'open') {
      this.#abandon(orphaned.reason);
    }
  }

  /** Nobody reads the stream any more: its upstream call is cancelled, and no one new may join it. */
  #abandon(reason: unknown): void {
    this.#closedToJoin = true;
    this.#upstream?.abort(reason);
  }

  #wait(): Promise<void> {
    if (this.#wake === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => {
        resolve = done;
      });
      this.#wake = { promise, resolve };
    }
    return this.#wake.promise;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.resolve();
  }

  /** Drops chunks every follower has read; only once the start is no longer kept for late joiners. */
  #trim(): void {
    let lowest = this.#base + this.#history.length;
    for (const subscriber of this.#subscribers) lowest = Math.min(lowest, subscriber.cursor);
    const drop = lowest - this.#base;
    // Amortised: splice only once at least half the kept history can go.
    if (drop <= 0 || drop * 2 < this.#history.length) return;
    this.#history.splice(0, drop);
    this.#base += drop;
  }
}
