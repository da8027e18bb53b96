import { NexusError } from '../core/errors.ts';
import { digestsEqual, hashApiKey, keyPrefix, presentedKeyHash } from '../tenancy/api-key.ts';
import { JwtVerifier, type TokenIdentity, TokenRefused, TokenUnverifiable } from '../tenancy/jwt-verifier.ts';
import type { Stage } from './compose.ts';
import type { GatewayRequest, Principal, RequestHeaders } from './request.ts';
import type { TenancyServices } from './tenancy.ts';

const master: Principal = { kind: 'master' };
const open: Principal = { kind: 'open' };

/**
 * The identify stage: who is asking. A key comes as `Authorization: Bearer <key>` or `X-API-Key` (Anthropic
 * clients send the latter). A tenant key (`nk-…`) is looked up in memory (tenancy/key-directory.ts: a revoked,
 * expired or unknown one is a 401, with or without a master key); the master key (`NEXUS_MASTER_KEY`) is
 * compared as SHA-256 digests in constant time (a presented secret's digest is remembered: `presentedKeyHash`). Without a master key Nexus serves loopback only (app.ts), and
 * a caller without a tenant key is the operator. With `auth.jwt`, a bearer token shaped like a JWT is verified
 * instead (`tokenPrincipal`). Runs before the body is read, so an unauthenticated client never makes Nexus read
 * a large body.
 */
export function createIdentifyStage(
  masterKey: string | undefined,
  tenancy: TenancyServices,
  jwt?: JwtVerifier,
): Stage<GatewayRequest> {
  const expected = masterKey === undefined ? undefined : hashApiKey(masterKey);
  return async function identify(request, next) {
    const offered = offeredKey(request.headers);
    request.principal =
      jwt !== undefined && offered !== undefined && JwtVerifier.looksLikeToken(offered)
        ? await tokenPrincipal(jwt, offered, tenancy)
        : identifyPrincipal(offered, expected, tenancy);
    return next();
  };
}

/**
 * The principal of a JSON Web Token (`auth.jwt`): the master's for an admin token; otherwise the organization
 * and project it names, under their scopes (the project's and the org's limits and budgets) and with the
 * project's own provider keys, as a key of that project would have. A token that does not verify, or names a
 * tenant that does not exist, is a 401; an identity provider out of reach is a 503.
 */
async function tokenPrincipal(jwt: JwtVerifier, token: string, tenancy: TenancyServices): Promise<Principal> {
  let identity: TokenIdentity;
  try {
    identity = await jwt.verify(token);
  } catch (error) {
    if (error instanceof TokenUnverifiable) {
      throw new NexusError('auth_unavailable', `The token could not be verified: ${error.message}`, {
        retryAfterSeconds: 1,
      });
    }
    if (error instanceof TokenRefused) throw invalidKey(`The token is not accepted: ${error.message}`);
    throw error;
  }
  if (identity.kind === 'admin') return master;
  const tenant = tenancy.keys?.tenant(identity.orgId, identity.projectId);
  if (tenant === undefined) {
    throw invalidKey('The token names an organization or project that does not exist.');
  }
  return {
    kind: 'key',
    key: {
      keyId: `jwt:${identity.subject ?? 'anonymous'}`,
      keyHash: '',
      orgId: tenant.orgId,
      projectId: tenant.projectId,
      userId: null,
      models: null,
      expiresAt: identity.expiresAt,
      scopes: tenant.scopes,
      providerKeys: tenant.providerKeys,
    },
  };
}

/** The principal of a presented key; throws `invalid_api_key` (401) when the key is wrong or required. */
export function identifyPrincipal(
  offered: string | undefined,
  expected: string | undefined,
  tenancy: TenancyServices,
): Principal {
  if (offered?.startsWith(keyPrefix) && tenancy.keys !== undefined) {
    const found = tenancy.keys.lookup(offered);
    if (found.kind === 'found') return { kind: 'key', key: found.principal };
    throw invalidKey(
      found.kind === 'expired' ? 'The API key has expired.' : 'The API key is revoked or does not exist.',
    );
  }
  if (expected === undefined) return open;
  if (offered !== undefined && offered !== '' && digestsEqual(presentedKeyHash(offered), expected))
    return master;
  throw invalidKey('Missing or invalid API key. Send it as Authorization: Bearer <key> or X-API-Key.');
}

function invalidKey(message: string): NexusError {
  return new NexusError('invalid_api_key', message);
}

/** The key a client presented: `Authorization: Bearer <key>`, else `X-API-Key`. */
export function offeredKey(headers: RequestHeaders): string | undefined {
  const header = headers.authorization;
  if (typeof header === 'string' && /^Bearer\s+/i.test(header))
    return header.replace(/^Bearer\s+/i, '').trim();
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey.trim() : undefined;
}
