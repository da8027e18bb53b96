import { NexusError } from '../core/errors.ts';
import type { Warning } from '../core/warning.ts';

/** SPEC §3.3: entries live an hour unless the request says otherwise. */
export const defaultCacheTtlSeconds = 3600;
/** Seed 004's bounds on a per-request TTL, seconds. */
export const minCacheTtlSeconds = 60;
export const maxCacheTtlSeconds = 86_400;

/** What one request lets the exact cache do. `read: false` is reported as `x-nexus-cache: BYPASS`. */
export interface CachePolicy {
  /** Answer from a stored entry when there is one. */
  readonly read: boolean;
  /** Store this request's complete successful answer. */
  readonly write: boolean;
  /** How long a stored answer lives, seconds. */
  readonly ttlSeconds: number;
}

/** The per key / route defaults the request's own directives refine. */
export interface CachePolicyDefaults {
  /** False: the cache is off for this key or route, whatever the request says. Default true. */
  readonly enabled?: boolean | undefined;
  /** Default `defaultCacheTtlSeconds`. */
  readonly ttlSeconds?: number | undefined;
}

/** Request headers, lower-case names (node's `IncomingHttpHeaders` fits). */
export type PolicyHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * A request's cache policy, from its body and headers. The most restrictive directive wins:
 *
 * | source | value | read | write |
 * |---|---|---|---|
 * | body `cache` | `false` | no | no |
 * | `Cache-Control` | `no-store` | no | no |
 * | `Cache-Control` | `no-cache` | no | yes (the fresh answer replaces the stored one) |
 * | `x-nexus-cache` | `bypass` | no | no |
 * | `x-nexus-cache` | `refresh` | no | yes |
 *
 * TTL: body `cacheTtl` (seed 004), else header `x-nexus-cache-ttl`, else the defaults' TTL; both must be
 * whole seconds from 60 to 86400. Other `Cache-Control` directives are ignored (they describe HTTP caches,
 * not this one).
 *
 * @throws NexusError `invalid_request` (400) with `param` `cache`, `cacheTtl` or `x-nexus-cache-ttl` for a
 *   value of the wrong type or out of range: a TTL the client set on purpose is never silently replaced.
 * @returns the policy, and a warning for an `x-nexus-cache` value it does not know (ignored, as an unknown
 *   `X-Routing-Mode` is, so that a newer client still gets an answer).
 */
export function parseCachePolicy(
  body: { readonly cache?: unknown; readonly cacheTtl?: unknown },
  headers: PolicyHeaders,
  defaults: CachePolicyDefaults = {},
): { value: CachePolicy; warnings: Warning[] } {
  const warnings: Warning[] = [];
  let read = defaults.enabled ?? true;
  let write = read;

  const cache = body.cache;
  if (cache !== undefined && cache !== null && typeof cache !== 'boolean') {
    throw new NexusError('invalid_request', "'cache' must be a boolean.", { param: 'cache' });
  }
  if (cache === false) read = write = false;

  const directives = cacheControlDirectives(headers['cache-control']);
  if (directives.has('no-store')) read = write = false;
  if (directives.has('no-cache')) read = false;

  const mode = headerValue(headers['x-nexus-cache'])?.trim().toLowerCase();
  if (mode === 'bypass') read = write = false;
  else if (mode === 'refresh') read = false;
  else if (mode !== undefined && mode !== '') {
    warnings.push({
      param: 'x-nexus-cache',
      message: `Unknown x-nexus-cache value '${mode}' ignored; use 'bypass' or 'refresh'.`,
    });
  }

  const bodyTtl = ttlFromBody(body.cacheTtl);
  const headerTtl = ttlFromHeader(headerValue(headers['x-nexus-cache-ttl']));
  const ttlSeconds = bodyTtl ?? headerTtl ?? defaults.ttlSeconds ?? defaultCacheTtlSeconds;
  return { value: { read, write, ttlSeconds }, warnings };
}

const ttlRule = `a whole number of seconds from ${minCacheTtlSeconds} to ${maxCacheTtlSeconds}`;

function validTtl(value: number): boolean {
  return Number.isInteger(value) && value >= minCacheTtlSeconds && value <= maxCacheTtlSeconds;
}

function ttlFromBody(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && validTtl(value)) return value;
  throw new NexusError('invalid_request', `'cacheTtl' must be ${ttlRule}; got ${JSON.stringify(value)}.`, {
    param: 'cacheTtl',
  });
}

function ttlFromHeader(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const seconds = /^\d{1,6}$/.test(text) ? Number(text) : Number.NaN;
  if (validTtl(seconds)) return seconds;
  throw new NexusError(
    'invalid_request',
    `Header 'x-nexus-cache-ttl' must be ${ttlRule}; got '${text.slice(0, 32)}'.`,
    { param: 'x-nexus-cache-ttl' },
  );
}

/** A header that came more than once is read as its values joined by commas (RFC 9110 §5.3). */
function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

/** The directive names of `Cache-Control`, lower-case (`no-cache`, `max-age`, ...). */
function cacheControlDirectives(value: string | string[] | undefined): Set<string> {
  const text = headerValue(value);
  const names = new Set<string>();
  if (text === undefined) return names;
  for (const part of text.split(',')) {
    const name = part.split('=', 1)[0]!.trim().toLowerCase();
    if (name !== '') names.add(name);
  }
  return names;
}
