/**
 * Tenant keys, limits, budgets and the usage ledger through the whole chain, on a running gateway, twice:
 * embedded (SQLite file, limits in process) and clustered (the real PostgreSQL and Redis on this machine).
 * Keys are issued in the gateway's own store, as the admin API does; requests go through the official SDK.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import pg from 'pg';
import { openStore, type Store } from '../../src/store/sql/create-store.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { postJson, startGateway, type TestGateway } from '../support/gateway.ts';
import { postgresUrl, reachable, redisUrl, startPostgres } from '../support/services.ts';

const messages = [{ role: 'user' as const, content: 'count my tokens' }];
/** gpt-4o-mini in catalog/models.yaml: USD per million tokens. */
const price = { input: 0.15, output: 0.6 };

interface Setup {
  readonly name: string;
  /** Env for the gateway, or undefined when the services it needs are down (the test is skipped). */
  env(): Promise<Record<string, string> | undefined>;
  /** Opens the same store the gateway used, after it closed. */
  reopen(env: Record<string, string>): Promise<Store>;
  cleanup(env: Record<string, string>): Promise<void>;
}

const embedded: Setup = {
  name: 'embedded: SQLite, limits in process',
  async env() {
    return { NEXUS_DATA_DIR: mkdtempSync(join(tmpdir(), 'nexus-tenancy-')) };
  },
  reopen: (env) => openStore({ dialect: 'sqlite', file: join(env.NEXUS_DATA_DIR!, 'nexus.db') }),
  async cleanup(env) {
    rmSync(env.NEXUS_DATA_DIR!, { recursive: true, force: true });
  },
};

