import { createHash, timingSafeEqual } from 'node:crypto';
import { NexusError } from '../core/errors.ts';
import { keyPrefix } from '../tenancy/api-key.ts';
import type { Stage } from './compose.ts';
import type { GatewayRequest, Principal, RequestHeaders } from './request.ts';
import type { TenancyServices } from './tenancy.ts';

const master: Principal = { kind: 'master' };
const open: Principal = { kind: 'open' };

/**
 * The identify stage: who is asking. A key comes as `Authorization: Bearer <key>` or `X-API-Key` (Anthropic
 * clients send the latter). A tenant key (`nk-…`) is looked up in memory (tenancy/key-directory.ts: a revoked,
 * expired or unknown one is a 401, with or without a master key); the master key (`NEXUS_MASTER_KEY`) is
 * compared as SHA-256 digests in constant time. Without a master key Nexus serves loopback only (app.ts), and
 * a caller without a tenant key is the operator. Runs before the body is read, so an unauthenticated client
 * never makes Nexus read a large body.
 */
export function createIdentifyStage(
  masterKey: string | undefined,
  tenancy: TenancyServices,
): Stage<GatewayRequest> {
  const expected = masterKey === undefined ? undefined : digest(masterKey);
  return async function identify(request, next) {
    request.principal = identifyPrincipal(request.headers, expected, tenancy);
    return next();
  };
}

/** The principal of a request's headers; throws `invalid_api_key` (401) when the key is wrong or required. */
export function identifyPrincipal(
  headers: RequestHeaders,
  expected: Buffer | undefined,
  tenancy: TenancyServices,
): Principal {
  const offered = offeredKey(headers);
  if (offered?.startsWith(keyPrefix) && tenancy.keys !== undefined) {
    const found = tenancy.keys.lookup(offered);
    if (found.kind === 'found') return { kind: 'key', key: found.principal };
    throw invalidKey(
      found.kind === 'expired' ? 'The API key has expired.' : 'The API key is revoked or does not exist.',
    );
  }
  if (expected === undefined) return open;
  if (offered !== undefined && offered !== '' && timingSafeEqual(digest(offered), expected)) return master;
  throw invalidKey('Missing or invalid API key. Send it as Authorization: Bearer <key> or X-API-Key.');
}

function invalidKey(message: string): NexusError {
  return new NexusError('invalid_api_key', message);
}

function offeredKey(headers: RequestHeaders): string | undefined {
  const header = headers.authorization;
  if (typeof header === 'string' && /^Bearer\s+/i.test(header))
    return header.replace(/^Bearer\s+/i, '').trim();
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey.trim() : undefined;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
