import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Every Nexus tenant key starts with this, so it is recognisable in configs and secret scanners. */
export const keyPrefix = 'nk-';

/**
 * A new tenant key: `nk-` + 32 base64url characters of 192 random bits (the issue asks for at least 128). It
 * is shown once, at creation; only its SHA-256 digest is stored (`hashApiKey`), and its first 12 characters
 * (`displayPrefix`) identify it in listings.
 */
export function generateApiKey(): string {
  return `${keyPrefix}${randomBytes(24).toString('base64url')}`;
}

/** The stored form of a key: SHA-256, hex. A key is a high-entropy random string, so no salt or slow hash is needed. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** What listings show of a key: enough to tell keys apart, far too little to use one. */
export function displayPrefix(key: string): string {
  return key.slice(0, 12);
}

/** Constant-time comparison of two hex digests of equal length (false for any other length). */
export function digestsEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}
