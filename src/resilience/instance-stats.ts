/**
 * Per-instance health numbers, read by routing and `/health`. Local to the process: each replica measures
 * what it sees (breaker state is what replicas share).
 *
 * Health score (0..1), documented in docs/architecture.md:
 *   score = success × latency × load
 *   success = EWMA of attempt outcomes (1 ok, 0 failed; α = 0.2; starts at 1)
 *   latency = 1 / (1 + latencyEwmaMs / 2000)   (2 s typical answer time halves the score)
 *   load    = 1 / (1 + inFlight / 32)
 * An instance with no traffic scores 1 × 1 × 1 = 1, so new instances get explored.
 */
export interface InstanceSnapshot {
  readonly totalRequests: number;
  readonly failures: number;
  /** EWMA of upstream latency, in milliseconds (α = 0.2); 0 before the first request. */
  readonly latencyEwmaMs: number;
  /** EWMA of time to first streamed event, in milliseconds; 0 before the first stream. */
  readonly ttftEwmaMs: number;
  /** 95th percentile of recent times to first token, in milliseconds; undefined with fewer than 5 samples. */
  readonly ttftP95Ms: number | undefined;
  /** EWMA of outcomes, 1 = all succeeded. */
  readonly successEwma: number;
  /** Failures in the last 60 seconds. */
  readonly recentErrors: number;
  readonly inFlight: number;
  readonly healthScore: number;
}

const alpha = 0.2;
const recentWindowMs = 60_000;
const ttftSamples = 50;

interface Entry {
  total: number;
  failures: number;
  latency: number;
  ttft: number;
  ttftCount: number;
  ttftRing: number[];
  success: number;
  errorTimes: number[];
  inFlight: number;
}

export class InstanceStats {
  readonly #stats = new Map<string, Entry>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  #entry(instanceId: string): Entry {
    let entry = this.#stats.get(instanceId);
    if (entry === undefined) {
      entry = {
        total: 0,
        failures: 0,
        latency: 0,
        ttft: 0,
        ttftCount: 0,
        ttftRing: [],
        success: 1,
        errorTimes: [],
        inFlight: 0,
      };
      this.#stats.set(instanceId, entry);
    }
    return entry;
  }

  started(instanceId: string): void {
    this.#entry(instanceId).inFlight++;
  }

  /** Records one finished attempt; `latencyMs` is the time the upstream took. */
  finished(instanceId: string, ok: boolean, latencyMs: number): void {
    const entry = this.#entry(instanceId);
    entry.inFlight = Math.max(0, entry.inFlight - 1);
    entry.total++;
    entry.success += alpha * ((ok ? 1 : 0) - entry.success);
    if (!ok) {
      entry.failures++;
      entry.errorTimes.push(this.#now());
      if (entry.errorTimes.length > 1000) entry.errorTimes.splice(0, entry.errorTimes.length - 1000);
    }
    if (ok)
      entry.latency = entry.latency === 0 ? latencyMs : entry.latency + alpha * (latencyMs - entry.latency);
  }

  /** An attempt that ended without a verdict (client left): only the in-flight count changes. */
  abandoned(instanceId: string): void {
    const entry = this.#entry(instanceId);
    entry.inFlight = Math.max(0, entry.inFlight - 1);
  }

  /** Records the time from sending a stream request to its first event, in milliseconds. */
  firstToken(instanceId: string, ttftMs: number): void {
    const entry = this.#entry(instanceId);
    entry.ttft = entry.ttftCount === 0 ? ttftMs : entry.ttft + alpha * (ttftMs - entry.ttft);
    entry.ttftRing[entry.ttftCount % ttftSamples] = ttftMs;
    entry.ttftCount++;
  }

  /** The health score alone (see the formula above): what routing reads on every request, kept cheap. */
  score(instanceId: string): number {
    const entry = this.#stats.get(instanceId);
    if (entry === undefined) return 1;
    return entry.success * (1 / (1 + entry.latency / 2000)) * (1 / (1 + entry.inFlight / 32));
  }

  /** Latency EWMA alone, in milliseconds; 0 before the first success. */
  latency(instanceId: string): number {
    return this.#stats.get(instanceId)?.latency ?? 0;
  }

  snapshot(instanceId: string): InstanceSnapshot {
    const entry = this.#entry(instanceId);
    const since = this.#now() - recentWindowMs;
    const recentErrors = entry.errorTimes.filter((time) => time >= since).length;
    const healthScore = this.score(instanceId);
    return {
      totalRequests: entry.total,
      failures: entry.failures,
      latencyEwmaMs: entry.latency,
      ttftEwmaMs: entry.ttft,
      ttftP95Ms: percentile(entry.ttftRing, 0.95),
      successEwma: entry.success,
      recentErrors,
      inFlight: entry.inFlight,
      healthScore,
    };
  }
}

function percentile(samples: readonly number[], quantile: number): number | undefined {
  if (samples.length < 5) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))];
}
