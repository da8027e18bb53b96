/**
 * Keys made through the admin API used for real traffic (the fake OpenAI as upstream), on the default embedded
 * store: usage read back from the ledger exactly, each tenant seeing only its own project, revocation at once,
 * the admin's usage, request log and metrics, the public `/api/stats` without a trace of any tenant, and no
 * key ever in a listing or a log line.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import {
  assertError,
  assertSeedError,
  call,
  json,
  type KeyWire,
  type ListWire,
  type UsageWire,
} from '../support/admin-client.ts';
import { nanos, TenantFixture } from '../support/tenant-fixture.ts';

const limits = { timeout: 30_000 };
const messages = [{ role: 'user' as const, content: 'what does this cost?' }];

describe('tenant keys, usage and the request log', () => {
  const fixture = new TenantFixture();
  before(() => fixture.start());
  after(() => fixture.close());

  test(
    'an admin-made key is served at once, counted for its project only, and refused once revoked',
    limits,
    async () => {
      const alpha = await fixture.tenant('alpha');
      const beta = await fixture.tenant('beta');
      const client = new OpenAI({
        apiKey: alpha.secret,
        baseURL: fixture.gateway.baseURL,
        maxRetries: 0,
        timeout: 8000,
      });
      const { data, response } = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages, max_tokens: 16 })
        .withResponse();
      const cost = Number(response.headers.get('x-nexus-cost-usd'));
      assert.ok(cost > 0);
      assert.equal((await fixture.chat(beta.secret)).status, 200);
      assert.equal((await fixture.chat(beta.secret)).status, 200);
      await fixture.flush();

      const mine = json<UsageWire>(await fixture.as(alpha.secret, 'GET', '/v1/usage?group_by=key'));
      assert.equal(mine.requests, 1);
      assert.equal(mine.prompt_tokens, data.usage?.prompt_tokens);
      assert.equal(mine.completion_tokens, data.usage?.completion_tokens);
      assert.equal(nanos(mine.cost_usd), nanos(cost), 'the ledger holds what the reply said it cost');
      assert.deepEqual(
        mine.groups.map((group) => group.group),
        [alpha.key.id],
      );
      assert.equal(json<UsageWire>(await fixture.as(beta.secret, 'GET', '/v1/usage')).requests, 2);
      const all = json<UsageWire>(
        await fixture.as(fixture.masterKey, 'GET', `/v1/admin/usage?project_id=${alpha.project.id}`),
      );
      assert.equal(all.requests, 1);
      const costs = json<{ this_month: { cost_usd: number }; by_model: Array<{ model: string }> }>(
        await fixture.as(alpha.secret, 'GET', '/v1/usage/costs'),
      );
      assert.equal(nanos(costs.this_month.cost_usd), nanos(cost));
      assert.deepEqual(
        costs.by_model.map((group) => group.model),
        ['gpt-4o-mini'],
      );

      assert.equal(
        (await fixture.as(fixture.masterKey, 'DELETE', `/v1/admin/api-keys/${alpha.key.id}`)).status,
        204,
      );
      assert.equal(
        (await fixture.chat(alpha.secret)).status,
        401,
        'a revoked key is refused on its next request',
      );
      assertError(await fixture.as(alpha.secret, 'GET', '/v1/usage'), 401, 'invalid_api_key');
      assert.equal((await fixture.chat(beta.secret)).status, 200);
    },
  );

  test("a project key never reads or changes another project's keys or usage", limits, async () => {
    const mine = await fixture.tenant('mine');
    const theirs = await fixture.tenant('theirs');
    const other = theirs.project.id;
    const openAIShaped = [
      `/v1/usage?project_id=${other}`,
      `/v1/usage?key_id=${theirs.key.id}`,
      `/v1/usage?org_id=${theirs.org.id}`,
    ];
    for (const path of openAIShaped) {
      const reply = await fixture.as(mine.secret, 'GET', path);
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
      const reply = await fixture.as(mine.secret, method, path, body);
      assertSeedError(reply, 404, 'not_found');
      assert.ok(!reply.text.includes('theirs'), 'nothing of the other tenant comes back');
    }
    assertSeedError(
      await fixture.as(mine.secret, 'POST', '/api/v1/projects', { name: 'x' }),
      403,
      'permission_denied',
    );
    assert.equal((await fixture.chat(theirs.secret)).status, 200, 'their key still works');
    const theirKeys = json<ListWire<KeyWire>>(
      await fixture.as(fixture.masterKey, 'GET', `/v1/admin/api-keys?project_id=${other}`),
    );
    assert.deepEqual(
      theirKeys.data.map((key) => [key.name, key.status]),
      [['', 'active']],
    );
  });

  test('admin usage, logs paged by cursor, and metrics', limits, async () => {
    const logged = await fixture.tenant('logged');
    for (let i = 0; i < 3; i++) assert.equal((await fixture.chat(logged.secret)).status, 200);
    await fixture.flush();
    const usage = json<UsageWire>(
      await fixture.as(fixture.masterKey, 'GET', `/v1/admin/usage?key_id=${logged.key.id}&group_by=day`),
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
    const first = json<LogPage>(
      await fixture.as(fixture.masterKey, 'GET', `/v1/admin/logs?key_id=${logged.key.id}&limit=2`),
    );
    assert.equal(first.data.length, 2);
    assert.equal(first.has_more, true);
    const second = json<LogPage>(
      await fixture.as(
        fixture.masterKey,
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
      await fixture.as(fixture.masterKey, 'GET', `/v1/admin/logs?key_id=${logged.key.id}&status=500`),
    );
    assert.deepEqual(none.data, []);

    interface Metrics {
      requests: number;
      by_provider: Array<{ provider: string | null; requests: number }>;
      entities: { organizations: number; api_keys: number; active_api_keys: number };
    }
    const metrics = json<Metrics>(await fixture.as(fixture.masterKey, 'GET', '/v1/admin/metrics'));
    assert.ok(metrics.requests >= 3);
    assert.ok(
      metrics.by_provider.some((group) => group.provider === 'OpenAI (Key #1)'),
      JSON.stringify(metrics),
    );
    assert.ok(metrics.entities.organizations >= 1 && metrics.entities.active_api_keys >= 1);
  });

  test('/api/stats needs no key and shows aggregates only, no tenant data', limits, async () => {
    const reply = await call(fixture.gateway, 'GET', '/api/stats');
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
    assert.ok(fixture.secrets.length >= 4);
    await fixture.assertNoLeaks();
  });
});
