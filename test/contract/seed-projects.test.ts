/**
 * Seed 004's projects and project keys on a real gateway with the default embedded store: provider keys sealed
 * at rest and never shown, a project's first key and the keys it issues (never stronger than their issuer),
 * revocation, and usage, costs and budgets read back from the ledger exactly.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ProviderKeyCipher } from '../../src/tenancy/provider-key-cipher.ts';
import {
  assertSeedError,
  call,
  type Envelope,
  json,
  type ListWire,
  type OrgWire,
  type ProjectWire,
} from '../support/admin-client.ts';
import { startGateway } from '../support/gateway.ts';
import { nanos, type SeedKey, type SeedProject, TenantFixture } from '../support/tenant-fixture.ts';

const limits = { timeout: 30_000 };
const messages = [{ role: 'user' as const, content: 'what does this cost?' }];

describe('seed 004 projects, project keys and usage', () => {
  const fixture = new TenantFixture();
  before(() => fixture.start());
  after(() => fixture.close());

  test(
    'seed 004: a project brings provider keys, sealed at rest and never shown; its first key works',
    limits,
    async () => {
      const providerKey = `sk-proj-${randomBytes(12).toString('hex')}`;
      const reply = await fixture.as(fixture.masterKey, 'POST', '/api/v1/projects', {
        name: 'byok',
        openaiKey: providerKey,
      });
      assert.equal(reply.status, 201, reply.text);
      assert.ok(!reply.text.includes(providerKey));
      const project = json<Envelope<SeedProject>>(reply).data;
      fixture.keep(project.apiKey);
      assert.equal(project.hasProviderKeys, true);

      const store = fixture.gateway.app.gateway.services.current!.store;
      const sealed = await store.projects.getProviderKeysCiphertext(project.id);
      assert.ok(sealed instanceof Uint8Array);
      assert.ok(!Buffer.from(sealed).includes(providerKey), 'only ciphertext is stored');
      const cipher = new ProviderKeyCipher(fixture.encryptionKey);
      assert.deepEqual(cipher.open(project.id, sealed), { openai: providerKey });
      assert.throws(() => cipher.open('proj_other', sealed), 'sealed for one project only');

      const current = await fixture.as(project.apiKey, 'GET', '/api/v1/projects/current');
      assert.equal(json<Envelope<{ id: string }>>(current).data.id, project.id);
      const seeded = await fixture.as(project.apiKey, 'POST', '/api/v1/completions/chat', {
        model: 'gpt-4o-mini',
        messages,
      });
      assert.equal(seeded.status, 200, seeded.text);
      const shown = await fixture.as(fixture.masterKey, 'GET', `/v1/admin/projects/${project.id}`);
      assert.equal(json<ProjectWire>(shown).has_provider_keys, true);
      for (const text of [current.text, shown.text, fixture.gateway.logs.join('\n')])
        assert.ok(!text.includes(providerKey));

      assertSeedError(
        await fixture.as(fixture.masterKey, 'POST', '/api/v1/projects', { name: 'x', openaiKy: 'sk' }),
        400,
        'invalid_request',
      );
      const bare = await startGateway({ NEXUS_MASTER_KEY: fixture.masterKey, HOST: '127.0.0.1' });
      try {
        const refused = await call(bare, 'POST', '/api/v1/projects', {
          key: fixture.masterKey,
          body: { name: 'byok', anthropicKey: providerKey },
        });
        assertSeedError(refused, 400, 'encryption_not_configured');
        assert.match(refused.text, /NEXUS_ENCRYPTION_KEY/);
        const orgs = await call(bare, 'GET', '/v1/admin/orgs', { key: fixture.masterKey });
        assert.deepEqual(json<ListWire<OrgWire>>(orgs).data, [], 'nothing was created');
      } finally {
        await bare.close();
      }
    },
  );

  test('seed 004 project keys: listed, budgeted, revoked; no key issues a stronger one', limits, async () => {
    const project = await fixture.seedProject('keys');
    const post = (key: string, body: Record<string, unknown>) =>
      fixture.as(key, 'POST', '/api/v1/projects/api-keys', body);
    const limited = await post(project.apiKey, { name: 'limited', dailyBudget: 2, monthlyBudget: 10 });
    assert.equal(limited.status, 201, limited.text);
    const limitedKey = json<Envelope<SeedKey>>(limited).data;
    const limitedSecret = fixture.keep(limitedKey.apiKey);
    assert.equal(limitedKey.dailyBudget, 2);

    const listed = await fixture.as(project.apiKey, 'GET', '/api/v1/projects/api-keys');
    const keys = json<Envelope<SeedKey[]>>(listed).data;
    assert.equal(keys.length, 2);
    assert.ok(keys.some((key) => key.id === limitedKey.id));
    assert.ok(keys.every((key) => key.apiKey === undefined));

    assertSeedError(await post(limitedSecret, { dailyBudget: 5 }), 403, 'permission_denied');
    assertSeedError(await post(limitedSecret, { dailyBudget: null }), 403, 'permission_denied');
    const child = json<Envelope<SeedKey>>(await post(limitedSecret, { name: 'child' })).data;
    fixture.keep(child.apiKey);
    assert.equal(child.dailyBudget, 2, 'by default, the creator’s own budget');

    const narrow = json<Envelope<SeedKey>>(
      await post(fixture.masterKey, { projectId: project.id, models: ['gpt-4o-mini'] }),
    ).data;
    const narrowSecret = fixture.keep(narrow.apiKey);
    assertSeedError(await post(narrowSecret, { models: null }), 403, 'permission_denied');
    assertSeedError(await post(narrowSecret, { models: ['gpt-4o'] }), 403, 'permission_denied');
    const narrowChild = json<Envelope<SeedKey>>(await post(narrowSecret, {})).data;
    fixture.keep(narrowChild.apiKey);
    assert.deepEqual(narrowChild.models, ['gpt-4o-mini']);

    assertSeedError(await post(fixture.masterKey, { name: 'where?' }), 400, 'invalid_request');
    assertSeedError(await post(project.apiKey, { name: 'x', rpm: 5 }), 400, 'invalid_request');
    assertSeedError(
      await fixture.as(project.apiKey, 'DELETE', '/api/v1/projects/api-keys'),
      400,
      'invalid_request',
    );
    const revoked = await fixture.as(project.apiKey, 'DELETE', `/api/v1/projects/api-keys/${limitedKey.id}`);
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal((await fixture.chat(limitedSecret)).status, 401);
    assert.equal((await fixture.chat(project.apiKey)).status, 200);
  });

  test('seed 004 usage: stats, costs and budget from the ledger', limits, async () => {
    const project = await fixture.seedProject('metered');
    await fixture.as(fixture.masterKey, 'PATCH', `/v1/admin/projects/${project.id}`, {
      budget: { daily_usd: 1, monthly_usd: 10 },
    });
    const keyReply = await fixture.as(fixture.masterKey, 'POST', '/api/v1/projects/api-keys', {
      projectId: project.id,
      dailyBudget: 0.5,
    });
    const secret = fixture.keep(json<Envelope<SeedKey>>(keyReply).data.apiKey);
    const costs = [(await fixture.chat(secret)).costUsd, (await fixture.chat(secret)).costUsd];
    const spent = costs.reduce((sum, cost) => sum + nanos(cost), 0);
    await fixture.flush();

    interface Stats {
      days: number;
      requests: number;
      cost: number;
      daily: Array<{ date: string; requests: number }>;
      byModel: Array<{ model: string }>;
    }
    const stats = json<Envelope<Stats>>(await fixture.as(secret, 'GET', '/api/v1/usage/stats?days=7')).data;
    assert.equal(stats.days, 7);
    assert.equal(stats.requests, 2);
    assert.equal(nanos(stats.cost), spent);
    assert.equal(stats.daily.length, 7);
    assert.equal(stats.daily.at(-1)?.requests, 2);
    assert.deepEqual(
      stats.byModel.map((group) => group.model),
      ['gpt-4o-mini'],
    );
    for (const days of ['0', '366', 'abc', '1.5']) {
      assertSeedError(
        await fixture.as(secret, 'GET', `/api/v1/usage/stats?days=${days}`),
        400,
        'invalid_request',
      );
    }
    const money = json<Envelope<{ today: number; thisMonth: number }>>(
      await fixture.as(secret, 'GET', '/api/v1/usage/costs'),
    );
    assert.equal(nanos(money.data.today), spent);
    assert.equal(nanos(money.data.thisMonth), spent);

    interface Budget {
      scope: string;
      id: string;
      dailyBudget: number;
      dailySpent: number;
      dailyRemaining: number;
      monthlyRemaining: number;
      key: { dailyBudget: number; dailyRemaining: number };
    }
    const budget = json<Envelope<Budget>>(await fixture.as(secret, 'GET', '/api/v1/usage/budget')).data;
    assert.equal(budget.scope, 'project');
    assert.equal(budget.id, project.id);
    assert.equal(budget.dailyBudget, 1);
    assert.equal(nanos(budget.dailySpent), spent);
    assert.equal(nanos(budget.dailyRemaining), 1e9 - spent, 'remaining is exact, from nano-USD');
    assert.equal(nanos(budget.monthlyRemaining), 10e9 - spent);
    assert.equal(nanos(budget.key.dailyRemaining), 0.5e9 - spent);
    assertSeedError(
      await fixture.as(fixture.masterKey, 'GET', '/api/v1/usage/budget'),
      400,
      'invalid_request',
    );
    const forMaster = await fixture.as(
      fixture.masterKey,
      'GET',
      `/api/v1/usage/budget?projectId=${project.id}`,
    );
    assert.equal(nanos(json<Envelope<Budget>>(forMaster).data.dailySpent), spent);
  });

  test('no key ever appears in a listing, the request log or a log line', limits, async () => {
    assert.ok(fixture.secrets.length >= 8);
    await fixture.assertNoLeaks();
  });
});
