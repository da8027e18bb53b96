import { hash, randomBytes } from 'node:crypto';

/** Every Nexus tenant key starts with this, so it is recognisable in configs and secret scanners. */
export const keyPrefix = 'nk-';

/** Characters of a key kept in clear for display (`nk-` and 9 more): enough to tell keys apart, no more. */
export const displayPrefixLength = 12;

/**
 * A new tenant key: `nk-` + 256 random bits in base64url (46 characters; the issue asks for at least 128). It
 * is shown once, at creation; only its SHA-256 digest is stored (`hashApiKey`).
 */
export function generateApiKey(): string {
  return `${keyPrefix}${randomBytes(32).toString('base64url')}`;
}

/** The stored form of a key: SHA-256, lower-case hex. A key is high-entropy random, so no salt or slow hash is needed. */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

/** Distinct presented secrets whose digests are remembered; past it the memo starts over. */
const presentedDigestsKept = 4096;
let presentedDigests = new Map<string, string>();

/**
 * `hashApiKey` of a secret a client presented (a tenant key, the master key), remembered for the last few
 * thousand distinct ones: a client sends the same key with every request, and hashing it each time was 3-4% of
 * a cached answer's CPU. The memo maps a secret to its digest only (a pure function, so a revoked key is still
 * refused: the directory decides by the digest); it is bounded, so a client spraying made-up keys pays a hash
 * for each as before and memory stays flat. It lives in process memory only, like the request that carried it.
 */
export function presentedKeyHash(secret: string): string {
  let digest = presentedDigests.get(secret);
  if (digest === undefined) {
    if (presentedDigests.size >= presentedDigestsKept) presentedDigests = new Map();
    digest = hashApiKey(secret);
    presentedDigests.set(secret, digest);
  }
  return digest;
}

/** What listings show of a key: enough to tell keys apart, far too little to use one. */
export function displayPrefix(key: string): string {
  return key.slice(0, displayPrefixLength);
}

/**
 * Constant-time comparison of two hex digests of equal length (false for any other length): every character
 * is compared, whatever the first difference. In JavaScript rather than `timingSafeEqual` on two decoded
 * buffers, which cost more than the rest of a key's lookup; what is compared are digests, never secrets.
 */
export function digestsEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}
