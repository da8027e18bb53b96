/**
 * Seed 000's self-service signup, `POST /api/register`, on one running gateway in sequence: off by default, a
 * signup gets a working key on the free plan's limits, a second signup with the same email never sees a key,
 * bad input is a clear 400, and one address may sign up only so often.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { call, json, type OrgWire } from '../support/admin-client.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const limits = { timeout: 30_000 };
const masterKey = 'nexus-master-signup-tests';

interface Registered {
  api_key: string;
  user_id: string;
  org_id: string;
  project_id: string;
  plan: string;
  limits: Record<string, number | null>;
}

function errorCode(reply: { body: unknown }): string | undefined {
  return (reply.body as { error?: { code?: string } }).error?.code;
}

describe('seed 000 signup', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    fake = await startFakeOpenAI();
    gateway = await startGateway({
      NEXUS_MASTER_KEY: masterKey,
      HOST: '127.0.0.1',
      OPENAI_API_KEY: 'sk-upstream-signup',
      OPENAI_BASE_URL: fake.url,
      NEXUS_SIGNUP: 'true',
      NEXUS_SIGNUP_PER_HOUR: '4',
    });
  });

  after(async () => {
    await gateway.close();
    await fake.close();
  });

  test('is off unless enabled, and creates nothing then', limits, async () => {
    const closed = await startGateway({ NEXUS_MASTER_KEY: masterKey, HOST: '127.0.0.1' });
    try {
      const reply = await call(closed, 'POST', '/api/register', { body: { email: 'someone@example.com' } });
      assert.equal(reply.status, 403, reply.text);
      assert.equal(errorCode(reply), 'signup_disabled');
      const orgs = await call(closed, 'GET', '/v1/admin/orgs', { key: masterKey });
      assert.deepEqual((orgs.body as { data: unknown[] }).data, []);
    } finally {
      await closed.close();
    }
  });

  test(
    "a signup gets a key, shown once, that works at once under the free plan's limits",
    limits,
    async () => {
      const reply = await call(gateway, 'POST', '/api/register', { body: { email: 'Ada@Example.com' } });
      assert.equal(reply.status, 201, reply.text);
      const registered = json<Registered>(reply);
      assert.match(registered.api_key, /^nk-/);
      assert.equal(registered.plan, 'free');
      assert.deepEqual(registered.limits, { rpm: 60, rph: 1000, tpm: null, token_budget: 100_000 });

      const client = new OpenAI({ apiKey: registered.api_key, baseURL: gateway.baseURL, maxRetries: 0 });
      const answer = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] })
        .withResponse();
      assert.ok(answer.data.choices[0]?.message.content);
      assert.ok(answer.response.headers.get('x-ratelimit-limit'), 'the plan limits the new key');

      const org = await call(gateway, 'GET', `/v1/admin/orgs/${registered.org_id}`, { key: masterKey });
      assert.deepEqual(json<OrgWire & { limits: unknown }>(org).limits, {
        rpm: 60,
        rph: 1000,
        tpm: null,
        token_budget: 100_000,
      });
      const users = await call(gateway, 'GET', `/v1/admin/users?org_id=${registered.org_id}`, {
        key: masterKey,
      });
      assert.ok(users.text.includes('ada@example.com') || users.text.includes('Ada@Example.com'), users.text);
      assert.ok(!users.text.includes(registered.api_key), 'the key is shown once');

      const again = await call(gateway, 'POST', '/api/register', { body: { email: 'ada@example.com' } });
      assert.equal(again.status, 409, again.text);
      assert.equal(errorCode(again), 'conflict');
      assert.ok(!again.text.includes('nk-'), 'an existing account never gets a key back');
      assert.ok(!gateway.logs.join('\n').includes(registered.api_key), 'the key is never logged');

      const checkout = await call(gateway, 'POST', '/api/checkout', { key: registered.api_key, body: {} });
      assert.equal(checkout.status, 400, checkout.text);
      assert.equal(errorCode(checkout), 'billing_not_configured', 'upgrades need Stripe to be configured');
    },
  );

  test('bad input is a clear 400 and creates nothing', limits, async () => {
    const before = (await call(gateway, 'GET', '/v1/admin/orgs', { key: masterKey })).text;
    for (const body of [{}, { email: 'not an email' }, { email: 'x@example.com', plan: 'pro' }, 'nope']) {
      const reply = await call(gateway, 'POST', '/api/register', { body });
      assert.equal(reply.status, 400, `${JSON.stringify(body)}: ${reply.text}`);
    }
    const afterwards = (await call(gateway, 'GET', '/v1/admin/orgs', { key: masterKey })).text;
    assert.equal(afterwards, before, 'no organization was left behind');
  });

  test(
    "the free plan's monthly request quota: 429 on /v1, 402 on /api, raised at once by an upgrade",
    limits,
    async () => {
      const quotaGateway = await startGateway({
        NEXUS_MASTER_KEY: masterKey,
        HOST: '127.0.0.1',
        OPENAI_API_KEY: 'sk-upstream-signup',
        OPENAI_BASE_URL: fake.url,
        NEXUS_SIGNUP: 'true',
        NEXUS_SIGNUP_REQUEST_QUOTA: '3',
      });
      try {
        const reply = await call(quotaGateway, 'POST', '/api/register', {
          body: { email: 'quota@example.com' },
        });
        assert.equal(reply.status, 201, reply.text);
        const registered = json<Registered & { request_quota: number }>(reply);
        assert.equal(registered.request_quota, 3);
        const chat = (path: string, body: unknown) =>
          call(quotaGateway, 'POST', path, { key: registered.api_key, body });
        const v1 = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
        for (let index = 0; index < 2; index++)
          assert.equal((await chat('/v1/chat/completions', v1)).status, 200);
        assert.equal((await chat('/api/chat', { message: 'hi', model: 'gpt-4o-mini' })).status, 200);
        const overV1 = await chat('/v1/chat/completions', v1);
        assert.equal(overV1.status, 429, overV1.text);
        assert.equal(errorCode(overV1), 'insufficient_quota');
        assert.match(overV1.text, /monthly request quota/);
        const overApi = await chat('/api/chat', { message: 'hi', model: 'gpt-4o-mini' });
        assert.equal(overApi.status, 402, overApi.text);

        const upgraded = await call(quotaGateway, 'PATCH', `/v1/admin/users/${registered.user_id}`, {
          key: masterKey,
          body: { plan: 'pro', request_quota: 10 },
        });
        assert.equal(upgraded.status, 200, upgraded.text);
        assert.equal((await chat('/v1/chat/completions', v1)).status, 200, 'the upgrade holds at once');
      } finally {
        await quotaGateway.close();
      }
    },
  );

  test('one address may sign up only so often an hour', limits, async () => {
    // Four attempts an hour per address (NEXUS_SIGNUP_PER_HOUR=4), counting the ones above: the next is refused.
    let refused: Awaited<ReturnType<typeof call>> | undefined;
    for (let index = 0; index < 6 && refused === undefined; index++) {
      const reply = await call(gateway, 'POST', '/api/register', {
        body: { email: `user${index}@example.com` },
      });
      if (reply.status === 429) refused = reply;
      else assert.equal(reply.status, 201, reply.text);
    }
    assert.ok(refused !== undefined, 'signups from one address are limited');
    assert.equal(errorCode(refused), 'rate_limited');
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
  });
});
