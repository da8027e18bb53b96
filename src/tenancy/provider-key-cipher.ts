import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** A project's own provider keys (seed 004's `openaiKey`, `anthropicKey`), by catalogue provider id. */
export type ProviderKeys = Readonly<Partial<Record<'openai' | 'anthropic', string>>>;

/** First byte of every sealed value, so a later format can be told apart. */
const formatVersion = 1;
const ivBytes = 12;
const tagBytes = 16;

/**
 * Seals and opens projects' own provider keys with AES-256-GCM under `NEXUS_ENCRYPTION_KEY`, so the store (and
 * any copy of the database) holds only ciphertext. The project id is the associated data: a sealed value moved
 * to another project's row fails to open instead of lending that project someone else's provider account.
 * Layout: version (1 byte) | IV (12 random bytes) | tag (16 bytes) | ciphertext of the keys as JSON.
 */
export class ProviderKeyCipher {
  readonly #key: Buffer;

  /** `base64Key`: 32 bytes in base64, as the config schema checks (`tenancy.encryptionKey`). */
  constructor(base64Key: string) {
    const key = Buffer.from(base64Key.trim(), 'base64');
    if (key.length !== 32) throw new RangeError('the encryption key must be 32 bytes in base64');
    this.#key = key;
  }

  /** Encrypts the keys for one project. */
  seal(projectId: string, keys: ProviderKeys): Uint8Array {
    const iv = randomBytes(ivBytes);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(projectId, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(JSON.stringify(keys), 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([formatVersion]), iv, cipher.getAuthTag(), ciphertext]);
  }

  /** Decrypts a project's keys; throws when the value was altered, sealed for another project or another key. */
  open(projectId: string, sealed: Uint8Array): ProviderKeys {
    const bytes = Buffer.from(sealed);
    if (bytes.length < 1 + ivBytes + tagBytes || bytes[0] !== formatVersion) {
      throw new Error('not a sealed provider-key value');
    }
    const iv = bytes.subarray(1, 1 + ivBytes);
    const tag = bytes.subarray(1 + ivBytes, 1 + ivBytes + tagBytes);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, iv);
    decipher.setAAD(Buffer.from(projectId, 'utf8'));
    decipher.setAuthTag(tag);
    const plain = Buffer.concat([decipher.update(bytes.subarray(1 + ivBytes + tagBytes)), decipher.final()]);
    return JSON.parse(plain.toString('utf8')) as ProviderKeys;
  }
}
