import { type CallSignal, onAbort } from '../core/call-signal.ts';

/** Whether a caller of `Coalescer.run` made the call itself or waited for another caller's. */
export type CoalescedRole = 'leader' | 'follower';

export interface Coalesced<T> {
  readonly value: T;
  readonly role: CoalescedRole;
}

export interface CoalescerOptions<T> {
  /**
   * Keeps a key joinable after its leader resolved, until the returned promise settles: for a stream, the
   * leader resolves with a `StreamFanout` at commit, and requests arriving while it still streams should
   * subscribe to it rather than call upstream again (`(fanout) => fanout.done`). Default: the key is free
   * as soon as the leader settles.
   */
  readonly keepWhile?: ((value: T) => Promise<unknown>) | undefined;
  /**
   * Errors every identical request would get as well (an upstream 400 for this very body, say): followers
   * get the leader's error rather than trying again. Default: none, every failure is the leader's own.
   */
  readonly sharedFailure?: ((error: unknown) => boolean) | undefined;
  /** How many times a follower whose leader failed runs again before it gets that failure. Default 1. */
  readonly followerRetries?: number | undefined;
  /**
   * Failures that only say the leader's own caller went away (its client left before the answer was
   * shared): a follower runs again without counting it against `followerRetries`, since it says nothing of
   * the answer, and is never handed it. Each such failure ends one caller, so the runs again are bounded by
   * the callers waiting. Default: none.
   */
  readonly abandoned?: ((error: unknown) => boolean) | undefined;
}

interface Flight<T> {
  readonly promise: Promise<T>;
}

/**
 * Single flight (issue 15, item 5): identical concurrent requests (the same exact-cache key) make one
 * upstream call. The first caller of a key is its leader and runs its own `leader` function; callers that
 * arrive while it runs are followers and get the leader's value.
 *
 * When the leader fails, followers are NOT handed that failure: a failure is usually the leader's own (its
 * client left and aborted the call, its attempt hit a timeout or a bad instance), and one client's abort or
 * bad luck must not fail 99 others. Each follower instead runs again through the coalescer with its own
 * `leader` function: the followers of a failed flight coalesce among themselves (one of them leads, with its
 * own signal, so a failure does not turn into a herd of upstream calls). After `followerRetries` such runs
 * (default 1) a follower gets the failure of the flight it waited for, so a request that fails every time
 * costs at most two upstream calls per burst, not one per waiting client in sequence. Failures marked by
 * `sharedFailure` go to the followers at once; failures marked by `abandoned` (the leader's client left) are
 * never handed on and never counted.
 *
 * A follower with a `signal` stops waiting when it aborts (rejects with its reason); the flight goes on for
 * the others. Values are shared, not copied: treat them as read-only.
 */
export class Coalescer<T> {
  readonly #flights = new Map<string, Flight<T>>();
  readonly #keepWhile: ((value: T) => Promise<unknown>) | undefined;
  readonly #sharedFailure: (error: unknown) => boolean;
  readonly #followerRetries: number;
  readonly #abandoned: (error: unknown) => boolean;

  constructor(options: CoalescerOptions<T> = {}) {
    this.#keepWhile = options.keepWhile;
    this.#sharedFailure = options.sharedFailure ?? (() => false);
    this.#followerRetries = options.followerRetries ?? 1;
    this.#abandoned = options.abandoned ?? (() => false);
  }

  /** How many keys have a flight in progress (for tests and metrics). */
  get size(): number {
    return this.#flights.size;
  }

  /**
   * The value of `key`'s flight: led by this call (`leader` runs) when none is in progress, else followed.
   * @param options.signal stops a follower waiting (a leader's own call should watch the signal itself).
   */
  async run(
    key: string,
    leader: () => Promise<T>,
    options: { readonly signal?: CallSignal | undefined } = {},
  ): Promise<Coalesced<T>> {
    for (let retries = 0; ; ) {
      const flight = this.#flights.get(key);
      if (flight === undefined) return { value: await this.#lead(key, leader), role: 'leader' };
      try {
        return { value: await follow(flight.promise, options.signal), role: 'follower' };
      } catch (error) {
        if (options.signal?.aborted === true) throw error;
        if (this.#abandoned(error)) continue;
        if (retries >= this.#followerRetries || this.#sharedFailure(error)) throw error;
        retries++;
      }
    }
  }

  #lead(key: string, leader: () => Promise<T>): Promise<T> {
    const promise = (async () => leader())();
    const flight: Flight<T> = { promise };
    this.#flights.set(key, flight);
    const release = () => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    };
    promise.then((value) => {
      if (this.#keepWhile === undefined) release();
      else this.#keepWhile(value).then(release, release);
    }, release);
    return promise;
  }
}

/** The flight's outcome, or the signal's reason as soon as it aborts. */
function follow<T>(promise: Promise<T>, signal: CallSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const stop = onAbort(signal, () => reject(signal.reason));
    promise.then(
      (value) => {
        stop();
        resolve(value);
      },
      (error: unknown) => {
        stop();
        reject(error);
      },
    );
  });
}
