import { createHash, timingSafeEqual } from 'node:crypto';
import { NexusError } from '../core/errors.ts';
import type { Stage } from './compose.ts';
import type { GatewayRequest, Principal, RequestHeaders } from './request.ts';

const master: Principal = { kind: 'master' };
const open: Principal = { kind: 'open' };

/**
 * The identify stage: who is asking. With `NEXUS_MASTER_KEY` set, the key must come as
 * `Authorization: Bearer <key>` or `X-API-Key` (Anthropic clients send the latter); it is compared as SHA-256
 * digests in constant time, so neither its length nor its content leaks through timing. Without a master key
 * Nexus serves loopback only (app.ts), and every caller is the operator. Runs before the body is read, so an
 * unauthenticated client never makes Nexus read a large body.
 */
export function createIdentifyStage(masterKey: string | undefined): Stage<GatewayRequest> {
  const expected = masterKey === undefined ? undefined : digest(masterKey);
  return async function identify(request, next) {
    request.principal = identifyPrincipal(request.headers, expected);
    return next();
  };
}

/** The principal of a request's headers; throws `invalid_api_key` (401) when a key is required and wrong. */
export function identifyPrincipal(headers: RequestHeaders, expected: Buffer | undefined): Principal {
  if (expected === undefined) return open;
  const offered = offeredKey(headers);
  if (offered !== undefined && offered !== '' && timingSafeEqual(digest(offered), expected)) return master;
  throw new NexusError(
    'invalid_api_key',
    'Missing or invalid API key. Send it as Authorization: Bearer <key> or X-API-Key.',
  );
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