const cluster: Setup = {
  name: 'cluster: PostgreSQL and Redis',
  async env() {
    // A suite hook cannot skip: a missing service fails under CI, and elsewhere leaves each test to skip.
    for (const [name, url, start] of [
      ['PostgreSQL', postgresUrl, startPostgres],
      ['Redis', redisUrl, 'redis-server --daemonize yes --port 6379'],
    ] as const) {
      if (await reachable(url)) continue;
      const message = `${name} is not reachable at ${url}; start it with: ${start}`;
      if (process.env.CI !== undefined && process.env.CI !== '') throw new Error(message);
      return undefined;
    }
    const suffix = randomUUID().replaceAll('-', '').slice(0, 12);
    return {
      DATABASE_URL: postgresUrl,
      DATABASE_SCHEMA: `nexus_test_${suffix}`,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: `nexus-test-${suffix}:`,
    };
  },
  reopen: (env) =>
    openStore({ dialect: 'postgres', url: postgresUrl, schema: env.DATABASE_SCHEMA!, poolSize: 2 }),
  async cleanup(env) {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS ${env.DATABASE_SCHEMA} CASCADE`);
    } finally {
      await client.end();
    }
  },
};

for (const setup of [embedded, cluster]) {
  describe(`tenancy through the chain, ${setup.name}`, () => {
    let fake: FakeOpenAI;
    let gateway: TestGateway | undefined;
    let env: Record<string, string> | undefined;
    let store: Store;

    before(async () => {
      fake = await startFakeOpenAI();
      env = await setup.env();
      if (env === undefined) return;
      gateway = await startGateway({
        OPENAI_API_KEY: 'sk-upstream',
        OPENAI_BASE_URL: fake.url,
        NEXUS_MASTER_KEY: 'nexus-master-tenancy',
        HOST: '127.0.0.1',
        NEXUS_KEY_REFRESH_MS: '100',
        ...env,
      });
      store = gateway.app.gateway.services.current!.store;
    });

    after(async () => {
      await gateway?.close();
      await fake?.close();
      if (env !== undefined) await setup.cleanup(env);
    });

    /** Issues a key in a fresh org and project, and waits until the gateway has loaded it. */
    async function issueKey(input: Parameters<Store['apiKeys']['create']>[0] = {}) {
      const org = await store.organizations.create({ name: `org ${randomUUID()}` });
      const project = await store.projects.create({ orgId: org.id, name: 'project' });
      const created = await store.apiKeys.create({ projectId: project.id, ...input });
      await waitUntil(async () => (await status(created.secret)) !== 401, 'the new key is served');
      return { ...created, org, project };
    }

    async function status(key: string): Promise<number> {
      const reply = await postJson(
        `${gateway!.baseURL}/chat/completions`,
        { model: 'gpt-4o-mini', messages, max_tokens: 16 },
        { authorization: `Bearer ${key}` },
      );
      return reply.status;
    }

    function client(key: string): OpenAI {
      return new OpenAI({ apiKey: key, baseURL: gateway!.baseURL, maxRetries: 0, timeout: 8000 });
    }

    test('a tenant key is served, and each upstream call has one ledger record priced like the reply', async (context) => {
      if (gateway === undefined) return context.skip('services unavailable');
      const callsBefore = fake.callsTo('/chat/completions').length;
      const { secret, key } = await issueKey();
      const { data, response } = await client(secret)
        .chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 16 })
        .withResponse();
      const usage = data.usage!;
      const expected = (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1e6;
      assert.equal(Number(response.headers.get('x-nexus-cost-usd')), expected);

      const streamed = await client(secret).chat.completions.create({
        model: 'gpt-4o-mini',
        messages,
        max_tokens: 16,
        stream: true,
      });
      for await (const _chunk of streamed) {
        // read to the end
      }
      await gateway.app.gateway.services.current!.ledger.flush();
      const rows = await store.usage.searchLogs({ keyId: key.id, limit: 100 });
      const served = rows.data.filter((row) => row.provider !== null);
      // The readiness probe, the reply and the stream: one record each, as many as upstream calls.
      assert.equal(served.length, 3, 'one record per upstream call');
      assert.equal(served.length, fake.callsTo('/chat/completions').length - callsBefore);
      const [stream, reply] = served.map((row) => Number(row.costNanoUsd));
      assert.equal(served[0]?.streamed, true);
      assert.equal(stream, reply, 'streamed and non-streamed requests with the same usage cost the same');
      assert.equal(reply, Math.round(expected * 1e9));
    });

    test('a key with 3 requests per minute gets a 429 with Retry-After and X-RateLimit-*', async (context) => {
      if (gateway === undefined) return context.skip('services unavailable');
      const callsBefore = fake.callsTo('/chat/completions').length;
      const { secret } = await issueKey({ limits: { rpm: 3 } });
      const replies: Awaited<ReturnType<typeof postJson>>[] = [];
      for (let i = 0; i < 8; i++) {
        replies.push(
          await postJson(
            `${gateway.baseURL}/chat/completions`,
            { model: 'gpt-4o-mini', messages, max_tokens: 16 },
            { authorization: `Bearer ${secret}` },
          ),
        );
      }
      // The readiness probe and these 8 fall in at most two minute windows: at most 6 admitted in all.
      const admitted = replies.filter((reply) => reply.status === 200).length;
      const refused = replies.filter((reply) => reply.status === 429);
      assert.equal(admitted + refused.length, 8);
      assert.ok(refused.length >= 3, `only ${refused.length} of 8 refused`);
      const first = refused[0]!;
      assert.equal((first.body as { error: { code: string } }).error.code, 'rate_limited');
      assert.ok(Number(first.headers.get('retry-after')) >= 1);
      assert.equal(first.headers.get('x-ratelimit-limit'), '3');
      assert.equal(first.headers.get('x-ratelimit-remaining'), '0');
      assert.equal(
        fake.callsTo('/chat/completions').length - callsBefore,
        admitted + 1,
        'refused requests went nowhere (the +1 is the readiness probe)',
      );
    });

    test('a spent budget is insufficient_quota: 429 on /v1, 402 on /api', async (context) => {
      if (gateway === undefined) return context.skip('services unavailable');
      // Less than one request's worst case: every request is refused at admission.
      const { secret } = await issueKey({ budget: { dailyUsd: 0.000001 } });
      const refused = await postJson(
        `${gateway.baseURL}/chat/completions`,
        { model: 'gpt-4o-mini', messages, max_tokens: 1000 },
        { authorization: `Bearer ${secret}` },
      );
      assert.equal(refused.status, 429);
      assert.equal((refused.body as { error: { code: string } }).error.code, 'insufficient_quota');
      const seed = await postJson(
        `${gateway.origin}/api/v1/completions/chat`,
        { model: 'gpt-4o-mini', messages, maxTokens: 1000 },
        { authorization: `Bearer ${secret}` },
      );
      assert.equal(seed.status, 402);
      assert.equal((seed.body as { success: boolean }).success, false);
    });

    test('a key limited to some models gets 403 for others; a revoked key stops working', async (context) => {
      if (gateway === undefined) return context.skip('services unavailable');
      const { secret, key, project } = await issueKey({ models: ['gpt-4o-mini'] });
      const other = await postJson(
        `${gateway.baseURL}/chat/completions`,
        { model: 'gpt-4o', messages },
        { authorization: `Bearer ${secret}` },
      );
      assert.equal(other.status, 403);
      assert.equal((other.body as { error: { code: string } }).error.code, 'model_not_allowed');
      await store.apiKeys.revoke(key.id, { projectId: project.id });
      await waitUntil(async () => (await status(secret)) === 401, 'the revoked key is refused');
    });

    test('closing the gateway writes every buffered ledger record', async (context) => {
      if (gateway === undefined || env === undefined) return context.skip('services unavailable');
      const callsBefore = fake.callsTo('/chat/completions').length;
      const { secret, key } = await issueKey();
      for (let i = 0; i < 5; i++) assert.equal(await status(secret), 200);
      const calls = fake.callsTo('/chat/completions').length - callsBefore;
      await gateway.close();
      gateway = undefined;
      const reopened = await setup.reopen(env);
      try {
        const rows = await reopened.usage.searchLogs({ keyId: key.id, limit: 100 });
        assert.equal(
          rows.data.filter((row) => row.provider !== null).length,
          calls,
          'one record per upstream call, none lost at shutdown',
        );
      } finally {
        await reopened.close();
      }
    });
  });
}

async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`timed out waiting: ${what}`);
}
