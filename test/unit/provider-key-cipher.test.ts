import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { ProviderKeyCipher } from '../../src/tenancy/provider-key-cipher.ts';

const key = randomBytes(32).toString('base64');
const keys = { openai: 'sk-proj-abc', anthropic: 'sk-ant-xyz' };

describe('provider key cipher', () => {
  it('opens what it sealed, for the same project only, and seals with a fresh IV each time', () => {
    const cipher = new ProviderKeyCipher(key);
    const sealed = cipher.seal('proj_1', keys);
    assert.deepEqual(cipher.open('proj_1', sealed), keys);
    assert.ok(!Buffer.from(sealed).includes('sk-proj-abc'));
    assert.notDeepEqual(cipher.seal('proj_1', keys), sealed);
    assert.throws(() => cipher.open('proj_2', sealed));
  });

  it('refuses an altered value, another key, and what it did not seal', () => {
    const cipher = new ProviderKeyCipher(key);
    const sealed = Buffer.from(cipher.seal('proj_1', keys));
    const altered = Buffer.from(sealed);
    altered[altered.length - 1]! ^= 1;
    assert.throws(() => cipher.open('proj_1', altered));
    assert.throws(() => new ProviderKeyCipher(randomBytes(32).toString('base64')).open('proj_1', sealed));
    assert.throws(() => cipher.open('proj_1', new Uint8Array([1, 2, 3])));
    assert.throws(() => new ProviderKeyCipher(randomBytes(16).toString('base64')), RangeError);
  });

  it('NEXUS_ENCRYPTION_KEY must be 32 bytes in base64, checked at boot', () => {
    const config = loadConfig({ env: { NEXUS_ENCRYPTION_KEY: key }, providerIds: [] });
    assert.equal(config.tenancy.encryptionKey, key);
    assert.equal(loadConfig({ env: {}, providerIds: [] }).tenancy.encryptionKey, undefined);
    for (const bad of ['secret', randomBytes(16).toString('base64'), randomBytes(32).toString('hex')]) {
      assert.throws(
        () => loadConfig({ env: { NEXUS_ENCRYPTION_KEY: bad }, providerIds: [] }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.message.includes('tenancy.encryptionKey (from env NEXUS_ENCRYPTION_KEY)') &&
          !error.message.includes(bad),
      );
    }
  });
});
