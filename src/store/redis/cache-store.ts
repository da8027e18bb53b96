import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  type CachedEntry,
  type CacheEntrySummary,
  type CacheKey,
  type CacheStore,
  summarize,
} from '../../cache/cache-types.ts';
import { connected } from './breaker-store.ts';

export interface RedisCacheStoreOptions {
  /** Separates deployments sharing one Redis. Default `nexus:`; keys are `<prefix>cache:v1:...`. */
  readonly keyPrefix?: string | undefined;
  /** The longest a cache command may take before the request goes on without the cache, ms. Default 250. */
  readonly commandTimeoutMs?: number | undefined;
  /** An entry whose serialized form is larger is not stored, bytes. Default 1 MiB. */
  readonly maxEntryBytes?: number | undefined;
  /** A tenant's entries beyond this many are evicted, soonest to expire first. Default 100 000. */
  readonly maxEntriesPerTenant?: number | undefined;
  /** Told of every failed `get` / `set` (which the store turns into a miss / a dropped write): log and count it. */
  readonly onError?: ((operation: 'get' | 'set', error: unknown) => void) | undefined;
}

interface Script {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * KEYS: entry, index. ARGV: json, ttl seconds, expiry ms, now ms, digest, max entries, entry key prefix.
 * Stores the entry, indexes it by expiry, drops lapsed index members, evicts the tenant's soonest-expiring
 * entries over the cap, and lets the index expire with its last entry.
 */
const setScript = script(`
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[6])
if excess > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, excess - 1)
  for _, digest in ipairs(old) do
    redis.call('DEL', ARGV[7] .. digest)
    redis.call('ZREM', KEYS[2], digest)
  end
end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[2], last[2]) end
return 1
`);

/** KEYS: index. ARGV: entry key prefix. Deletes every indexed entry and the index; returns how many existed. */
const purgeScript = script(`
local removed = 0
local digests = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, digest in ipairs(digests) do
  removed = removed + redis.call('DEL', ARGV[1] .. digest)
end
redis.call('DEL', KEYS[1])
return removed
`);

/**
 * The exact cache shared by every replica on one Redis. Per tenant partition `t` (percent-encoded, in a hash
 * tag so that a tenant's keys share one Redis Cluster slot):
 * - `<prefix>cache:v1:{t}:<digest>`: the entry's JSON, `SET ... EX ttl`;
 * - `<prefix>cache:v1:{t}:index`: a sorted set of the tenant's digests scored by expiry (epoch ms), trimmed
 *   of lapsed members on every write, capped at `maxEntriesPerTenant`, expiring with its last entry; so
 *   `purge` and `list` read one tenant's index, never KEYS or SCAN over the whole server.
 * A write is one Lua script (entry, index, trim), run by EVALSHA and loaded again on NOSCRIPT.
 *
 * Fails open: the cache is an optimisation, so while Redis is unreachable or slow a request goes on without
 * it. No offline queue (a command while disconnected fails at once), `commandTimeoutMs` (default 250 ms)
 * for a server that hangs, and `get` resolves to a miss and `set` drops the entry, both telling `onError`;
 * neither ever rejects. `purge` and `list` (admin calls) do reject. ioredis keeps reconnecting in the
 * background, and the cache works again as soon as Redis is back.
 *
 * The entry's tenant is checked on read as well as being part of the key.
 */
export class RedisCacheStore implements CacheStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #maxEntryBytes: number;
  readonly #maxEntries: number;
  readonly #onError: (operation: 'get' | 'set', error: unknown) => void;

