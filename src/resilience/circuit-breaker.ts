/**
 * One circuit breaker per deployment (one key serving one model, `UpstreamTarget.deployment`): CLOSED → OPEN after `failureThreshold` consecutive failures →
 * HALF_OPEN once `resetTimeoutMs` has passed → up to `halfOpenProbes` probe requests; a probe's success
 * closes the circuit, its failure reopens it. The hot path (`allow` on a CLOSED circuit) touches only local
 * memory. With a shared store (Redis), failures are counted and transitions published across replicas, and a
 * half-open probe is claimed by one replica at a time.
 */
export type CircuitState = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

export interface BreakerOptions {
  /** Consecutive counted failures that open the circuit. */
  readonly failureThreshold: number;
  /** How long an open circuit refuses traffic before probing, in milliseconds. */
  readonly resetTimeoutMs: number;
  /** Concurrent probe requests allowed while half-open. */
  readonly halfOpenProbes: number;
}

export const breakerDefaults: BreakerOptions = {
  failureThreshold: 3,
  resetTimeoutMs: 60_000,
  halfOpenProbes: 1,
};

export interface BreakerSnapshot {
  readonly state: CircuitState;
  readonly consecutiveFailures: number;
  /** Epoch milliseconds when the circuit last opened; 0 when it never did. */
  readonly openedAt: number;
}

/** Where breakers of several replicas meet. Implementations: src/store/redis/breaker-store.ts. */
export interface SharedBreakerStore {
  /** Adds one failure; resolves with the shared consecutive count. */
  recordFailure(instanceId: string): Promise<number>;
  /** Resets the shared count (a success). */
  recordSuccess(instanceId: string): Promise<void>;
  /** Stores and broadcasts a state change. */
  publish(instanceId: string, snapshot: BreakerSnapshot): Promise<void>;
  /** Claims the right to send a half-open probe for `ttlMs`; false when another replica holds it. */
  claimProbe(instanceId: string, ttlMs: number): Promise<boolean>;
  /** Gives a claimed probe back once it has its verdict, so the next probe need not wait for the claim to expire. */
  releaseProbe(instanceId: string): Promise<void>;
  /** Every shared state, read once at boot. */
  load(): Promise<Map<string, BreakerSnapshot>>;
  /** Calls `listener` whenever any replica publishes a change. */
  subscribe(listener: (instanceId: string, snapshot: BreakerSnapshot) => void): Promise<void>;
  close(): Promise<void>;
}

interface Entry {
  state: CircuitState;
  failures: number;
  openedAt: number;
  probes: number;
}

export class CircuitBreakers {
  readonly #entries = new Map<string, Entry>();
  readonly #options: BreakerOptions;
  readonly #store: SharedBreakerStore | undefined;
  readonly #now: () => number;
  /** Called with store errors: a Redis outage degrades to local breakers, it never fails requests. */
  readonly #onStoreError: (error: unknown) => void;

  constructor(
    options: {
      breaker?: Partial<BreakerOptions>;
      store?: SharedBreakerStore | undefined;
      now?: () => number;
      onStoreError?: (error: unknown) => void;
    } = {},
  ) {
    this.#options = { ...breakerDefaults, ...options.breaker };
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
    this.#onStoreError = options.onStoreError ?? (() => {});
  }

