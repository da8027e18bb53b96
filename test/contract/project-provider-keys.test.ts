/**
 * Seed 004's "bring your own provider keys" on real sockets: a project's own OpenAI key serves that project's
 * traffic in place of the gateway's key (streams included), other callers keep the gateway's key, a key the
 * provider refuses is that project's failure only, and a project can reach a provider the gateway has no key
 * for. One gateway serves the tests in sequence, as in production.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { call, type Envelope, json } from '../support/admin-client.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import type { SeedProject } from '../support/tenant-fixture.ts';

const limits = { timeout: 30_000 };
const masterKey = 'nexus-master-own-keys';
const gatewayKey = 'sk-gateway-own-keys';
const encryptionKey = randomBytes(32).toString('base64');
const messages = [{ role: 'user' as const, content: 'whose key is this?' }];

function bearerOf(fake: FakeOpenAI, index: number): string {
  return String(fake.callsTo('/chat/completions')[index]?.headers.authorization ?? '');
}

async function createProject(gateway: TestGateway, name: string, extra: Record<string, unknown> = {}) {
  const reply = await call(gateway, 'POST', '/api/v1/projects', {
    key: masterKey,
    body: { name, ...extra },
  });
  assert.equal(reply.status, 201, reply.text);
  return json<Envelope<SeedProject>>(reply).data;
}

function client(gateway: TestGateway, apiKey: string): OpenAI {
  return new OpenAI({ apiKey, baseURL: gateway.baseURL, maxRetries: 0 });
}

describe("a project's own provider keys serve its traffic", () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;
  let projectKey: string;
  let project: SeedProject;

  before(async () => {
    fake = await startFakeOpenAI();
    gateway = await startGateway({
      NEXUS_MASTER_KEY: masterKey,
      HOST: '127.0.0.1',
      OPENAI_API_KEY: gatewayKey,
      OPENAI_BASE_URL: fake.url,
      NEXUS_ENCRYPTION_KEY: encryptionKey,
    });
    projectKey = `sk-proj-${randomBytes(12).toString('hex')}`;
    project = await createProject(gateway, 'byok', { openaiKey: projectKey });
  });

  after(async () => {
    await gateway.close();
    await fake.close();
  });

  test(
    'its chat and its streams go upstream on its key; other callers keep the gateway key',
    limits,
    async () => {
      fake.reset();
      const mine = client(gateway, project.apiKey);
      const reply = await mine.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
      assert.equal(reply.response.headers.get('x-nexus-provider'), 'OpenAI (project key)');
      assert.ok(reply.data.choices[0]?.message.content);
      const stream = await mine.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      assert.ok(text.length > 0);

      const other = await createProject(gateway, 'plain');
      await client(gateway, other.apiKey).chat.completions.create({ model: 'gpt-4o-mini', messages });
      await client(gateway, masterKey).chat.completions.create({ model: 'openai/gpt-4o-mini', messages });

      assert.deepEqual(
        [0, 1, 2, 3].map((index) => bearerOf(fake, index)),
        [`Bearer ${projectKey}`, `Bearer ${projectKey}`, `Bearer ${gatewayKey}`, `Bearer ${gatewayKey}`],
      );
      const seen = [reply.response.headers, JSON.stringify(reply.data), ...gateway.logs].join('\n');
      assert.ok(!seen.includes(projectKey), 'the project key is never logged or returned');
    },
  );

  test("a key the provider refuses fails that project's requests only", limits, async () => {
    fake.reset();
    fake.setScopedFault(
      { key: projectKey },
      { kind: 'status', status: 401, body: { error: { message: 'Incorrect API key provided' } } },
    );
    try {
      const refused = await call(gateway, 'POST', '/v1/chat/completions', {
        key: project.apiKey,
        body: { model: 'gpt-4o-mini', messages },
      });
      assert.equal(refused.status, 502, refused.text);
      assert.equal((refused.body as { error: { code: string } }).error.code, 'upstream_auth_failed');
      assert.ok(!refused.text.includes(projectKey));
      // Nothing of the project's failure reaches the gateway's own key: it was never tried for the project,
      // and it stays in rotation and closed for everyone else.
      assert.ok(
        fake
          .callsTo('/chat/completions')
          .every((recorded) => recorded.headers.authorization === `Bearer ${projectKey}`),
      );
      const served = await client(gateway, masterKey).chat.completions.create({
        model: 'gpt-4o-mini',
        messages,
      });
      assert.ok(served.choices[0]?.message.content);
      const health = await call(gateway, 'GET', '/health', { key: masterKey });
      const providers = (
        health.body as { providers: { name: string; circuitState: string; keyRejected?: boolean }[] }
      ).providers;
      const openai = providers.find((provider) => provider.name === 'OpenAI (Key #1)');
      assert.equal(openai?.circuitState, 'CLOSED');
      assert.ok(
        !providers.some((provider) => provider.name.includes('project')),
        '/health lists the gateway’s instances only',
      );
    } finally {
      fake.setScopedFault({ key: projectKey }, null);
    }
    const back = await client(gateway, project.apiKey).chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
    });
    assert.ok(back.choices[0]?.message.content, 'the project is served again once its key works');
  });
});

describe('a project reaches a provider the gateway has no key for', () => {
  test('served on its own key; the gateway itself still has no such provider', limits, async () => {
    const fake = await startFakeOpenAI();
    const gateway = await startGateway({
      NEXUS_MASTER_KEY: masterKey,
      HOST: '127.0.0.1',
      OPENAI_BASE_URL: fake.url,
      NEXUS_ENCRYPTION_KEY: encryptionKey,
      // The demo provider would otherwise stand in when nothing is configured.
      NEXUS_DEMO: 'false',
    });
    try {
      const projectKey = `sk-proj-${randomBytes(12).toString('hex')}`;
      const project = await createProject(gateway, 'only-mine', { openaiKey: projectKey });
      const served = await client(gateway, project.apiKey).chat.completions.create({
        model: 'gpt-4o-mini',
        messages,
      });
      assert.ok(served.choices[0]?.message.content);
      assert.equal(bearerOf(fake, 0), `Bearer ${projectKey}`);
      const refused = await call(gateway, 'POST', '/v1/chat/completions', {
        key: masterKey,
        body: { model: 'gpt-4o-mini', messages },
      });
      assert.equal(refused.status, 400, refused.text);
      assert.equal((refused.body as { error: { code: string } }).error.code, 'provider_not_configured');
      assert.equal(fake.callsTo('/chat/completions').length, 1);
    } finally {
      await gateway.close();
      await fake.close();
    }
  });
});
