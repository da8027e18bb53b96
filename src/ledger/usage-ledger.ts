/**
 * The usage ledger's writer: records are buffered in memory and written in batches, off the request path, so a
 * request never waits on the database and the database sees one multi-row insert per batch instead of one
 * write per request. Nothing is dropped while the database is away: a failed batch stays in the buffer and is
 * retried with a growing delay (capped), and `close()` writes everything left before shutdown completes. The
 * sink must be idempotent per record key (the store inserts with ON CONFLICT DO NOTHING on
 * request id + attempt), so a batch retried after an ambiguous failure is never counted twice.
 */
export interface LedgerSink<R> {
  write(records: readonly R[]): Promise<void>;
}

export interface LedgerOptions {
  /** Records per insert. */
  readonly batchSize: number;
  /** Longest a record waits in the buffer before a flush, in milliseconds. */
  readonly flushIntervalMs: number;
  /** Longest delay between retries of a failing write, in milliseconds. */
  readonly maxRetryDelayMs: number;
  /** Told once per failing flush (the buffer is kept); the gateway logs it and counts it. */
  readonly onError?: (error: unknown, buffered: number) => void;
}

export const ledgerDefaults: LedgerOptions = { batchSize: 500, flushIntervalMs: 200, maxRetryDelayMs: 5_000 };

export class UsageLedger<R> {
  readonly #sink: LedgerSink<R>;
  readonly #options: LedgerOptions;
  #buffer: R[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #retryDelayMs = 0;
  #closed = false;

  constructor(sink: LedgerSink<R>, options: Partial<LedgerOptions> = {}) {
    this.#sink = sink;
    this.#options = { ...ledgerDefaults, ...options };
  }

  /** Records still waiting to be written. */
  get pending(): number {
    return this.#buffer.length;
  }

  /** Buffers records; a full batch is written at once, anything else within `flushIntervalMs`. */
  append(records: readonly R[]): void {
    if (records.length === 0) return;
    for (const record of records) this.#buffer.push(record);
    if (this.#buffer.length >= this.#options.batchSize) this.#schedule(0);
    else this.#schedule(this.#options.flushIntervalMs);
  }

  /** Writes everything buffered now; resolves when the buffer is empty or a write failed (kept for retry). */
  async flush(): Promise<void> {
    if (this.#flushing !== undefined) {
      await this.#flushing;
      if (this.#buffer.length === 0) return;
    }
    this.#flushing = this.#drain();
    try {
      await this.#flushing;
    } finally {
      this.#flushing = undefined;
    }
  }

  /**
   * Stops the timer and writes what is left, retrying a failing sink until `deadlineMs` passes; resolves with
   * the number of records that could not be written by then (0 on a clean shutdown).
   */
  async close(deadlineMs: number): Promise<number> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      await this.flush();
      if (this.#buffer.length === 0 || Date.now() >= deadline) return this.#buffer.length;
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(this.#retryDelayMs || 50, Math.max(0, deadline - Date.now()))),
      );
    }
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) {
      if (delayMs > 0) return;
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, delayMs);
    this.#timer.unref();
  }

  async #drain(): Promise<void> {
    while (this.#buffer.length > 0) {
      const batch = this.#buffer.slice(0, this.#options.batchSize);
      try {
        await this.#sink.write(batch);
      } catch (error) {
        this.#retryDelayMs = Math.min(this.#options.maxRetryDelayMs, Math.max(100, this.#retryDelayMs * 2));
        this.#options.onError?.(error, this.#buffer.length);
        this.#schedule(this.#retryDelayMs);
        return;
      }
      this.#retryDelayMs = 0;
      this.#buffer.splice(0, batch.length);
    }
  }
}
