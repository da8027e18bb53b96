import { Redis } from 'ioredis';
import type { BreakerSnapshot, CircuitState, SharedBreakerStore } from '../../resilience/circuit-breaker.ts';

const states = new Set<CircuitState>(['CLOSED', 'OPEN', 'HALF_OPEN']);

/**
 * Circuit-breaker state shared by every replica on one Redis, one circuit per deployment (instance and model):
 * a consecutive-failure counter
 * (INCR, reset on success), the last published state in a hash, changes broadcast on a pub/sub channel, and
 * a short-lived SET NX lock so that only one replica sends a half-open probe. Keys expire, so a Redis that
 * outlives a deployment does not keep stale circuits open for ever.
 */
export class RedisBreakerStore implements SharedBreakerStore {
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #ttlSeconds: number;
  readonly #prefix: string;
  readonly #channel: string;

  /** `keyPrefix` (default `nexus:`) separates deployments that share one Redis. */
  constructor(url: string, options: { ttlSeconds?: number; keyPrefix?: string } = {}) {
    this.#prefix = options.keyPrefix ?? 'nexus:';
    this.#channel = `${this.#prefix}breaker`;
    const common = { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false } as const;
    this.#redis = new Redis(url, common);
    this.#subscriber = new Redis(url, { ...common, enableOfflineQueue: true });
    this.#ttlSeconds = options.ttlSeconds ?? 3600;
    // Errors surface through the promises of the calls that fail; the connection retries by itself.
    this.#redis.on('error', () => {});
    this.#subscriber.on('error', () => {});
  }

  /** Resolves once both connections are ready (used at boot, so a misconfigured URL is reported early). */
  async ready(timeoutMs = 5000): Promise<void> {
    await Promise.all([connected(this.#redis, timeoutMs), connected(this.#subscriber, timeoutMs)]);
  }

  async recordFailure(instanceId: string): Promise<number> {
    const key = `${this.#prefix}breaker-failures:${instanceId}`;
    const [[, count]] = (await this.#redis.multi().incr(key).expire(key, this.#ttlSeconds).exec()) as [
      [Error | null, number],
    ];
    return count;
  }

  async recordSuccess(instanceId: string): Promise<void> {
    await this.#redis.del(`${this.#prefix}breaker-failures:${instanceId}`);
  }

  async publish(instanceId: string, snapshot: BreakerSnapshot): Promise<void> {
    const key = `${this.#prefix}breaker-state:${instanceId}`;
    await this.#redis
      .multi()
      .hset(key, {
        state: snapshot.state,
        failures: String(snapshot.consecutiveFailures),
        openedAt: String(snapshot.openedAt),
      })
      .expire(key, this.#ttlSeconds)
      .publish(this.#channel, JSON.stringify({ instanceId, ...snapshot }))
      .exec();
  }

  async claimProbe(instanceId: string, ttlMs: number): Promise<boolean> {
    const result = await this.#redis.set(
      `${this.#prefix}breaker-probe:${instanceId}`,
      '1',
      'PX',
      ttlMs,
      'NX',
    );
    return result === 'OK';
  }

  async releaseProbe(instanceId: string): Promise<void> {
    await this.#redis.del(`${this.#prefix}breaker-probe:${instanceId}`);
  }

  /** Every stored circuit under this prefix (deployments are only known once traffic reaches them). */
  async load(): Promise<Map<string, BreakerSnapshot>> {
    const found = new Map<string, BreakerSnapshot>();
    const head = `${this.#prefix}breaker-state:`;
    const pattern = `${head.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let cursor = '0';
    do {
      const [next, keys] = await this.#redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const snapshot = parseSnapshot(await this.#redis.hgetall(key));
        if (snapshot !== undefined) found.set(key.slice(head.length), snapshot);
      }
    } while (cursor !== '0');
    return found;
  }

  async subscribe(listener: (instanceId: string, snapshot: BreakerSnapshot) => void): Promise<void> {
    this.#subscriber.on('message', (_channel: string, message: string) => {
      try {
        const parsed = JSON.parse(message) as Record<string, unknown>;
        const snapshot = parseSnapshot(parsed);
        if (typeof parsed.instanceId === 'string' && snapshot !== undefined)
          listener(parsed.instanceId, snapshot);
      } catch {
        // A message Nexus did not write: ignore it.
      }
    });
    await this.#subscriber.subscribe(this.#channel);
  }

  async close(): Promise<void> {
    this.#subscriber.disconnect();
    this.#redis.disconnect();
  }
}

/** Resolves when the connection is ready, or rejects after `timeoutMs`. */
export function connected(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`Redis did not become ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

function parseSnapshot(record: Record<string, unknown>): BreakerSnapshot | undefined {
  const state = record.state;
  if (typeof state !== 'string' || !states.has(state as CircuitState)) return undefined;
  return {
    state: state as CircuitState,
    consecutiveFailures: Number(record.failures ?? record.consecutiveFailures ?? 0) || 0,
    openedAt: Number(record.openedAt ?? 0) || 0,
  };
}
