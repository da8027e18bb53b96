import { hash } from 'node:crypto';
import type { CacheKey, CacheKind } from './cache-types.ts';

/**
 * The exact-cache key (issue 15, item 1): SHA-256 over the key version, the tenant partition, the operation
 * kind, the model and the canonical request. Bump `cacheKeyVersion` whenever the canonical form or the entry
 * format changes: every older entry then simply stops matching and expires on its TTL.
 */
export const cacheKeyVersion = 'v1';

/**
 * Top-level request fields that do not change the answer, left out of the key: delivery (`stream`,
 * `stream_options`), attribution (`user`, `metadata`, `safety_identifier`, `prompt_cache_key`, `store`),
 * Nexus's routing (`fallbacks`, `models`; the model itself is keyed separately) and cache policy (`cache`,
 * `cacheTtl`). Everything else stays, including `n`, `seed`, `temperature`, `top_p`, `max_tokens`, `tools`,
 * `tool_choice`, `response_format`, `stop`, and fields Nexus does not know (an unknown field may change the
 * answer, so it must split the key).
 */
export const fieldsOutsideKey: ReadonlySet<string> = new Set([
  'model',
  'stream',
  'stream_options',
  'user',
  'metadata',
  'safety_identifier',
  'prompt_cache_key',
  'store',
  'fallbacks',
  'models',
  'cache',
  'cacheTtl',
]);

/**
 * The request as the key sees it: JSON with object keys sorted at every depth (JSON objects are unordered,
 * so `{"a":1,"b":2}` and `{"b":2,"a":1}` are one request) and array order kept (message order, tool order
 * and input order are part of the question). Top-level fields in `fieldsOutsideKey` are dropped, and so are
 * top-level nulls, which the APIs treat as "not given". Object fields whose value is `undefined` are dropped,
 * as `JSON.stringify` does.
 */
export function canonicalRequest(body: Readonly<Record<string, unknown>>): string {
  return canonicalObject(body, true);
}

/** JSON text of `value` with object keys sorted recursively; array order kept. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    // JSON.stringify maps a non-finite number to null and leaves undefined out, as the wire would.
    return JSON.stringify(value) ?? 'null';
  }
  if (!Array.isArray(value)) return canonicalObject(value as Readonly<Record<string, unknown>>, false);
  // Built with += rather than map/join: this runs on every cacheable request, hits included.
  let text = '[';
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    text += `${i === 0 ? '' : ','}${item === undefined ? 'null' : canonicalJson(item)}`;
  }
  return `${text}]`;
}

/** An object's canonical JSON; at the top of a request, without the fields outside the key and nulls. */
function canonicalObject(record: Readonly<Record<string, unknown>>, request: boolean): string {
  const names = Object.keys(record).sort();
  let text = '{';
  for (const name of names) {
    const value = record[name];
    if (value === undefined || (request && (value === null || fieldsOutsideKey.has(name)))) continue;
    text += `${text.length === 1 ? '' : ','}${JSON.stringify(name)}:${canonicalJson(value)}`;
  }
  return `${text}}`;
}

/** What identifies one exact-cache entry. */
export interface CacheKeyInput {
  /** The tenant partition (`tenantPartition`). */
  readonly tenant: string;
  readonly kind: CacheKind;
  /** The model the client asked for (as resolved before routing: an alias and its target are two keys). */
  readonly model: string;
  /** The request body as parsed (canonical chat / embeddings request, or the client's Anthropic body). */
  readonly body: Readonly<Record<string, unknown>>;
}

/** The exact-cache key of a request. Its digest never equals another tenant's, kind's or model's. */
export function cacheKey(input: CacheKeyInput): CacheKey {
  // A JSON array header keeps the parts apart: no choice of tenant or model text can shift a boundary.
  const header = JSON.stringify([cacheKeyVersion, input.tenant, input.kind, input.model]);
  // One-shot hash: a third of createHash().update().digest()'s time for a request-sized input.
  const digest = hash('sha256', `${header}\n${canonicalRequest(input.body)}`, 'hex');
  return { tenant: input.tenant, digest };
}

/**
 * The partition string of a tenant: its organization and project (every key of one project shares answers;
 * another project never does; a key issued to an organization alone has the organization's partition). The
 * master key and an open gateway each have a partition of their own, never shared with a tenant. Ids are
 * percent-encoded, so no id can forge another partition's separators.
 */
export function tenantPartition(
  tenant:
    | { readonly kind: 'key'; readonly orgId: string; readonly projectId: string | null }
    | { readonly kind: 'master' }
    | { readonly kind: 'open' },
): string {
  if (tenant.kind !== 'key') return tenant.kind;
  const org = `org:${encodeURIComponent(tenant.orgId)}`;
  return tenant.projectId === null ? org : `${org}/project:${encodeURIComponent(tenant.projectId)}`;
}

/** Why a request is not cached at all (neither read nor stored), or undefined when it may be. */
export type NotCacheableReason = 'multiple_choices' | 'audio_output' | 'count_tokens';

/**
 * Whether a request may be answered from, and stored in, the exact cache:
 * - chat with `n > 1`: the client asked for several distinct samples of one prompt; replaying one stored set
 *   would hand every caller the same "random" samples, which is not what asking for n samples means;
 * - chat asking for audio output (`audio`, or `modalities` with `audio`): the reply refers to audio by an id
 *   that expires upstream (`audio.expires_at`), so a replay could point at nothing;
 * - `count_tokens` (Anthropic): cheap, and not an answer worth storing.
 * Everything else is cacheable; whether a given reply is stored is `isStorableReply`'s call.
 */
export function notCacheableReason(
  kind: CacheKind,
  body: Readonly<Record<string, unknown>>,
  endpoint?: 'messages' | 'count_tokens',
): NotCacheableReason | undefined {
  if (endpoint === 'count_tokens') return 'count_tokens';
  if (kind !== 'chat') return undefined;
  if (typeof body.n === 'number' && body.n > 1) return 'multiple_choices';
  const modalities = body.modalities;
  if (
    (body.audio !== undefined && body.audio !== null) ||
    (Array.isArray(modalities) && modalities.includes('audio'))
  ) {
    return 'audio_output';
  }
  return undefined;
}