  constructor(url: string, options: RedisCacheStoreOptions = {}) {
    this.#prefix = `${options.keyPrefix ?? 'nexus:'}cache:v1:`;
    this.#maxEntryBytes = options.maxEntryBytes ?? 1024 * 1024;
    this.#maxEntries = options.maxEntriesPerTenant ?? 100_000;
    this.#onError = options.onError ?? (() => {});
    this.#redis = new Redis(url, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      commandTimeout: options.commandTimeoutMs ?? 250,
    });
    // Errors surface through the calls that fail (a miss, a dropped write); the connection retries by itself.
    this.#redis.on('error', () => {});
  }

  /** Resolves once connected (used at boot, so a misconfigured URL is reported early). */
  async ready(timeoutMs = 5000): Promise<void> {
    await connected(this.#redis, timeoutMs);
  }

  async get(key: CacheKey): Promise<CachedEntry | undefined> {
    let json: string | null;
    try {
      json = await this.#redis.get(this.#entryKey(key.tenant, key.digest));
    } catch (error) {
      this.#onError('get', error);
      return undefined;
    }
    if (json === null) return undefined;
    const entry = parseEntry(json);
    return entry?.tenant === key.tenant ? entry : undefined;
  }

  async set(key: CacheKey, entry: CachedEntry, ttlSeconds: number): Promise<void> {
    if (entry.tenant !== key.tenant) throw new Error('a cache entry must be stored under its own tenant');
    const ttl = Math.ceil(ttlSeconds);
    if (!(ttl > 0)) return;
    const json = JSON.stringify(entry);
    if (Buffer.byteLength(json) > this.#maxEntryBytes) return;
    const now = Date.now();
    const keys = [this.#entryKey(key.tenant, key.digest), this.#indexKey(key.tenant)];
    const args = [
      json,
      String(ttl),
      String(now + ttl * 1000),
      String(now),
      key.digest,
      String(this.#maxEntries),
      this.#entryKey(key.tenant, ''),
    ];
    try {
      await this.#run(setScript, keys, args);
    } catch (error) {
      this.#onError('set', error);
    }
  }

  async purge(tenant: string): Promise<number> {
    const removed = await this.#run(purgeScript, [this.#indexKey(tenant)], [this.#entryKey(tenant, '')]);
    return Number(removed);
  }

  async list(tenant: string, limit: number): Promise<CacheEntrySummary[]> {
    if (limit <= 0) return [];
    const members = await this.#redis.zrevrangebyscore(
      this.#indexKey(tenant),
      '+inf',
      `(${Date.now()}`,
      'WITHSCORES',
      'LIMIT',
      0,
      limit,
    );
    const digests: string[] = [];
    const expiries: number[] = [];
    for (let index = 0; index + 1 < members.length; index += 2) {
      digests.push(members[index]!);
      expiries.push(Number(members[index + 1]));
    }
    if (digests.length === 0) return [];
    const values = await this.#redis.mget(digests.map((digest) => this.#entryKey(tenant, digest)));
    const summaries: CacheEntrySummary[] = [];
    values.forEach((json, index) => {
      const entry = json === null ? undefined : parseEntry(json);
      if (entry === undefined || entry.tenant !== tenant) return;
      const key = { tenant, digest: digests[index]! };
      summaries.push(summarize(key, entry, expiries[index]!, Buffer.byteLength(json!)));
    });
    return summaries;
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }

  #tag(tenant: string): string {
    return `{${encodeURIComponent(tenant)}}`;
  }

  #entryKey(tenant: string, digest: string): string {
    return `${this.#prefix}${this.#tag(tenant)}:${digest}`;
  }

  #indexKey(tenant: string): string {
    return `${this.#prefix}${this.#tag(tenant)}:index`;
  }

  /** EVALSHA; a server that does not know the script (restarted, flushed) gets it loaded, then the call again. */
  async #run(code: Script, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    try {
      return await this.#redis.evalsha(code.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await this.#redis.eval(code.lua, keys.length, ...keys, ...args);
    }
  }
}

/** A stored entry, or undefined for text that is not one (written by something else, or corrupt). */
function parseEntry(json: string): CachedEntry | undefined {
  try {
    const value: unknown = JSON.parse(json);
    if (typeof value !== 'object' || value === null) return undefined;
    const entry = value as CachedEntry;
    return typeof entry.tenant === 'string' && typeof entry.kind === 'string' ? entry : undefined;
  } catch {
    return undefined;
  }
}
