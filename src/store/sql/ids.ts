import { createHash, randomBytes } from 'node:crypto';

/** The prefix of each kind of id, so an id says what it names (`org_…`, `proj_…`, `usr_…`, `key_…`). */
export type IdPrefix = 'org' | 'proj' | 'usr' | 'key';

/** A new random id: the prefix, `_`, and 96 random bits in hex. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}

/** A new API key secret: `nk-` and 256 random bits in base64url (46 characters). Shown once, stored hashed. */
export function newApiKeySecret(): string {
  return `nk-${randomBytes(32).toString('base64url')}`;
}

/** Characters of a key kept in clear for display (`nk-` and 9 more): enough to tell keys apart, no more. */
export const apiKeyPrefixLength = 12;

/** SHA-256 of the whole key, lower-case hex: what the store keeps and looks keys up by. */
export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}
