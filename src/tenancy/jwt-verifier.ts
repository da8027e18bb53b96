import {
  createRemoteJWKSet,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from 'jose';

/** `auth.jwt` of the configuration (config/schema.ts). */
export interface JwtSettings {
  readonly secret?: string | undefined;
  readonly jwksUrl?: string | undefined;
  readonly issuer?: string | undefined;
  readonly audience?: string | undefined;
  readonly orgClaim: string;
  readonly projectClaim: string;
  readonly adminClaim: string;
}

/** Who a verified token speaks for. */
export type TokenIdentity =
  | { readonly kind: 'admin'; readonly subject: string | undefined }
  | {
      readonly kind: 'tenant';
      readonly subject: string | undefined;
      readonly orgId: string;
      readonly projectId: string | null;
      /** Epoch ms of `exp`; null without one. */
      readonly expiresAt: number | null;
    };

/** A token that does not verify, or verifies but names nobody; the message says why without echoing it. */
export class TokenRefused extends Error {
  override readonly name = 'TokenRefused';
}

/** The identity provider's keys could not be fetched: the token may well be good, so this is not a 401. */
export class TokenUnverifiable extends Error {
  override readonly name = 'TokenUnverifiable';
}

/** Verified tokens kept, so a client that sends the same token on every request is verified once. */
const cacheLimit = 10_000;

const secretAlgorithms = ['HS256', 'HS384', 'HS512'];
const publicKeyAlgorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];

/** Three base64url parts, the first a JSON object (`eyJ` is `{"`): what a compact JWS looks like. */
const compactJws = /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/;

/**
 * Verifies JSON Web Tokens with jose: the signature (a shared secret, or the identity provider's JWKS, fetched
 * and cached by jose and refetched for an unknown key id), `exp`/`nbf` (30 s of clock skew), and `iss`/`aud`
 * when configured. A token is an admin's when its admin claim is `true`; otherwise it must name an
 * organization (and may name a project) through the configured claims. Identities are cached per token
 * until it expires, so the signature is checked once per token, not once per request.
 */
export class JwtVerifier {
  readonly #settings: JwtSettings;
  readonly #key: Uint8Array | JWTVerifyGetKey;
  readonly #algorithms: string[];
  readonly #cache = new Map<string, { identity: TokenIdentity; untilMs: number }>();

  constructor(settings: JwtSettings) {
    this.#settings = settings;
    if (settings.secret !== undefined) {
      this.#key = new TextEncoder().encode(settings.secret);
      this.#algorithms = secretAlgorithms;
    } else if (settings.jwksUrl !== undefined) {
      this.#key = createRemoteJWKSet(new URL(settings.jwksUrl), { timeoutDuration: 5_000 });
      this.#algorithms = publicKeyAlgorithms;
    } else {
      throw new TypeError('auth.jwt needs a secret or a jwksUrl');
    }
  }

  /** Whether a presented credential has the shape of a JWT (and so is for this verifier, not a key). */
  static looksLikeToken(text: string): boolean {
    return compactJws.test(text);
  }

  /** The identity of a token; throws TokenRefused when it does not verify or names nobody. */
  async verify(token: string, nowMs = Date.now()): Promise<TokenIdentity> {
    const cached = this.#cache.get(token);
    if (cached !== undefined && cached.untilMs > nowMs) return cached.identity;
    const payload = await this.#payload(token);
    const identity = this.#identity(payload);
    const untilMs = typeof payload.exp === 'number' ? payload.exp * 1000 : nowMs + 60_000;
    if (this.#cache.size >= cacheLimit) this.#cache.clear();
    this.#cache.set(token, { identity, untilMs });
    return identity;
  }

  async #payload(token: string): Promise<JWTPayload> {
    const { issuer, audience } = this.#settings;
    try {
      const options = {
        algorithms: this.#algorithms,
        clockTolerance: 30,
        ...(issuer === undefined ? {} : { issuer }),
        ...(audience === undefined ? {} : { audience }),
      };
      const key = this.#key;
      const { payload } =
        key instanceof Uint8Array
          ? await jwtVerify(token, key, options)
          : await jwtVerify(token, key, options);
      return payload;
    } catch (error) {
      // A network failure or timeout fetching the JWKS (anything that is not jose's verdict on the token).
      if (error instanceof joseErrors.JWKSTimeout || !(error instanceof joseErrors.JOSEError)) {
        throw new TokenUnverifiable("the identity provider's JWKS could not be fetched.", { cause: error });
      }
      throw new TokenRefused(reasonOf(error));
    }
  }

  #identity(payload: JWTPayload): TokenIdentity {
    const { orgClaim, projectClaim, adminClaim } = this.#settings;
    const subject = typeof payload.sub === 'string' ? payload.sub : undefined;
    if (payload[adminClaim] === true) return { kind: 'admin', subject };
    const orgId = payload[orgClaim];
    const projectId = payload[projectClaim];
    if (typeof orgId !== 'string' || orgId === '') {
      throw new TokenRefused(`the token has no '${orgClaim}' claim naming an organization.`);
    }
    if (projectId !== undefined && (typeof projectId !== 'string' || projectId === '')) {
      throw new TokenRefused(`the token's '${projectClaim}' claim is not a project id.`);
    }
    return {
      kind: 'tenant',
      subject,
      orgId,
      projectId: projectId ?? null,
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
    };
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'the token has expired.';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return `the token's '${error.claim}' claim is not accepted (${error.reason}).`;
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the token signature is not valid.';
  if (error instanceof joseErrors.JOSEAlgNotAllowed)
    return 'the token is signed with an algorithm not accepted here.';
  if (error instanceof joseErrors.JWKSNoMatchingKey)
    return "no key of the identity provider's JWKS matches the token.";
  return 'the token could not be verified.';
}
