import { randomBytes } from 'node:crypto';

/** The prefix of each kind of id, so an id says what it names (`org_…`, `proj_…`, `usr_…`, `key_…`). */
export type IdPrefix = 'org' | 'proj' | 'usr' | 'key';

/** A new random id: the prefix, `_`, and 96 random bits in hex. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}

export {
  displayPrefixLength as apiKeyPrefixLength,
  generateApiKey as newApiKeySecret,
  hashApiKey,
} from '../../tenancy/api-key.ts';
