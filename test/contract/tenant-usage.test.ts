/**
 * Keys made through the admin API and seed 004's project routes, used for real traffic (the fake OpenAI as
 * upstream), on the default embedded store: usage and budgets read back from the ledger, each tenant seeing
 * only its own project, revocation at once, projects' provider keys sealed at rest, the public `/api/stats`
 * without a trace of any tenant, and no key ever in a listing or a log line.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { ProviderKeyCipher } from '../../src/tenancy/provider-key-cipher.ts';
import {
  type ApiReply,
  assertError,
  assertSeedError,
  type CallOptions,
  call,
  type Envelope,
  json,
  type KeyWire,
  type ListWire,
  type OrgWire,
  type ProjectWire,
  type UsageWire,
} from '../support/admin-client.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const masterKey = 'nexus-master-tenant-usage';
const upstreamKey = 'sk-upstream-tenant-usage';
const encryptionKey = randomBytes(32).toString('base64');
const limits = { timeout: 30_000 };
const messages = [{ role: 'user' as const, content: 'what does this cost?' }];
const nanos = (usd: number) => Math.round(usd * 1e9);

interface Tenant {
  org: OrgWire;
  project: ProjectWire;
  key: KeyWire;
  secret: string;
}

interface SeedProject {
  id: string;
  orgId: string;
  hasProviderKeys: boolean;
  apiKey: string;
}

interface SeedKey {
  id: string;
  apiKey?: string;
  dailyBudget: number | null;
  models: string[] | null;
}

describe('tenant usage, seed 004 projects and keys', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;
  /** Every key secret handed out in this suite: none may ever show up again. */
  const secrets: string[] = [];

  before(async () => {
    fake = await startFakeOpenAI();
    gateway = await startGateway({
      NEXUS_MASTER_KEY: masterKey,
      HOST: '127.0.0.1',
      OPENAI_API_KEY: upstreamKey,
      OPENAI_BASE_URL: fake.url,
      NEXUS_ENCRYPTION_KEY: encryptionKey,
    });
  });
  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  const as = (key: string | undefined, method: string, path: string, body?: unknown): Promise<ApiReply> => {
    const options: CallOptions = { key };
    if (body !== undefined) options.body = body;
    return call(gateway, method, path, options);
  };

  function keep(secret: string | undefined): string {
    assert.match(secret ?? '', /^nk-/);
    secrets.push(secret!);
    return secret!;
  }

  async function tenant(name: string, keyBody: Record<string, unknown> = {}): Promise<Tenant> {
    const org = json<OrgWire>(await as(masterKey, 'POST', '/v1/admin/orgs', { name }));
    const project = json<ProjectWire>(
      await as(masterKey, 'POST', '/v1/admin/projects', { name: `${name} project`, org_id: org.id }),
    );
    const reply = await as(masterKey, 'POST', '/v1/admin/api-keys', { project_id: project.id, ...keyBody });
    assert.equal(reply.status, 201, reply.text);
    const key = json<KeyWire>(reply);
    return { org, project, key, secret: keep(key.key) };
  }

  async function seedProject(name: string, extra: Record<string, unknown> = {}): Promise<SeedProject> {
    const reply = await as(masterKey, 'POST', '/api/v1/projects', { name, ...extra });
    assert.equal(reply.status, 201, reply.text);
    const project = json<Envelope<SeedProject>>(reply).data;
    keep(project.apiKey);
    return project;
  }

  async function chat(secret: string): Promise<{ status: number; costUsd: number }> {
    const reply = await as(secret, 'POST', '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages,
      max_tokens: 16,
    });
    return { status: reply.status, costUsd: Number(reply.headers.get('x-nexus-cost-usd')) };
  }

  const flush = () => gateway.app.gateway.services.current!.ledger.flush();

  test(
    'an admin-made key is served at once, counted for its project only, and refused once revoked',
    limits,
    async () => {
      const alpha = await tenant('alpha');
      const beta = await tenant('beta');
      const client = new OpenAI({
        apiKey: alpha.secret,
        baseURL: gateway.baseURL,
        maxRetries: 0,
        timeout: 8000,
      });
      const { data, response } = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages, max_tokens: 16 })
        .withResponse();
      const cost = Number(response.headers.get('x-nexus-cost-usd'));
      assert.ok(cost > 0);
      assert.equal((await chat(beta.secret)).status, 200);
      assert.equal((await chat(beta.secret)).status, 200);
      await flush();

      const mine = json<UsageWire>(await as(alpha.secret, 'GET', '/v1/usage?group_by=key'));
      assert.equal(mine.requests, 1);
      assert.equal(mine.prompt_tokens, data.usage?.prompt_tokens);
      assert.equal(mine.completion_tokens, data.usage?.completion_tokens);
      assert.equal(nanos(mine.cost_usd), nanos(cost), 'the ledger holds what the reply said it cost');
      assert.deepEqual(
        mine.groups.map((group) => group.group),
        [alpha.key.id],
      );
      assert.equal(json<UsageWire>(await as(beta.secret, 'GET', '/v1/usage')).requests, 2);
      const all = json<UsageWire>(
        await as(masterKey, 'GET', `/v1/admin/usage?project_id=${alpha.project.id}`),
      );
      assert.equal(all.requests, 1);
      const costs = json<{ this_month: { cost_usd: number }; by_model: Array<{ model: string }> }>(
        await as(alpha.secret, 'GET', '/v1/usage/costs'),
      );
      assert.equal(nanos(costs.this_month.cost_usd), nanos(cost));
      assert.deepEqual(
        costs.by_model.map((group) => group.model),
        ['gpt-4o-mini'],
      );

      assert.equal((await as(masterKey, 'DELETE', `/v1/admin/api-keys/${alpha.key.id}`)).status, 204);
      assert.equal((await chat(alpha.secret)).status, 401, 'a revoked key is refused on its next request');
      assertError(await as(alpha.secret, 'GET', '/v1/usage'), 401, 'invalid_api_key');
      assert.equal((await chat(beta.secret)).status, 200);
    },
  );

  test("a project key never reads or changes another project's keys or usage", limits, async () => {
    const mine = await tenant('mine');
    const theirs = await tenant('theirs');
    const other = theirs.project.id;
    const openAIShaped = [
      `/v1/usage?project_id=${other}`,
      `/v1/usage?key_id=${theirs.key.id}`,
      `/v1/usage?org_id=${theirs.org.id}`,
    ];
    for (const path of openAIShaped) {
      const reply = await as(mine.secret, 'GET', path);
      assertError(reply, 404, 'not_found');
    }
    const seedShaped: Array<[string, string, unknown]> = [
      ['GET', `/api/v1/usage/stats?projectId=${other}`, undefined],
      ['GET', `/api/v1/usage/costs?projectId=${other}`, undefined],
      ['GET', `/api/v1/usage/budget?projectId=${other}`, undefined],
      ['GET', `/api/v1/projects/current?projectId=${other}`, undefined],
      ['GET', `/api/v1/projects/api-keys?projectId=${other}`, undefined],
      ['POST', '/api/v1/projects/api-keys', { projectId: other, name: 'intruder' }],
      ['DELETE', `/api/v1/projects/api-keys/${theirs.key.id}`, undefined],
      ['DELETE', `/api/v1/projects/api-keys?id=${theirs.key.id}`, undefined],
    ];
    for (const [method, path, body] of seedShaped) {
      const reply = await as(mine.secret, method, path, body);
      assertSeedError(reply, 404, 'not_found');
      assert.ok(!reply.text.includes('theirs'), 'nothing of the other tenant comes back');
    }
    assertSeedError(
      await as(mine.secret, 'POST', '/api/v1/projects', { name: 'x' }),
      403,
      'permission_denied',
    );
    assert.equal((await chat(theirs.secret)).status, 200, 'their key still works');
    const theirKeys = json<ListWire<KeyWire>>(
      await as(masterKey, 'GET', `/v1/admin/api-keys?project_id=${other}`),
    );
    assert.deepEqual(
      theirKeys.data.map((key) => [key.name, key.status]),
      [['', 'active']],
    );
  });

  test(
    'seed 004: a project brings provider keys, sealed at rest and never shown; its first key works',
    limits,
    async () => {
      const providerKey = `sk-proj-${randomBytes(12).toString('hex')}`;
      const reply = await as(masterKey, 'POST', '/api/v1/projects', { name: 'byok', openaiKey: providerKey });
      assert.equal(reply.status, 201, reply.text);
      assert.ok(!reply.text.includes(providerKey));
      const project = json<Envelope<SeedProject>>(reply).data;
      keep(project.apiKey);
      assert.equal(project.hasProviderKeys, true);

      const store = gateway.app.gateway.services.current!.store;
      const sealed = await store.projects.getProviderKeysCiphertext(project.id);
      assert.ok(sealed instanceof Uint8Array);
      assert.ok(!Buffer.from(sealed).includes(providerKey), 'only ciphertext is stored');
      const cipher = new ProviderKeyCipher(encryptionKey);
      assert.deepEqual(cipher.open(project.id, sealed), { openai: providerKey });
      assert.throws(() => cipher.open('proj_other', sealed), 'sealed for one project only');

      const current = await as(project.apiKey, 'GET', '/api/v1/projects/current');
      assert.equal(json<Envelope<{ id: string }>>(current).data.id, project.id);
      const seeded = await as(project.apiKey, 'POST', '/api/v1/completions/chat', {
        model: 'gpt-4o-mini',
        messages,
      });
      assert.equal(seeded.status, 200, seeded.text);
      const shown = await as(masterKey, 'GET', `/v1/admin/projects/${project.id}`);
      assert.equal(json<ProjectWire>(shown).has_provider_keys, true);
      for (const text of [current.text, shown.text, gateway.logs.join('\n')])
        assert.ok(!text.includes(providerKey));

      assertSeedError(
        await as(masterKey, 'POST', '/api/v1/projects', { name: 'x', openaiKy: 'sk' }),
        400,
        'invalid_request',
      );
      const bare = await startGateway({ NEXUS_MASTER_KEY: masterKey, HOST: '127.0.0.1' });
      try {
        const refused = await call(bare, 'POST', '/api/v1/projects', {
          key: masterKey,
          body: { name: 'byok', anthropicKey: providerKey },
        });
        assertSeedError(refused, 400, 'encryption_not_configured');
        assert.match(refused.text, /NEXUS_ENCRYPTION_KEY/);
        const orgs = await call(bare, 'GET', '/v1/admin/orgs', { key: masterKey });
        assert.deepEqual(json<ListWire<OrgWire>>(orgs).data, [], 'nothing was created');
      } finally {
        await bare.close();
      }
    },
  );

  test('seed 004 project keys: listed, budgeted, revoked; no key issues a stronger one', limits, async () => {
    const project = await seedProject('keys');
    const post = (key: string, body: Record<string, unknown>) =>
      as(key, 'POST', '/api/v1/projects/api-keys', body);
    const limited = await post(project.apiKey, { name: 'limited', dailyBudget: 2, monthlyBudget: 10 });
    assert.equal(limited.status, 201, limited.text);
    const limitedKey = json<Envelope<SeedKey>>(limited).data;
    const limitedSecret = keep(limitedKey.apiKey);
    assert.equal(limitedKey.dailyBudget, 2);

    const listed = await as(project.apiKey, 'GET', '/api/v1/projects/api-keys');
    const keys = json<Envelope<SeedKey[]>>(listed).data;
    assert.equal(keys.length, 2);
    assert.ok(keys.some((key) => key.id === limitedKey.id));
    assert.ok(keys.every((key) => key.apiKey === undefined));

    assertSeedError(await post(limitedSecret, { dailyBudget: 5 }), 403, 'permission_denied');
    assertSeedError(await post(limitedSecret, { dailyBudget: null }), 403, 'permission_denied');
    const child = json<Envelope<SeedKey>>(await post(limitedSecret, { name: 'child' })).data;
    keep(child.apiKey);
    assert.equal(child.dailyBudget, 2, 'by default, the creator’s own budget');

    const narrow = json<Envelope<SeedKey>>(
      await post(masterKey, { projectId: project.id, models: ['gpt-4o-mini'] }),
    ).data;
    const narrowSecret = keep(narrow.apiKey);
    assertSeedError(await post(narrowSecret, { models: null }), 403, 'permission_denied');
    assertSeedError(await post(narrowSecret, { models: ['gpt-4o'] }), 403, 'permission_denied');
    const narrowChild = json<Envelope<SeedKey>>(await post(narrowSecret, {})).data;
    keep(narrowChild.apiKey);
    assert.deepEqual(narrowChild.models, ['gpt-4o-mini']);

    assertSeedError(await post(masterKey, { name: 'where?' }), 400, 'invalid_request');
    assertSeedError(await post(project.apiKey, { name: 'x', rpm: 5 }), 400, 'invalid_request');
    assertSeedError(await as(project.apiKey, 'DELETE', '/api/v1/projects/api-keys'), 400, 'invalid_request');
    const revoked = await as(project.apiKey, 'DELETE', `/api/v1/projects/api-keys/${limitedKey.id}`);
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal((await chat(limitedSecret)).status, 401);
    assert.equal((await chat(project.apiKey)).status, 200);
  });

  test('seed 004 usage: stats, costs and budget from the ledger', limits, async () => {
    const project = await seedProject('metered');
    await as(masterKey, 'PATCH', `/v1/admin/projects/${project.id}`, {
      budget: { daily_usd: 1, monthly_usd: 10 },
    });
    const keyReply = await as(masterKey, 'POST', '/api/v1/projects/api-keys', {
      projectId: project.id,
      dailyBudget: 0.5,
    });
    const secret = keep(json<Envelope<SeedKey>>(keyReply).data.apiKey);
    const costs = [(await chat(secret)).costUsd, (await chat(secret)).costUsd];
    const spent = costs.reduce((sum, cost) => sum + nanos(cost), 0);
    await flush();

    interface Stats {
      days: number;
      requests: number;
      cost: number;
      daily: Array<{ date: string; requests: number }>;
      byModel: Array<{ model: string }>;
    }
    const stats = json<Envelope<Stats>>(await as(secret, 'GET', '/api/v1/usage/stats?days=7')).data;
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
      assertSeedError(await as(secret, 'GET', `/api/v1/usage/stats?days=${days}`), 400, 'invalid_request');
    }
    const money = json<Envelope<{ today: number; thisMonth: number }>>(
      await as(secret, 'GET', '/api/v1/usage/costs'),
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
    const budget = json<Envelope<Budget>>(await as(secret, 'GET', '/api/v1/usage/budget')).data;
    assert.equal(budget.scope, 'project');
    assert.equal(budget.id, project.id);
    assert.equal(budget.dailyBudget, 1);
    assert.equal(nanos(budget.dailySpent), spent);
    assert.equal(nanos(budget.dailyRemaining), 1e9 - spent, 'remaining is exact, from nano-USD');
    assert.equal(nanos(budget.monthlyRemaining), 10e9 - spent);
    assert.equal(nanos(budget.key.dailyRemaining), 0.5e9 - spent);
    assertSeedError(await as(masterKey, 'GET', '/api/v1/usage/budget'), 400, 'invalid_request');
    const forMaster = await as(masterKey, 'GET', `/api/v1/usage/budget?projectId=${project.id}`);
    assert.equal(nanos(json<Envelope<Budget>>(forMaster).data.dailySpent), spent);
  });

  test('admin usage, logs paged by cursor, and metrics', limits, async () => {
    const logged = await tenant('logged');
    for (let i = 0; i < 3; i++) assert.equal((await chat(logged.secret)).status, 200);
    await flush();
    const usage = json<UsageWire>(
      await as(masterKey, 'GET', `/v1/admin/usage?key_id=${logged.key.id}&group_by=day`),
    );
    assert.equal(usage.requests, 3);
    assert.deepEqual(
      usage.groups.map((group) => group.group),
      [new Date().toISOString().slice(0, 10)],
    );

    interface LogPage {
      data: Array<{ key_id: string; model: string; status: number; cost_usd: number; request_id: string }>;
      has_more: boolean;
      next_cursor: string | null;
    }
    const first = json<LogPage>(await as(masterKey, 'GET', `/v1/admin/logs?key_id=${logged.key.id}&limit=2`));
    assert.equal(first.data.length, 2);
    assert.equal(first.has_more, true);
    const second = json<LogPage>(
      await as(
        masterKey,
        'GET',
        `/v1/admin/logs?key_id=${logged.key.id}&limit=2&cursor=${encodeURIComponent(first.next_cursor!)}`,
      ),
    );
    assert.equal(second.data.length, 1);
    assert.equal(second.has_more, false);
    const ids = new Set([...first.data, ...second.data].map((record) => record.request_id));
    assert.equal(ids.size, 3, 'three requests, each once');
    for (const record of [...first.data, ...second.data]) {
      assert.equal(record.key_id, logged.key.id);
      assert.equal(record.model, 'gpt-4o-mini');
      assert.equal(record.status, 200);
      assert.ok(record.cost_usd > 0);
    }
    const none = json<LogPage>(
      await as(masterKey, 'GET', `/v1/admin/logs?key_id=${logged.key.id}&status=500`),
    );
    assert.deepEqual(none.data, []);

    interface Metrics {
      requests: number;
      by_provider: Array<{ provider: string | null; requests: number }>;
      entities: { organizations: number; api_keys: number; active_api_keys: number };
    }
    const metrics = json<Metrics>(await as(masterKey, 'GET', '/v1/admin/metrics'));
    assert.ok(metrics.requests >= 3);
    assert.ok(
      metrics.by_provider.some((group) => group.provider === 'OpenAI (Key #1)'),
      JSON.stringify(metrics),
    );
    assert.ok(metrics.entities.organizations >= 1 && metrics.entities.active_api_keys >= 1);
  });

  test('/api/stats needs no key and shows aggregates only, no tenant data', limits, async () => {
    const reply = await call(gateway, 'GET', '/api/stats');
    assert.equal(reply.status, 200, reply.text);
    const stats = json<{ total_requests: number; graph_data: Array<Record<string, unknown>> }>(reply);
    assert.deepEqual(Object.keys(stats).sort(), [
      'cache_hits',
      'graph_data',
      'savings_usd',
      'total_requests',
    ]);
    assert.ok(stats.total_requests > 0);
    assert.equal(stats.graph_data.length, 7);
    for (const day of stats.graph_data)
      assert.deepEqual(Object.keys(day).sort(), ['cache_hits', 'date', 'requests']);
    for (const trace of ['org_', 'proj_', 'key_', 'usr_', 'nk-', 'gpt-4o', 'alpha', 'OpenAI']) {
      assert.ok(!reply.text.includes(trace), `/api/stats shows ${trace}`);
    }
  });

  test('no key ever appears in a listing, the request log or a log line', limits, async () => {
    assert.ok(secrets.length >= 8);
    const texts = [
      (await as(masterKey, 'GET', '/v1/admin/api-keys')).text,
      (await as(masterKey, 'GET', '/v1/admin/logs?limit=1000')).text,
      (await as(masterKey, 'GET', '/v1/admin/metrics')).text,
      (await as(masterKey, 'GET', '/v1/admin/projects')).text,
      gateway.logs.join('\n'),
    ];
    assert.ok(
      gateway.logs.some((line) => line.includes('admin change')),
      'changes are in the audit log',
    );
    for (const text of texts) {
      for (const secret of [...secrets, upstreamKey, encryptionKey]) assert.ok(!text.includes(secret));
      assert.ok(!text.includes('key_hash'));
    }
  });
});
