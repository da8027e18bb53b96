import { Redis } from 'ioredis';
import type { SharedPrompt } from '../../cache/semantic/semantic-matcher.ts';
import { connected } from './breaker-store.ts';

/** One prompt the semantic cache remembered, as the replicas share it. */
export type SemanticRecord = SharedPrompt;

export interface RedisSemanticStoreOptions {
  readonly keyPrefix?: string | undefined;
  readonly commandTimeoutMs?: number | undefined;
  readonly onError?: ((error: unknown) => void) | undefined;
}

type Message =
  | { readonly kind: 'add'; readonly from: string; readonly record: WireRecord }
  | { readonly kind: 'clear'; readonly from: string; readonly tenant: string };

interface WireRecord {
  readonly tenant: string;
  readonly partition: string;
  readonly id: string;
  readonly text: string;
  /** The vector's float32 bytes, base64. */
  readonly vector: string;
  readonly expiresAt: number;
}

/**
 * The semantic cache's prompts shared by the replicas on one Redis, so each replica's in-process index holds
 * every replica's prompts: a hash per tenant (`<prefix>cache:v1:sem:{tenant}`, field = the answer's digest,
 * value = partition, text, vector and expiry; the hash expires with its latest entry) read whole at start, and
 * a channel (`<prefix>cache:v1:sem`) on which each new prompt, and each tenant's purge, reaches the others at
 * once. Vectors travel with the prompt, so no replica embeds another's prompt again. A prompt whose answer has
 * expired is skipped on load; one found on lookup without its answer is forgotten there. Failures are reported
 * and never fail a request: without Redis a replica still has its own prompts.
 */
export class RedisSemanticStore {
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #onError: (error: unknown) => void;
  /** Tells this replica's own messages apart from the others'. */
  readonly #self = `${process.pid}-${Math.random().toString(36).slice(2)}`;

  constructor(url: string, options: RedisSemanticStoreOptions = {}) {
    this.#prefix = `${options.keyPrefix ?? 'nexus:'}cache:v1:sem:`;
    this.#channel = `${options.keyPrefix ?? 'nexus:'}cache:v1:sem`;
    this.#onError = options.onError ?? (() => {});
    const settings = {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      commandTimeout: options.commandTimeoutMs ?? 1000,
    };
    this.#redis = new Redis(url, settings);
    this.#subscriber = new Redis(url, { ...settings, commandTimeout: undefined, enableOfflineQueue: true });
    this.#redis.on('error', () => {});
    this.#subscriber.on('error', () => {});
  }

  /**
   * Connects, reads every live prompt into `onAdd`, then follows the others' new prompts and purges. Resolves
   * when the load is done (or failed: reported, and the replica starts with what it has).
   */
  async start(onAdd: (record: SemanticRecord) => void, onClear: (tenant: string) => void): Promise<void> {
    this.#subscriber.on('message', (_channel: string, text: string) => {
      try {
        const message = JSON.parse(text) as Message;
        if (message.from === this.#self) return;
        if (message.kind === 'add') onAdd(fromWire(message.record));
        else onClear(message.tenant);
      } catch (error) {
        this.#onError(error);
      }
    });
    try {
      await Promise.all([connected(this.#redis, 5000), connected(this.#subscriber, 5000)]);
      await this.#subscriber.subscribe(this.#channel);
      const now = Date.now();
      let cursor = '0';
      do {
        const [next, keys] = await this.#redis.scan(cursor, 'MATCH', `${this.#prefix}*`, 'COUNT', 500);
        cursor = next;
        for (const key of keys) {
          const fields = await this.#redis.hgetall(key);
          for (const value of Object.values(fields)) {
            const record = fromWire(JSON.parse(value) as WireRecord);
            if (record.expiresAt > now) onAdd(record);
          }
        }
      } while (cursor !== '0');
    } catch (error) {
      this.#onError(error);
    }
  }

  /** Shares a prompt this replica remembered. */
  async add(record: SemanticRecord): Promise<void> {
    const wire = toWire(record);
    const key = this.#keyOf(record.tenant);
    try {
      await this.#redis
        .multi()
        .hset(key, record.id, JSON.stringify(wire))
        .pexpireat(key, record.expiresAt, 'GT')
        .pexpireat(key, record.expiresAt, 'NX')
        .publish(
          this.#channel,
          JSON.stringify({ kind: 'add', from: this.#self, record: wire } satisfies Message),
        )
        .exec();
    } catch (error) {
      this.#onError(error);
    }
  }

  /** Forgets a tenant's prompts on every replica (its answers were purged). */
  async clear(tenant: string): Promise<void> {
    await this.#redis
      .multi()
      .del(this.#keyOf(tenant))
      .publish(this.#channel, JSON.stringify({ kind: 'clear', from: this.#self, tenant } satisfies Message))
      .exec();
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
    this.#subscriber.disconnect();
  }

  #keyOf(tenant: string): string {
    return `${this.#prefix}{${encodeURIComponent(tenant)}}`;
  }
}

function toWire(record: SemanticRecord): WireRecord {
  const bytes = Buffer.from(record.vector.buffer, record.vector.byteOffset, record.vector.byteLength);
  return { ...record, vector: bytes.toString('base64') };
}

function fromWire(wire: WireRecord): SemanticRecord {
  const bytes = Buffer.from(wire.vector, 'base64');
  const vector = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(vector.buffer).set(bytes);
  return { ...wire, vector };
}
