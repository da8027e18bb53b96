/**
 * Per-instance request counters and latency, read by `/health`. The resilience layer's health score and
 * breakers will build on the same numbers.
 */
export interface InstanceSnapshot {
  readonly totalRequests: number;
  readonly failures: number;
  /** Exponentially weighted moving average of upstream latency, in milliseconds (α = 0.2). */
  readonly latencyEwmaMs: number;
  readonly inFlight: number;
}

const alpha = 0.2;

export class InstanceStats {
  readonly #stats = new Map<string, { total: number; failures: number; latency: number; inFlight: number }>();

  #entry(instanceId: string) {
    let entry = this.#stats.get(instanceId);
    if (entry === undefined) {
      entry = { total: 0, failures: 0, latency: 0, inFlight: 0 };
      this.#stats.set(instanceId, entry);
    }
    return entry;
  }

  started(instanceId: string): void {
    this.#entry(instanceId).inFlight++;
  }

  /** Records one finished upstream attempt; `latencyMs` is the time the upstream took. */
  finished(instanceId: string, ok: boolean, latencyMs: number): void {
    const entry = this.#entry(instanceId);
    entry.inFlight = Math.max(0, entry.inFlight - 1);
    entry.total++;
    if (!ok) entry.failures++;
    entry.latency = entry.total === 1 ? latencyMs : entry.latency + alpha * (latencyMs - entry.latency);
  }

  snapshot(instanceId: string): InstanceSnapshot {
    const entry = this.#entry(instanceId);
    return {
      totalRequests: entry.total,
      failures: entry.failures,
      latencyEwmaMs: entry.latency,
      inFlight: entry.inFlight,
    };
  }
}
