/**
 * Keys a provider refused (HTTP 401/403, or its own "invalid key" error): the key's failure, not the request's
 * and not the model's. A refused key leaves rotation for `cooldownMs` so the rest of its pool carries the
 * traffic, and comes back by itself after that or at once when `POST /v1/providers/toggle` enables it again.
 * When every key of a request's targets is refused, the attempt loop still sends one request through as a
 * last resort (a key fixed at the provider recovers on its first good answer). Local to the replica, like the
 * toggle.
 */
export interface RejectedKey {
  /** Epoch milliseconds when the key returns to rotation. */
  readonly until: number;
  /** The catalogue error code that took it out (`upstream_auth_failed`). */
  readonly reason: string;
}

export class RejectedKeys {
  readonly #rejected = new Map<string, RejectedKey>();
  readonly #cooldownMs: number;
  readonly #now: () => number;

  constructor(cooldownMs: number, now: () => number = Date.now) {
    this.#cooldownMs = cooldownMs;
    this.#now = now;
  }

  /** Takes the instance's key out of rotation for the cooldown. */
  reject(instanceId: string, reason: string): void {
    this.#rejected.set(instanceId, { until: this.#now() + this.#cooldownMs, reason });
  }

  /** Puts the key back now (a toggle, or an answer that proved it works). */
  restore(instanceId: string): void {
    this.#rejected.delete(instanceId);
  }

  /** The hot path's check: false for every key that was never refused, with one map lookup. */
  isRejected(instanceId: string): boolean {
    if (this.#rejected.size === 0) return false;
    return this.status(instanceId) !== undefined;
  }

  /** Why and until when the key is out of rotation; undefined when it is in. */
  status(instanceId: string): RejectedKey | undefined {
    const entry = this.#rejected.get(instanceId);
    if (entry === undefined) return undefined;
    if (this.#now() < entry.until) return entry;
    this.#rejected.delete(instanceId);
    return undefined;
  }
}
