import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import { openStore, type Store } from '../../src/store/sql/create-store.ts';
import { hashApiKey } from '../../src/store/sql/ids.ts';
import { migrate } from '../../src/store/sql/migrate.ts';
import { openDatabase } from '../../src/store/sql/open-database.ts';
import { StoreError } from '../../src/store/sql/store-error.ts';
import type { StoreBackend } from './store-backends.ts';

/** Opens a fresh store on the backend, runs `work`, closes it; skips when the server is missing. */
export async function withStore(
  backend: StoreBackend,
  context: TestContext,
  work: (store: Store) => Promise<void>,
): Promise<void> {
  const options = await backend.fresh(context);
  if (options === undefined) return;
  const store = await openStore(options);
  try {
    await work(store);
  } finally {
    await store.close();
  }
}

function storeError(code: StoreError['code']) {
  return (error: unknown) => error instanceof StoreError && error.code === code;
}

/** Migrations, organizations, projects, users and keys: the same tests on every backend. */
export function tenancySuite(backend: StoreBackend): void {
  it('migrations applied twice are a no-op, and reopening keeps the data', async (context) => {
    const options = await backend.fresh(context);
    if (options === undefined) return;
    const first = await openStore(options);
    assert.deepEqual(first.migration.applied, [1]);
    const org = await first.organizations.create({ name: 'kept' });
    const database = openDatabase(options);
    try {
      assert.deepEqual(await migrate(database), { applied: [], version: 1 });
    } finally {
      await database.db.destroy();
    }
    await first.close();
    const second = await openStore(options);
    try {
      assert.deepEqual(second.migration, { applied: [], version: 1 });
      assert.deepEqual(await second.organizations.get(org.id), org);
    } finally {
      await second.close();
    }
  });

  it('creates, reads, changes and deletes organizations, projects and users; create returns the stored row', async (context) => {
    await withStore(backend, context, async (store) => {
      const org = await store.organizations.create({
        name: 'Acme',
        limits: { rpm: 60, rph: 1000 },
        budget: { dailyUsd: 1.1, monthlyUsd: 20 },
      });
      assert.match(org.id, /^org_[0-9a-f]{24}$/);
      assert.deepEqual(org.limits, { rpm: 60, rph: 1000, tpm: null, tokenBudget: null });
      assert.deepEqual(org.budget, { dailyUsd: 1.1, monthlyUsd: 20 });
      assert.deepEqual(await store.organizations.get(org.id), org);

      // An absent field is kept, a null one cleared (unlimited).
      const changed = await store.organizations.update(org.id, { limits: { rpm: null, tpm: 5000 } });
      assert.deepEqual(changed?.limits, { rpm: null, rph: 1000, tpm: 5000, tokenBudget: null });
      assert.deepEqual(changed?.budget, org.budget);

      const project = await store.projects.create({ orgId: org.id, name: 'web', budget: { dailyUsd: 0.5 } });
      assert.match(project.id, /^proj_/);
      assert.equal(project.hasProviderKeys, false);
      assert.deepEqual(await store.projects.get(project.id), project);
      assert.ok(await store.projects.setProviderKeysCiphertext(project.id, new Uint8Array([0, 1, 255])));
      assert.equal((await store.projects.get(project.id))?.hasProviderKeys, true);
      assert.deepEqual(
        await store.projects.getProviderKeysCiphertext(project.id),
        new Uint8Array([0, 1, 255]),
      );
      assert.ok(!JSON.stringify(await store.projects.list()).includes('ciphertext'));

      const user = await store.users.create({ orgId: org.id, email: 'Ann@Example.com', name: 'Ann' });
      assert.match(user.id, /^usr_/);
      assert.equal(user.plan, 'free');
      assert.equal(user.requestQuota, null);
      assert.deepEqual(await store.users.findByEmail('ann@example.COM'), user);
      await assert.rejects(
        store.users.create({ orgId: org.id, email: 'ann@example.com' }),
        storeError('conflict'),
      );
      const upgraded = await store.users.update(user.id, { plan: 'pro', requestQuota: 10_000 });
      assert.equal(upgraded?.plan, 'pro');
      assert.equal(upgraded?.requestQuota, 10_000);

      await assert.rejects(
        store.projects.create({ orgId: 'org_missing', name: 'x' }),
        storeError('not_found'),
      );
      await assert.rejects(
        store.users.create({ orgId: 'org_missing', email: 'x@y.z' }),
        storeError('not_found'),
      );

      // Deleting the organization takes its projects, users and keys with it.
      await store.apiKeys.create({ projectId: project.id });
      assert.equal(await store.organizations.delete(org.id), true);
      assert.equal(await store.projects.get(project.id), undefined);
      assert.equal(await store.users.get(user.id), undefined);
      assert.deepEqual(await store.apiKeys.list(), []);
      assert.equal(await store.organizations.delete(org.id), false);
    });
  });

  it('issues keys shown once and stored as a hash; a listing never exposes the hash', async (context) => {
    await withStore(backend, context, async (store) => {
      const org = await store.organizations.create({ name: 'Acme' });
      const project = await store.projects.create({ orgId: org.id, name: 'web' });
      const user = await store.users.create({ orgId: org.id, email: 'dev@acme.test' });
      const created = await store.apiKeys.create({
        projectId: project.id,
        userId: user.id,
        name: 'ci',
        models: ['gpt-4o-mini', 'groq/llama-3.1-8b-instant'],
        metadata: { team: 'search', tags: ['a', 'b'] },
        limits: { rpm: 60 },
        budget: { monthlyUsd: 1 },
      });
      const { secret, key } = created;
      assert.match(secret, /^nk-[A-Za-z0-9_-]{43}$/);
      assert.match(key.id, /^key_/);
      assert.equal(key.orgId, org.id, 'the organization comes from the project');
      assert.equal(key.keyPrefix, secret.slice(0, 12));
      assert.deepEqual(await store.apiKeys.get(key.id), key);

      const found = await store.apiKeys.findByHash(hashApiKey(secret));
      assert.equal(found?.id, key.id);
      assert.equal(found?.keyHash, hashApiKey(secret));

      const listed = JSON.stringify([
        await store.apiKeys.list(),
        await store.apiKeys.list({ orgId: org.id }),
        await store.apiKeys.get(key.id),
      ]);
      assert.ok(!listed.includes(hashApiKey(secret)), 'the hash is not listed');
      assert.ok(!listed.includes(secret), 'the secret is not listed');
      assert.ok(!listed.includes('keyHash'));
      assert.deepEqual(await store.apiKeys.list({ userId: user.id }), [key]);

      const expiring = await store.apiKeys.create({ orgId: org.id, expiresAt: 1_000 });
      assert.deepEqual(
        (await store.apiKeys.listActive(500)).map((active) => active.id).sort(),
        [key.id, expiring.key.id].sort(),
      );
      assert.deepEqual(
        (await store.apiKeys.listActive(2_000)).map((active) => active.id),
        [key.id],
      );

      const revoked = await store.apiKeys.revoke(key.id, {}, 5_000);
      assert.equal(revoked?.revokedAt, 5_000);
      assert.equal(
        (await store.apiKeys.revoke(key.id, {}, 9_000))?.revokedAt,
        5_000,
        'first revocation kept',
      );
      assert.deepEqual(await store.apiKeys.listActive(500), [
        { ...expiring.key, keyHash: hashApiKey(expiring.secret) },
      ]);
      assert.equal((await store.apiKeys.findByHash(hashApiKey(secret)))?.revokedAt, 5_000);
      assert.equal(await store.apiKeys.findByHash(hashApiKey('nk-unknown')), undefined);

      await store.apiKeys.markUsed([expiring.key.id], 7_000);
      await store.apiKeys.markUsed([expiring.key.id], 6_000);
      assert.equal((await store.apiKeys.get(expiring.key.id))?.lastUsedAt, 7_000);
    });
  });

  it('raises the tenancy version on every change to keys and limits, so replicas know to reload', async (context) => {
    await withStore(backend, context, async (store) => {
      const seen = [await store.version()];
      const org = await store.organizations.create({ name: 'Acme' });
      seen.push(await store.version());
      const { key } = await store.apiKeys.create({ orgId: org.id });
      seen.push(await store.version());
      await store.apiKeys.update(key.id, { limits: { rpm: 10 } });
      seen.push(await store.version());
      await store.apiKeys.revoke(key.id);
      seen.push(await store.version());
      await store.organizations.update(org.id, { budget: { dailyUsd: 2 } });
      seen.push(await store.version());
      for (let index = 1; index < seen.length; index++) {
        assert.ok(seen[index]! > seen[index - 1]!, `version moved at step ${index}: ${seen.join(', ')}`);
      }
      await store.apiKeys.markUsed([key.id], 1);
      assert.equal(await store.version(), seen.at(-1), 'using a key is not a tenancy change');
    });
  });

  it("a scope never reaches another organization's or project's rows", async (context) => {
    await withStore(backend, context, async (store) => {
      const mine = await store.organizations.create({ name: 'mine' });
      const theirs = await store.organizations.create({ name: 'theirs' });
      const myProject = await store.projects.create({ orgId: mine.id, name: 'a' });
      const otherProject = await store.projects.create({ orgId: mine.id, name: 'b' });
      const theirProject = await store.projects.create({ orgId: theirs.id, name: 'c' });
      const theirUser = await store.users.create({ orgId: theirs.id, email: 'them@theirs.test' });
      const theirKey = (await store.apiKeys.create({ projectId: theirProject.id })).key;
      const scope = { orgId: mine.id };

      assert.equal(await store.organizations.get(theirs.id, scope), undefined);
      assert.deepEqual(await store.organizations.list(scope), [mine]);
      assert.equal(await store.projects.get(theirProject.id, scope), undefined);
      // Two projects made in the same millisecond list in id order, so compare the sets.
      assert.deepEqual(
        (await store.projects.list(scope)).map((project) => project.id).sort(),
        [myProject.id, otherProject.id].sort(),
      );
      assert.equal(await store.users.get(theirUser.id, scope), undefined);
      assert.equal(await store.apiKeys.get(theirKey.id, scope), undefined);
      assert.deepEqual(await store.apiKeys.list(scope), []);

      // Changes through a scope: nothing happens to the other tenant's rows.
      assert.equal(await store.projects.update(theirProject.id, { name: 'mine now' }, scope), undefined);
      assert.equal(await store.apiKeys.revoke(theirKey.id, scope), undefined);
      assert.equal(await store.users.delete(theirUser.id, scope), false);
      assert.equal(await store.projects.delete(theirProject.id, scope), false);
      assert.equal(await store.organizations.delete(theirs.id, scope), false);
      assert.equal((await store.projects.get(theirProject.id))?.name, 'c');
      assert.equal((await store.apiKeys.get(theirKey.id))?.revokedAt, null);
      assert.ok(await store.users.get(theirUser.id));

      // Creating with another tenant's ids: not found, as if they did not exist.
      await assert.rejects(
        store.apiKeys.create({ projectId: theirProject.id }, scope),
        storeError('not_found'),
      );
      await assert.rejects(
        store.apiKeys.create({ orgId: mine.id, projectId: theirProject.id }),
        storeError('not_found'),
      );
      await assert.rejects(
        store.apiKeys.create({ orgId: mine.id, userId: theirUser.id }),
        storeError('not_found'),
      );
      await assert.rejects(
        store.projects.create({ orgId: theirs.id, name: 'x' }, scope),
        storeError('not_found'),
      );

      // A project scope sees its own keys only.
      const myKey = (await store.apiKeys.create({ projectId: myProject.id })).key;
      await store.apiKeys.create({ projectId: otherProject.id });
      assert.deepEqual(await store.apiKeys.list({ orgId: mine.id, projectId: myProject.id }), [myKey]);
      await assert.rejects(
        store.apiKeys.create({ projectId: otherProject.id }, { orgId: mine.id, projectId: myProject.id }),
        storeError('not_found'),
      );
    });
  });

  it('stores hostile strings exactly: quotes, SQL, Unicode, 10 kB names', async (context) => {
    await withStore(backend, context, async (store) => {
      const names = [
        'O\'Brien "quoted" `back` \\ backslash',
        "'; DROP TABLE organizations; --",
        'Robert"); DELETE FROM api_keys WHERE ("1"="1',
        '名前 🚀 עברית ‮RTL‬ e\u0301 \u2028 \t\n\r',
        'x'.repeat(10 * 1024),
        `${'ü'.repeat(5_000)}🙂`,
        '%_* LIKE wildcards [a-z]',
      ];
      for (const name of names) {
        const org = await store.organizations.create({ name });
        assert.equal((await store.organizations.get(org.id))?.name, name);
        const project = await store.projects.create({ orgId: org.id, name });
        assert.equal((await store.projects.get(project.id))?.name, name);
        const { key } = await store.apiKeys.create({
          projectId: project.id,
          name,
          models: [name],
          metadata: { [name]: name },
        });
        const read = await store.apiKeys.get(key.id);
        assert.equal(read?.name, name);
        assert.deepEqual(read?.models, [name]);
        assert.deepEqual(read?.metadata, { [name]: name });
      }
      assert.equal((await store.organizations.list()).length, names.length, 'every table is still there');
      assert.equal(await store.projects.get("' OR '1'='1"), undefined);
      const user = await store.users.create({
        orgId: (await store.organizations.list())[0]!.id,
        email: "o'brien+'; drop table users;--@example.com",
      });
      assert.deepEqual(await store.users.findByEmail("O'BRIEN+'; DROP TABLE USERS;--@EXAMPLE.COM"), user);

      // Text neither database can keep as given is refused on both, never altered.
      await assert.rejects(store.organizations.create({ name: 'a\u0000b' }), storeError('invalid_input'));
      await assert.rejects(store.organizations.create({ name: 'lone \uD800' }), storeError('invalid_input'));
      await assert.rejects(
        store.organizations.create({ name: 'x', limits: { rpm: -1 } }),
        storeError('invalid_input'),
      );
      await assert.rejects(
        store.organizations.create({ name: 'x', budget: { dailyUsd: Number.NaN } }),
        storeError('invalid_input'),
      );
    });
  });
}
