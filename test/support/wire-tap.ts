/** One client's streamed request: the tap's view of the wire, and what the SDK made of it (`finished`). */
export interface StreamingCall<T> {
  /** Resolves once the SDK has parsed `count` events. */
  received(count: number): Promise<void>;
  /** Hangs up (aborts the request; the connection closes). */
  leave(): void;
  headers(): Headers | undefined;
  readonly finished: Promise<T>;
}

/**
 * What a test needs of one SDK's streamed request besides the SDK's own parse: the exact bytes on the wire,
 * the response headers, a way to hang up, and a wait for the SDK's n-th parsed event. Handed to the OpenAI or
 * Anthropic SDK as its `fetch` and `signal`; the caller counts the SDK's events with `event()`.
 */
export class WireTap {
  readonly #hangUp = new AbortController();
  #raw = '';
  #rawDone: Promise<void> = Promise.resolve();
  #headers: Headers | undefined;
  #events = 0;
  readonly #waiting: Array<{ count: number; resolve: () => void }> = [];

  /** For the SDK's `fetch` option: the SDK reads one branch of the body, the tap keeps the other. */
  readonly fetch = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const response = await fetch(url, init);
    this.#headers = response.headers;
    if (response.body === null) return response;
    const [forSdk, forTest] = response.body.tee();
    this.#rawDone = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const part of forTest) this.#raw += decoder.decode(part, { stream: true });
      } catch {
        // The client hung up: the bytes so far are all there is.
      }
    })();
    return new Response(forSdk, { status: response.status, headers: response.headers });
  };

  /** For the SDK's `signal` option: aborted by `leave()`. */
  get signal(): AbortSignal {
    return this.#hangUp.signal;
  }

  /** Hangs up (aborts the request; the connection closes). */
  leave(): void {
    this.#hangUp.abort();
  }

  /** Counts one event the SDK parsed. */
  event(): void {
    this.#events++;
    for (const waiter of this.#waiting.filter((entry) => entry.count <= this.#events)) waiter.resolve();
  }

  /** Resolves once the SDK has parsed `count` events. */
  received(count: number): Promise<void> {
    if (this.#events >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push({ count, resolve }));
  }

  headers(): Headers | undefined {
    return this.#headers;
  }

  /** The raw SSE text, once the body has ended (or the client hung up). */
  async raw(): Promise<string> {
    await this.#rawDone;
    return this.#raw;
  }

  /** This tap as one streamed call whose outcome is `finished`. */
  call<T>(finished: Promise<T>): StreamingCall<T> {
    return {
      received: (count) => this.received(count),
      leave: () => this.leave(),
      headers: () => this.headers(),
      finished,
    };
  }
}
