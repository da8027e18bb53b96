import { LRUCache } from 'lru-cache';
import {
  type CachedEntry,
  type CacheEntrySummary,
  type CacheKey,
  type CacheStore,
  summarize,
} from './cache-types.ts';

export interface MemoryCacheStoreOptions {
  /** The bound on the serialized entries held, bytes (UTF-8 JSON). Default 64 MiB. */
  readonly maxBytes?: number | undefined;
  /** An entry whose serialized form is larger is not stored, bytes. Default 1 MiB (and never above `maxBytes`). */
  readonly maxEntryBytes?: number | undefined;
  /** The clock, epoch ms (tests). Default `Date.now`. */
  readonly now?: (() => number) | undefined;
}

interface Stored {
  /**
   * The entry, parsed once from its JSON text when stored and deep-frozen: every hit shares it, so a hit costs
   * no parse, and no request can change the answer another is sent (a write to it throws).
   */
  readonly entry: CachedEntry;
  readonly tenant: string;
  readonly summary: CacheEntrySummary;
}

/** Freezes `value` and everything it holds (a parsed JSON tree: plain objects, arrays, primitives). */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

/** A tenant partition and a digest as one map key; the NUL cannot occur in a partition string. */
function storeKey(key: CacheKey): string {
  return `${key.tenant}\u0000${key.digest}`;
}

/**
 * The exact cache of a single gateway: entries in this process's memory, bounded in bytes, least recently
 * used evicted first, each expiring on its own TTL. Built on `lru-cache` (its `maxSize` + per-entry `size`
 * and `ttl`), which keeps the LRU list and the expiry without a sweep of our own. Each entry counts as the
 * bytes of its JSON text and is held as one frozen copy parsed from that text when stored (a tree of plain
 * objects and strings of about that size): a hit shares it instead of parsing the text again, which was
 * ≈ 3 µs of a JSON answer's hit and ≈ 7 µs of a stored stream's (docs/benchmarks.md).
 *
 * A per-tenant index (partition → keys, kept in step through `dispose`) makes `purge` and `list` cost the
 * tenant's entries, not the whole cache.
 */
export class MemoryCacheStore implements CacheStore {
  readonly #cache: LRUCache<string, Stored>;
  readonly #byTenant = new Map<string, Set<string>>();
  readonly #maxEntryBytes: number;
  readonly #now: () => number;

  constructor(options: MemoryCacheStoreOptions = {}) {
    const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.#maxEntryBytes = Math.min(options.maxEntryBytes ?? 1024 * 1024, maxBytes);
    this.#now = options.now ?? Date.now;
    this.#cache = new LRUCache<string, Stored>({
      maxSize: maxBytes,
      maxEntrySize: this.#maxEntryBytes,
      perf: { now: this.#now },
      // The clock is read at every check: an entry is never served a moment past its TTL.
      ttlResolution: 0,
      dispose: (stored, key, reason) => {
        // 'set' replaces the value under the same key: the key stays indexed.
        if (reason !== 'set') this.#unindex(stored.tenant, key);
      },
    });
  }

  /** Bytes held (the sum of the stored entries' serialized sizes). */
  get bytes(): number {
    return this.#cache.calculatedSize;
  }

  /** Entries held (expired ones not yet dropped included). */
  get size(): number {
    return this.#cache.size;
  }

  async get(key: CacheKey): Promise<CachedEntry | undefined> {
    const stored = this.#cache.get(storeKey(key));
    if (stored === undefined || stored.tenant !== key.tenant) return undefined;
    return stored.entry.tenant === key.tenant ? stored.entry : undefined;
  }

  async set(key: CacheKey, entry: CachedEntry, ttlSeconds: number): Promise<void> {
    if (entry.tenant !== key.tenant) throw new Error('a cache entry must be stored under its own tenant');
    if (!(ttlSeconds > 0)) return;
    const json = JSON.stringify(entry);
    const size = Buffer.byteLength(json);
    if (size > this.#maxEntryBytes) return;
    const ttl = ttlSeconds * 1000;
    const id = storeKey(key);
    const summary = summarize(key, entry, this.#now() + ttl, size);
    // A copy of its own (the request's reply objects stay the request's), frozen.
    const stored = deepFreeze(JSON.parse(json) as CachedEntry);
    this.#cache.set(id, { entry: stored, tenant: key.tenant, summary }, { ttl, size });
    if (this.#cache.has(id)) {
      const keys = this.#byTenant.get(key.tenant);
      if (keys === undefined) this.#byTenant.set(key.tenant, new Set([id]));
      else keys.add(id);
    }
  }

  async purge(tenant: string): Promise<number> {
    const keys = this.#byTenant.get(tenant);
    if (keys === undefined) return 0;
    let removed = 0;
    for (const id of [...keys]) {
      if (this.#cache.has(id)) removed++;
      this.#cache.delete(id);
    }
    this.#byTenant.delete(tenant);
    return removed;
  }

  async list(tenant: string, limit: number): Promise<CacheEntrySummary[]> {
    const summaries: CacheEntrySummary[] = [];
    for (const id of this.#byTenant.get(tenant) ?? []) {
      // peek: listing must not make an entry look recently used.
      const stored = this.#cache.peek(id);
      if (stored !== undefined) summaries.push(stored.summary);
    }
    summaries.sort((a, b) => b.expiresAt - a.expiresAt);
    return summaries.slice(0, Math.max(0, limit));
  }

  async close(): Promise<void> {
    this.#cache.clear();
    this.#byTenant.clear();
  }

  #unindex(tenant: string, id: string): void {
    const keys = this.#byTenant.get(tenant);
    if (keys === undefined) return;
    keys.delete(id);
    if (keys.size === 0) this.#byTenant.delete(tenant);
  }
}
