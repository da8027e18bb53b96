import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

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
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** What listings show of a key: enough to tell keys apart, far too little to use one. */
export function displayPrefix(key: string): string {
  return key.slice(0, displayPrefixLength);
}

/** Constant-time comparison of two hex digests of equal length (false for any other length). */
export function digestsEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}
