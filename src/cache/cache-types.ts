/**
 * The vocabulary of the exact cache (issue 15, items 1, 2 and 5): what an entry holds, how it is addressed,
 * and the port both stores implement (in-process: `memory-cache-store.ts`; shared across replicas:
 * `store/redis/cache-store.ts`).
 *
 * Tenant isolation is kept twice: the tenant partition is hashed into the key's digest AND stored in the entry,
 * and every store compares the entry's partition with the key's on read, so a lookup can never return another
 * tenant's answer even if two digests collided or a store were shared by mistake.
 */

import type { ChatCompletion, EmbeddingsResponse } from '../core/openai-types.ts';

/** Which operation an entry answers: OpenAI chat, OpenAI embeddings, Anthropic Messages. */
export type CacheKind = 'chat' | 'embeddings' | 'messages';

/**
 * Where an entry lives: the tenant partition (e.g. `org:o_1/project:p_2`, or `master`) and the digest of the
 * request (`cache-key.ts`). Stores namespace by partition, so `purge` and `list` work per tenant.
 */
export interface CacheKey {
  readonly tenant: string;
  /** Lower-case hex SHA-256 over the key version, tenant, kind, model and canonical request. */
  readonly digest: string;
}

/** An Anthropic content block of a stored Messages reply; only the fields the stream replay reads are typed. */
export type AnthropicBlock =
  | { type: 'text'; text: string; [field: string]: unknown }
  | { type: 'tool_use'; id: string; name: string; input: unknown; [field: string]: unknown }
  | { type: 'thinking'; thinking: string; signature?: string | undefined; [field: string]: unknown }
  | { type: string; [field: string]: unknown };

/** An Anthropic Messages reply as stored (the JSON the client got), minimal typing. */
export interface AnthropicMessageBody {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: AnthropicBlock[];
  stop_reason: string | null;
  stop_sequence: string | null;
  usage: { input_tokens: number; output_tokens: number; [field: string]: unknown };
  [field: string]: unknown;
}

/** Token counts of the answer that was stored (what the original call used; a hit uses none). */
export interface CachedUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

interface EntryCommon {
  /** The tenant partition the entry belongs to; checked against the key's on every read. */
  readonly tenant: string;
  /** The model that served the answer (the upstream's model id). */
  readonly model: string;
  /** The provider (or instance) that served it, for `x-nexus-provider` and the usage record. */
  readonly provider: string;
  readonly usage: CachedUsage;
  /** What the original call cost, USD: a hit costs 0 and counts this as savings. */
  readonly costUsd: number;
  /** Epoch ms when the entry was stored. */
  readonly createdAt: number;
}

/**
 * A chat answer stored as it was streamed: the text of each `data:` chunk the client was sent, in order, and
 * the usage chunk apart (shown only to a client that asks for it). Kept as text, so storing a stream costs no
 * parse of its chunks, and replaying it to a stream costs none either; an answer in one piece is rebuilt from
 * it only when a JSON request hits it.
 */
export interface StreamFrames {
  readonly chunks: readonly string[];
  readonly usage: string | null;
}

/** A complete successful answer, enough to replay it as JSON or as a stream. */
export type CachedEntry =
  | (EntryCommon & { readonly kind: 'chat'; readonly body: ChatCompletion; readonly frames?: undefined })
  | (EntryCommon & { readonly kind: 'chat'; readonly frames: StreamFrames; readonly body?: undefined })
  | (EntryCommon & { readonly kind: 'embeddings'; readonly body: EmbeddingsResponse })
  | (EntryCommon & { readonly kind: 'messages'; readonly body: AnthropicMessageBody });

/** One entry as `list` shows it (no body). */
export interface CacheEntrySummary {
  readonly digest: string;
  readonly kind: CacheKind;
  readonly model: string;
  readonly provider: string;
  readonly costUsd: number;
  readonly createdAt: number;
  /** Epoch ms when the entry expires. */
  readonly expiresAt: number;
  /** The serialized entry's length, in bytes (UTF-8). */
  readonly sizeBytes: number;
}

/**
 * Where entries live. A failed or unreachable store never fails a request: `get` misses and `set` drops
 * (the Redis store fails open); `purge` and `list` are admin operations and may reject.
 */
export interface CacheStore {
  /**
   * The entry stored under `key`, if it is there, unexpired, and belongs to `key.tenant`. It may be shared with
   * other hits and frozen (the in-process store's): read it, never change it.
   */
  get(key: CacheKey): Promise<CachedEntry | undefined>;
  /** Stores `entry` under `key` for `ttlSeconds`; an entry whose tenant differs from the key's is refused. */
  set(key: CacheKey, entry: CachedEntry, ttlSeconds: number): Promise<void>;
  /** Removes every entry of the tenant partition; resolves to how many were removed. */
  purge(tenant: string): Promise<number>;
  /** Up to `limit` of the tenant's live entries, the latest to expire first. */
  list(tenant: string, limit: number): Promise<CacheEntrySummary[]>;
  close(): Promise<void>;
}

/** What `list` shows of an entry: its key's digest, its metadata, its expiry (epoch ms) and serialized size. */
export function summarize(
  key: CacheKey,
  entry: CachedEntry,
  expiresAt: number,
  sizeBytes: number,
): CacheEntrySummary {
  return {
    digest: key.digest,
    kind: entry.kind,
    model: entry.model,
    provider: entry.provider,
    costUsd: entry.costUsd,
    createdAt: entry.createdAt,
    expiresAt,
    sizeBytes,
  };
}

/** The key a store checks an entry against: the same partition, or it is not this tenant's. */
export function belongsTo(entry: CachedEntry, key: CacheKey): boolean {
  return entry.tenant === key.tenant;
}
