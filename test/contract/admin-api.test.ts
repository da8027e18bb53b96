/**
 * The admin API (SPEC §2.3) on a real gateway with the default embedded store, under hostile input: unknown
 * fields, wrong types, huge names and bodies, SQL-looking text, ids of another organization, tenant keys where
 * the master key belongs. Every refusal must be a clear 4xx naming the problem, never a 500, and nothing
 * refused may be stored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type ApiReply,
  assertError,
  type CallOptions,
  call,
  json,
  type KeyWire,
  type ListWire,
  type OrgWire,
  type ProjectWire,
  type UserWire,
} from '../support/admin-client.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const masterKey = 'nexus-master-admin-api';
const limits = { timeout: 20_000 };

describe('admin API', () => {
  let gateway: TestGateway;

  before(async () => {
    gateway = await startGateway({ NEXUS_MASTER_KEY: masterKey, HOST: '127.0.0.1' });
  });
  after(() => gateway?.close());

  const admin = (method: string, path: string, body?: unknown, key = masterKey): Promise<ApiReply> => {
    const options: CallOptions = { key };
    if (body !== undefined) options.body = body;
    return call(gateway, method, path, options);
  };

  async function created<T>(path: string, body: unknown): Promise<T> {
    const reply = await admin('POST', path, body);
    assert.equal(reply.status, 201, reply.text.slice(0, 500));
    return json<T>(reply);
  }

  async function orgNames(): Promise<string[]> {
    return json<ListWire<OrgWire>>(await admin('GET', '/v1/admin/orgs')).data.map((org) => org.name);
  }

  test('each entity is created, read, listed, changed and deleted, in snake_case', limits, async () => {
    const org = await created<OrgWire>('/v1/admin/orgs', {
      name: 'Acme',
      limits: { rpm: 60, token_budget: 100_000 },
      budget: { daily_usd: 1.25 },
    });
    assert.match(org.id, /^org_/);
    assert.deepEqual(org.limits, { rpm: 60, rph: null, tpm: null, token_budget: 100_000 });
    assert.deepEqual(org.budget, { daily_usd: 1.25, monthly_usd: null });
    assert.deepEqual(json(await admin('GET', `/v1/admin/orgs/${org.id}`)), org);

    const changed = json<OrgWire>(
      await admin('PATCH', `/v1/admin/orgs/${org.id}`, { name: 'Acme 2', budget: { daily_usd: null } }),
    );
    assert.equal(changed.name, 'Acme 2');
    assert.deepEqual(changed.budget, { daily_usd: null, monthly_usd: null });
    assert.equal(changed.limits.rpm, 60, 'fields left out are kept');

    const project = await created<ProjectWire>('/v1/admin/projects', { name: 'web', org_id: org.id });
    assert.equal(project.org_id, org.id);
    assert.equal(project.has_provider_keys, false);
    const user = await created<UserWire>('/v1/admin/users', {
      name: 'Ann',
      org_id: org.id,
      email: 'ann@acme.test',
      plan: 'pro',
    });
    assert.equal(user.plan, 'pro');
    assertError(
      await admin('POST', '/v1/admin/users', { org_id: org.id, email: 'ANN@acme.test' }),
      409,
      'conflict',
    );
    const key = await created<KeyWire>('/v1/admin/api-keys', {
      project_id: project.id,
      user_id: user.id,
      name: 'ci',
      models: ['gpt-4o-mini'],
      metadata: { team: 'infra' },
      expires_at: '2099-01-01T00:00:00Z',
    });
    assert.match(key.key ?? '', /^nk-/);
    assert.equal(key.key_prefix, key.key?.slice(0, 12));
    assert.equal(key.org_id, org.id, "a project's key belongs to its organization");
    assert.equal(key.expires_at, '2099-01-01T00:00:00.000Z');

    const listed = json<ListWire<KeyWire>>(await admin('GET', `/v1/admin/api-keys?project_id=${project.id}`));
    assert.deepEqual(
      listed.data.map((entry) => entry.id),
      [key.id],
    );
    assert.equal(listed.data[0]?.key, undefined, 'a listing never shows the key');
    assert.ok(!('key_hash' in (listed.data[0] ?? {})));
    const { key: _secret, ...shown } = key;
    assert.deepEqual(json(await admin('GET', `/v1/admin/api-keys/${key.id}`)), shown);

    const projects = json<ListWire<ProjectWire>>(await admin('GET', `/v1/admin/projects?org_id=${org.id}`));
    assert.deepEqual(
      projects.data.map((entry) => entry.id),
      [project.id],
    );
    const users = json<ListWire<UserWire>>(await admin('GET', `/v1/admin/users?org_id=${org.id}`));
    assert.deepEqual(
      users.data.map((entry) => entry.email),
      ['ann@acme.test'],
    );

    assert.equal((await admin('DELETE', `/v1/admin/api-keys/${key.id}`)).status, 204);
    assert.equal(json<KeyWire>(await admin('GET', `/v1/admin/api-keys/${key.id}`)).status, 'revoked');
    assert.equal((await admin('DELETE', `/v1/admin/orgs/${org.id}`)).status, 204);
    for (const path of [
      `/v1/admin/orgs/${org.id}`,
      `/v1/admin/projects/${project.id}`,
      `/v1/admin/users/${user.id}`,
    ]) {
      assertError(await admin('GET', path), 404, 'not_found');
    }
    assertError(await admin('DELETE', `/v1/admin/orgs/${org.id}`), 404, 'not_found');
  });

  test('unknown fields and wrong types are 400s that name the field', limits, async () => {
    const org = await created<OrgWire>('/v1/admin/orgs', { name: 'types' });
    const cases: Array<[string, string, unknown, string | null]> = [
      ['POST', '/v1/admin/orgs', { name: 'a', owner: 'x' }, 'owner'],
      ['POST', '/v1/admin/orgs', { name: 42 }, 'name'],
      ['POST', '/v1/admin/orgs', { name: '' }, 'name'],
      ['POST', '/v1/admin/orgs', {}, 'name'],
      ['POST', '/v1/admin/orgs', { name: 'a', limits: { rpm: '60' } }, 'limits.rpm'],
      ['POST', '/v1/admin/orgs', { name: 'a', limits: { rpm: 1.5 } }, 'limits.rpm'],
      ['POST', '/v1/admin/orgs', { name: 'a', limits: { rpm: -1 } }, 'limits.rpm'],
      ['POST', '/v1/admin/orgs', { name: 'a', limits: { requests: 1 } }, 'limits.requests'],
      ['POST', '/v1/admin/orgs', { name: 'a', budget: { daily_usd: -1 } }, 'budget.daily_usd'],
      ['POST', '/v1/admin/orgs', { name: 'a', budget: { daily_usd: 1e12 } }, 'budget.daily_usd'],
      ['POST', '/v1/admin/orgs', { name: 'a', budget: 5 }, 'budget'],
      ['POST', '/v1/admin/projects', { name: 'a' }, 'org_id'],
      ['POST', '/v1/admin/projects', { name: 'a', org_id: ['x'] }, 'org_id'],
      ['POST', '/v1/admin/users', { org_id: org.id, email: 'not an email' }, 'email'],
      ['POST', '/v1/admin/users', { org_id: org.id, email: 'a@b.test', limits: { rpm: 1 } }, 'limits'],
      ['POST', '/v1/admin/api-keys', { org_id: org.id, models: 'gpt-4o' }, 'models'],
      ['POST', '/v1/admin/api-keys', { org_id: org.id, metadata: [1] }, 'metadata'],
      ['POST', '/v1/admin/api-keys', { org_id: org.id, expires_at: 'tomorrow' }, 'expires_at'],
      ['POST', '/v1/admin/api-keys', { org_id: org.id, expires_at: '2001-01-01' }, 'expires_at'],
      ['POST', '/v1/admin/api-keys', { name: 'orphan' }, 'project_id'],
      ['PATCH', `/v1/admin/orgs/${org.id}`, { id: 'org_other' }, 'id'],
      ['PATCH', `/v1/admin/orgs/${org.id}`, { name: null }, 'name'],
    ];
    for (const [method, path, body, param] of cases) {
      assertError(await admin(method, path, body), 400, 'invalid_request', param);
    }
    for (const body of ['[]', 'null', '"org"', '42']) {
      assertError(await admin('POST', '/v1/admin/orgs', body), 400, 'invalid_request', null);
    }
    assertError(await admin('POST', '/v1/admin/orgs', '{"name": "a",'), 400, 'invalid_json');
    assertError(await admin('GET', '/v1/admin/usage?group=day'), 400, 'invalid_request', 'group');
    assertError(await admin('GET', '/v1/admin/usage?group_by=week'), 400, 'invalid_request', 'group_by');
    assertError(await admin('GET', '/v1/admin/usage?from=2025-02-30'), 400, 'invalid_request', 'from');
    assertError(
      await admin('GET', '/v1/admin/usage?from=2025-02-01&to=2025-01-01'),
      400,
      'invalid_request',
      'to',
    );
    assertError(await admin('GET', '/v1/admin/logs?limit=1&limit=2'), 400, 'invalid_request', 'limit');
    assertError(await admin('GET', '/v1/admin/logs?limit=100000'), 400, 'invalid_request', 'limit');
    assertError(await admin('GET', "/v1/admin/logs?cursor=' OR 1=1 --"), 400, 'invalid_request');
    // NUL fails a PostgreSQL query outright: refused before the store, never a 500.
    const nulCursor = Buffer.from(JSON.stringify([1, 'a\u0000', 1])).toString('base64url');
    for (const query of ['org_id=%00', 'key_id=a%00', 'model=a%00', `cursor=${nulCursor}`]) {
      const param = query.slice(0, query.indexOf('='));
      assertError(await admin('GET', `/v1/admin/logs?${query}`), 400, 'invalid_request', param);
    }
    assertError(await admin('GET', '/v1/admin/orgs/a%00b'), 404, 'not_found');
    assertError(
      await admin('POST', '/v1/admin/projects', { name: 'a', org_id: 'org\u0000' }),
      400,
      'invalid_request',
      'org_id',
    );
    assertError(
      await admin('POST', '/v1/admin/api-keys', '{"org_id": "\\ud800"}'),
      400,
      'invalid_request',
      'org_id',
    );
    assert.deepEqual(await orgNames(), ['types'], 'nothing refused was stored');
    await admin('DELETE', `/v1/admin/orgs/${org.id}`);
  });

  test('a 100 kB name and a 1 MB body are 400s, and nothing is stored', limits, async () => {
    const existing = await orgNames();
    assertError(
      await admin('POST', '/v1/admin/orgs', { name: 'n'.repeat(100_000) }),
      400,
      'invalid_request',
      'name',
    );
    assertError(
      await admin('POST', '/v1/admin/orgs', { name: 'n'.repeat(1_000_000) }),
      400,
      'invalid_request',
      'name',
    );
    const org = await created<OrgWire>('/v1/admin/orgs', { name: 'big' });
    assertError(
      await admin('POST', '/v1/admin/api-keys', {
        org_id: org.id,
        metadata: { blob: 'm'.repeat(1_000_000) },
      }),
      400,
      'invalid_request',
      'metadata',
    );
    assertError(
      await admin('POST', '/v1/admin/api-keys', { org_id: org.id, models: Array(10_000).fill('gpt-4o') }),
      400,
      'invalid_request',
      'models',
    );
    assertError(await admin('POST', '/v1/admin/orgs', { name: 'a\u0000b' }), 400, 'invalid_request');
    assert.deepEqual(await orgNames(), [...existing, 'big']);
    assert.deepEqual(
      json<ListWire<KeyWire>>(await admin('GET', `/v1/admin/api-keys?org_id=${org.id}`)).data,
      [],
    );
    await admin('DELETE', `/v1/admin/orgs/${org.id}`);
  });

  test('SQL-looking and unusual text is stored and read back exactly', limits, async () => {
    const names = [
      "Robert'); DROP TABLE organizations;--",
      "' OR '1'='1",
      '"; DELETE FROM api_keys WHERE 1=1; --',
      "x' UNION SELECT key_hash FROM api_keys --",
      '%_\\%',
      '名前 🚀 \u2028 <script>',
    ];
    for (const name of names) {
      const org = await created<OrgWire>('/v1/admin/orgs', { name });
      assert.equal(json<OrgWire>(await admin('GET', `/v1/admin/orgs/${org.id}`)).name, name);
      const project = await created<ProjectWire>('/v1/admin/projects', { name, org_id: org.id });
      const key = await created<KeyWire>('/v1/admin/api-keys', {
        project_id: project.id,
        name,
        models: [name],
        metadata: { [name]: name },
      });
      const read = json<KeyWire>(await admin('GET', `/v1/admin/api-keys/${key.id}`));
      assert.equal(read.name, name);
      assert.deepEqual(read.models, [name]);
      assert.deepEqual(read.metadata, { [name]: name });
      const filtered = json<ListWire<KeyWire>>(
        await admin('GET', `/v1/admin/api-keys?org_id=${encodeURIComponent(name)}`),
      );
      assert.deepEqual(filtered.data, [], 'an id filter is a bound value, never SQL');
    }
    const stored = await orgNames();
    for (const name of names) assert.ok(stored.includes(name), `${name} is still there`);
    assertError(await admin('GET', `/v1/admin/orgs/${encodeURIComponent("' OR '1'='1")}`), 404, 'not_found');
  });

  test('ids of another organization or that do not exist are 404s and reveal nothing', limits, async () => {
    const orgA = await created<OrgWire>('/v1/admin/orgs', { name: 'A' });
    const orgB = await created<OrgWire>('/v1/admin/orgs', { name: 'B' });
    const projectB = await created<ProjectWire>('/v1/admin/projects', { name: 'b', org_id: orgB.id });
    const userB = await created<UserWire>('/v1/admin/users', { org_id: orgB.id, email: 'b@b.test' });
    const projectA = await created<ProjectWire>('/v1/admin/projects', { name: 'a', org_id: orgA.id });
    const mixed = [
      { org_id: orgA.id, project_id: projectB.id },
      { project_id: projectA.id, user_id: userB.id },
      { org_id: orgA.id, user_id: userB.id },
      { org_id: 'org_000000000000000000000000' },
    ];
    for (const body of mixed) {
      const reply = await admin('POST', '/v1/admin/api-keys', body);
      assertError(reply, 404, 'not_found');
      assert.ok(!reply.text.includes(orgB.id) && !reply.text.includes('"b"'));
    }
    assertError(
      await admin('POST', '/v1/admin/projects', { name: 'x', org_id: 'org_missing' }),
      404,
      'not_found',
    );
    for (const id of ['org_missing', '%E0%A4%A', 'a%2Fb', 'x'.repeat(500)]) {
      assertError(await admin('GET', `/v1/admin/orgs/${id}`), 404, 'not_found');
      assertError(await admin('PATCH', `/v1/admin/projects/${id}`, { name: 'x' }), 404, 'not_found');
      assertError(await admin('DELETE', `/v1/admin/api-keys/${id}`), 404, 'not_found');
    }
    const reply = await admin('POST', `/v1/admin/orgs/${orgA.id}`, { name: 'x' });
    assertError(reply, 405, 'method_not_allowed');
    assert.equal(reply.headers.get('allow'), 'GET, PATCH, DELETE');
  });

  test('a tenant key gets 403 on the admin API, no key 401, a wrong key 401', limits, async () => {
    const org = await created<OrgWire>('/v1/admin/orgs', { name: 'tenant' });
    const key = await created<KeyWire>('/v1/admin/api-keys', { org_id: org.id });
    const tenant = key.key!;
    for (const [method, path, body] of [
      ['GET', '/v1/admin/orgs', undefined],
      ['GET', `/v1/admin/orgs/${org.id}`, undefined],
      ['POST', '/v1/admin/api-keys', { org_id: org.id }],
      ['PATCH', `/v1/admin/api-keys/${key.id}`, { budget: null }],
      ['DELETE', `/v1/admin/orgs/${org.id}`, undefined],
      ['GET', '/v1/admin/usage', undefined],
      ['GET', '/v1/admin/logs', undefined],
      ['GET', '/v1/admin/metrics', undefined],
    ] as const) {
      assertError(await admin(method, path, body, tenant), 403, 'permission_denied');
      assertError(
        await call(gateway, method, path, body === undefined ? {} : { body }),
        401,
        'invalid_api_key',
      );
      assertError(await admin(method, path, body, 'nk-not-a-real-key'), 401, 'invalid_api_key');
    }
    assert.ok((await orgNames()).includes('tenant'), 'the tenant could not delete its organization');
  });
});