  /** Loads shared state and follows other replicas' changes. */
  async attach(): Promise<void> {
    if (this.#store === undefined) return;
    await this.#store.subscribe((instanceId, snapshot) => this.#apply(instanceId, snapshot));
    for (const [instanceId, snapshot] of await this.#store.load()) this.#apply(instanceId, snapshot);
  }

  /** Every circuit that has ever left CLOSED or counted a failure, for `/health`. */
  *known(): IterableIterator<[string, BreakerSnapshot]> {
    for (const id of this.#entries.keys()) yield [id, this.snapshot(id)];
  }

  #entry(instanceId: string): Entry {
    let entry = this.#entries.get(instanceId);
    if (entry === undefined) {
      entry = { state: 'CLOSED', failures: 0, openedAt: 0, probes: 0 };
      this.#entries.set(instanceId, entry);
    }
    return entry;
  }

  #apply(instanceId: string, snapshot: BreakerSnapshot) {
    const entry = this.#entry(instanceId);
    entry.state = snapshot.state;
    entry.failures = snapshot.consecutiveFailures;
    entry.openedAt = snapshot.openedAt;
    if (snapshot.state !== 'HALF_OPEN') entry.probes = 0;
  }

  /** The state as routing sees it now (an OPEN circuit past its reset timeout reads as HALF_OPEN). */
  snapshot(instanceId: string): BreakerSnapshot {
    const entry = this.#entry(instanceId);
    const state =
      entry.state === 'OPEN' && this.#now() - entry.openedAt >= this.#options.resetTimeoutMs
        ? 'HALF_OPEN'
        : entry.state;
    return { state, consecutiveFailures: entry.failures, openedAt: entry.openedAt };
  }

  /** Whether routing may skip straight past this instance without asking (`allow` would refuse). */
  isOpen(instanceId: string): boolean {
    return this.snapshot(instanceId).state === 'OPEN';
  }

  /** True when the circuit is CLOSED: the hot path's synchronous answer, no promise needed. */
  isClosed(instanceId: string): boolean {
    const entry = this.#entries.get(instanceId);
    return entry === undefined || entry.state === 'CLOSED';
  }

  /**
   * Asks to send a request. CLOSED: yes. OPEN: no. HALF_OPEN: yes for at most `halfOpenProbes` at a time
   * (and, with a shared store, only on the replica that claimed the probe). A granted probe must end with
   * `success`, `failure` or `release`.
   *
   * `lastResort`: the request has no other route left (every target it could use is open). Then an OPEN
   * circuit is probed before its reset timeout, still one probe at a time, rather than refusing the request
   * for the whole reset period (Envoy's panic threshold is the precedent): a single-key deployment recovers on
   * its first good answer instead of answering 503 for a minute.
   */
  async allow(instanceId: string, options: { lastResort?: boolean } = {}): Promise<boolean> {
    const entry = this.#entry(instanceId);
    if (entry.state === 'CLOSED') return true;
    if (this.snapshot(instanceId).state === 'OPEN' && options.lastResort !== true) return false;
    if (entry.probes >= this.#options.halfOpenProbes) return false;
    entry.probes++;
    if (entry.state === 'OPEN') entry.state = 'HALF_OPEN';
    if (this.#store !== undefined) {
      const claimed = await this.#store
        .claimProbe(instanceId, this.#options.resetTimeoutMs)
        .catch((error: unknown) => {
          // Redis is down: probe locally rather than never probing at all.
          this.#onStoreError(error);
          return true;
        });
      if (!claimed) {
        entry.probes--;
        return false;
      }
    }
    return true;
  }

  /** A granted request ended without a verdict on the instance (the client left, or the request was at fault). */
  release(instanceId: string): void {
    const entry = this.#entries.get(instanceId);
    if (entry === undefined || entry.state !== 'HALF_OPEN' || entry.probes === 0) return;
    entry.probes--;
    this.#releaseClaim(instanceId);
  }

  /** A probe has its verdict: give the shared claim back so the next probe (on any replica) is not held off. */
  #releaseClaim(instanceId: string) {
    if (this.#store === undefined) return;
    void this.#store.releaseProbe(instanceId).catch(this.#onStoreError);
  }

  success(instanceId: string): void {
    const entry = this.#entries.get(instanceId);
    // The hot path: a deployment that never failed has no entry and nothing to reset.
    if (entry === undefined) return;
    if (entry.probes > 0) this.#releaseClaim(instanceId);
    const changed = entry.state !== 'CLOSED';
    const hadFailures = entry.failures > 0;
    entry.state = 'CLOSED';
    entry.failures = 0;
    entry.probes = 0;
    if (this.#store === undefined || (!changed && !hadFailures)) return;
    const store = this.#store;
    const snapshot = this.snapshot(instanceId);
    void store
      .recordSuccess(instanceId)
      .then(() => (changed ? store.publish(instanceId, snapshot) : undefined))
      .catch(this.#onStoreError);
  }

  failure(instanceId: string): void {
    const entry = this.#entry(instanceId);
    entry.failures++;
    const wasProbe = entry.state === 'HALF_OPEN';
    if (wasProbe && entry.probes > 0) this.#releaseClaim(instanceId);
    if (wasProbe || entry.failures >= this.#options.failureThreshold) this.#open(entry);
    if (this.#store === undefined) return;
    const store = this.#store;
    void store
      .recordFailure(instanceId)
      .then((shared) => {
        // Another replica's failures count too: the circuit opens when the shared streak reaches the threshold.
        if (entry.state === 'CLOSED' && shared >= this.#options.failureThreshold) {
          entry.failures = shared;
          this.#open(entry);
        } else entry.failures = Math.max(entry.failures, shared);
        if (entry.state === 'OPEN') return store.publish(instanceId, this.snapshot(instanceId));
        return undefined;
      })
      .catch(this.#onStoreError);
  }

  #open(entry: Entry) {
    entry.state = 'OPEN';
    entry.openedAt = this.#now();
    entry.probes = 0;
  }
}
