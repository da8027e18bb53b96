import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  digestsEqual,
  displayPrefix,
  generateApiKey,
  hashApiKey,
  presentedKeyHash,
} from '../../src/tenancy/api-key.ts';
import { KeyDirectory, type KeyPrincipal, type KeySource } from '../../src/tenancy/key-directory.ts';

function principal(key: string, overrides: Partial<KeyPrincipal> = {}): KeyPrincipal {
  return {
    keyId: `key_${displayPrefix(key)}`,
    keyHash: hashApiKey(key),
    orgId: 'org_1',
    projectId: 'proj_1',
    userId: null,
    models: null,
    expiresAt: null,
    scopes: [{ kind: 'key', id: `key_${displayPrefix(key)}` }],
    providerKeys: null,
    ...overrides,
  };
}

/** A store whose keys and change version the test moves, and which can be made to fail. */
function source(initial: KeyPrincipal[]) {
  let keys = initial;
  let version = 1;
  let failing = false;
  const store: KeySource = {
    async load() {
      if (failing) throw new Error('database unreachable');
      return { keys, tenants: [] };
    },
    async changeVersion() {
      if (failing) throw new Error('database unreachable');
      return version;
    },
  };
  return {
    store,
    replace(next: KeyPrincipal[]) {
      keys = next;
      version++;
    },
    fail(value: boolean) {
      failing = value;
    },
  };
}

describe('tenant keys', () => {
  it('are nk- plus at least 128 random bits, and only their digest identifies them', () => {
    const key = generateApiKey();
    assert.match(key, /^nk-[A-Za-z0-9_-]{43}$/);
    assert.notEqual(generateApiKey(), key);
    assert.equal(hashApiKey(key).length, 64);
    assert.ok(!hashApiKey(key).includes(key.slice(3)));
  });

  it('are served from memory; a revocation is seen on the next refresh; an expired key is refused', async () => {
    const [live, revoked, expired] = [generateApiKey(), generateApiKey(), generateApiKey()];
    const keys = source([principal(live), principal(revoked), principal(expired, { expiresAt: 1_000 })]);
    const directory = new KeyDirectory(keys.store, { now: () => 2_000 });
    await directory.start(60_000);
    try {
      assert.equal(directory.lookup(live).kind, 'found');
      assert.equal(directory.lookup(expired).kind, 'expired');
      assert.equal(directory.lookup('nk-not-a-key').kind, 'unknown');
      assert.equal(directory.lookup(hashApiKey(live)).kind, 'unknown', 'the digest itself is not a key');
      keys.replace([principal(live), principal(expired, { expiresAt: 1_000 })]);
      assert.equal(directory.lookup(revoked).kind, 'found', 'until the directory hears of the change');
      await directory.refresh();
      assert.equal(directory.lookup(revoked).kind, 'unknown');
    } finally {
      directory.stop();
    }
  });

  it('a failing store keeps the last good directory, and a reload after it recovers applies changes', async () => {
    const [first, second] = [generateApiKey(), generateApiKey()];
    const keys = source([principal(first)]);
    const errors: unknown[] = [];
    const directory = new KeyDirectory(keys.store, { onError: (error) => errors.push(error) });
    await directory.start(60_000);
    try {
      keys.fail(true);
      await directory.refresh();
      assert.equal(directory.lookup(first).kind, 'found', 'tenants are not locked out by a database outage');
      assert.equal(errors.length, 1);
      keys.fail(false);
      keys.replace([principal(second)]);
      await directory.refresh();
      assert.equal(directory.lookup(first).kind, 'unknown');
      assert.equal(directory.lookup(second).kind, 'found');
    } finally {
      directory.stop();
    }
  });
});

describe('presented keys', () => {
  it("are hashed as stored keys are, SHA-256 in hex, whether remembered or not (past the memo's bound too)", () => {
    const keys = Array.from({ length: 5_000 }, () => generateApiKey());
    for (const round of [1, 2]) {
      for (const key of keys) {
        const expected = createHash('sha256').update(key, 'utf8').digest('hex');
        assert.equal(presentedKeyHash(key), expected, `round ${round}`);
        assert.equal(hashApiKey(key), expected);
      }
    }
  });

  it('compare digests by every character: equal only when the whole digest is', () => {
    const digest = hashApiKey(generateApiKey());
    const flip = (at: number) =>
      `${digest.slice(0, at)}${digest[at] === '0' ? '1' : '0'}${digest.slice(at + 1)}`;
    assert.equal(digestsEqual(digest, `${digest}`), true);
    assert.equal(digestsEqual(digest, flip(0)), false);
    assert.equal(digestsEqual(digest, flip(digest.length - 1)), false);
    assert.equal(digestsEqual(digest, digest.slice(1)), false);
    assert.equal(digestsEqual('', ''), true);
  });
});

describe('scopes whose limits change', () => {
  it('are reported after a reload (new ones too), never on the first load or when nothing changed', async () => {
    const a = generateApiKey();
    const b = generateApiKey();
    const project = { kind: 'project' as const, id: 'proj_1', budget: { monthly_usd: 5 } };
    const keyA = principal(a, { scopes: [{ kind: 'key', id: 'key_a' }, project] });
    const fake = source([keyA]);
    const reports: string[][] = [];
    const directory = new KeyDirectory(fake.store, {
      onChanged: (scopes) => reports.push(scopes.map((scope) => `${scope.kind}:${scope.id}`)),
    });
    await directory.start(60_000);
    directory.stop();
    assert.deepEqual(reports, [], 'the first load is seeded by the gateway at start');
    fake.replace([keyA]);
    await directory.refresh();
    assert.deepEqual(reports, [], 'the same limits: nothing to report');
    // The project's budget changes and a key is added under it.
    const raised = { ...project, budget: { monthly_usd: 10 } };
    fake.replace([
      principal(a, { scopes: [{ kind: 'key', id: 'key_a' }, raised] }),
      principal(b, { scopes: [{ kind: 'key', id: 'key_b', limits: { rpm: 5 } }, raised] }),
    ]);
    await directory.refresh();
    assert.deepEqual(reports, [['project:proj_1', 'key:key_b']]);
    assert.deepEqual(
      [...directory.scopes()].map((scope) => `${scope.kind}:${scope.id}`),
      ['key:key_a', 'project:proj_1', 'key:key_b', 'project:proj_1'],
    );
  });
});
