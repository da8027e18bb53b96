/**
 * JSON Web Tokens in place of keys (`auth.jwt`), on real sockets with the official OpenAI SDK: a shared secret
 * with issuer and audience, and an identity provider's JWKS served on loopback. A tenant token acts for its
 * organization and project under their limits; an admin token acts as the master key; every bad token is a
 * clear 401 that never echoes the token, and an identity provider out of reach is a 503, not a 401.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import OpenAI from 'openai';
import { call, json, type OrgWire, type ProjectWire } from '../support/admin-client.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const limits = { timeout: 30_000 };
const masterKey = 'nexus-master-jwt-tests';
const secret = 'a shared secret of at least thirty-two characters';
const messages = [{ role: 'user' as const, content: 'who am I?' }];

function errorCode(reply: { body: unknown }): string | undefined {
  return (reply.body as { error?: { code?: string } }).error?.code;
}

async function tenant(gateway: TestGateway, name: string, projectLimits?: Record<string, number>) {
  const org = json<OrgWire>(
    await call(gateway, 'POST', '/v1/admin/orgs', { key: masterKey, body: { name } }),
  );
  const created = await call(gateway, 'POST', '/v1/admin/projects', {
    key: masterKey,
    body: { name: `${name} project`, org_id: org.id, ...(projectLimits ? { limits: projectLimits } : {}) },
  });
  assert.equal(created.status, 201, created.text);
  return { org, project: json<ProjectWire>(created) };
}

describe('JWT with a shared secret, issuer and audience', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;
  const key = new TextEncoder().encode(secret);
  const sign = (
    claims: JWTPayload,
    options: { expiresIn?: string; issuer?: string; audience?: string; with?: Uint8Array } = {},
  ) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuer(options.issuer ?? 'https://idp.test')
      .setAudience(options.audience ?? 'nexus')
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? '5m')
      .sign(options.with ?? key);

  before(async () => {
    fake = await startFakeOpenAI();
    gateway = await startGateway({
      NEXUS_MASTER_KEY: masterKey,
      HOST: '127.0.0.1',
      OPENAI_API_KEY: 'sk-upstream-jwt',
      OPENAI_BASE_URL: fake.url,
      NEXUS_JWT_SECRET: secret,
      NEXUS_JWT_ISSUER: 'https://idp.test',
      NEXUS_JWT_AUDIENCE: 'nexus',
    });
  });

  after(async () => {
    await gateway.close();
    await fake.close();
  });

  test(
    "a tenant token acts for its project, under the project's limits, and is no admin",
    limits,
    async () => {
      const { org, project } = await tenant(gateway, 'jwt-tenant', { rpm: 2 });
      const token = await sign({ org_id: org.id, project_id: project.id });
      const client = new OpenAI({ apiKey: token, baseURL: gateway.baseURL, maxRetries: 0 });
      const first = await client.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
      assert.ok(first.data.choices[0]?.message.content);
      assert.equal(first.response.headers.get('x-ratelimit-limit'), '2');
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
      await assert.rejects(
        client.chat.completions.create({ model: 'gpt-4o-mini', messages }),
        (error: InstanceType<typeof OpenAI.APIError>) => error.status === 429,
        "the project's 2 requests per minute hold for its tokens",
      );
      const admin = await call(gateway, 'GET', '/v1/admin/orgs', { key: token });
      assert.equal(admin.status, 403, admin.text);

      await gateway.app.gateway.services.current!.ledger.flush();
      const logs = await call(gateway, 'GET', `/v1/admin/logs?project_id=${project.id}`, { key: masterKey });
      const rows = (logs.body as { data: { key_id: string | null; org_id: string }[] }).data;
      assert.equal(rows.length, 3, logs.text);
      assert.ok(rows.every((row) => row.key_id === 'jwt:alice' && row.org_id === org.id));
      assert.ok(!gateway.logs.join('\n').includes(token), 'the token is never logged');
    },
  );

  test('an admin token acts as the master key', limits, async () => {
    const token = await sign({ nexus_admin: true });
    const orgs = await call(gateway, 'GET', '/v1/admin/orgs', { key: token });
    assert.equal(orgs.status, 200, orgs.text);
  });

  test('every bad token is a 401 that names the problem and never echoes the token', limits, async () => {
    const { org, project } = await tenant(gateway, 'jwt-bad');
    const claims = { org_id: org.id, project_id: project.id };
    const cases: [string, Promise<string>, RegExp][] = [
      ['expired', sign(claims, { expiresIn: '-5m' }), /expired/],
      ['another secret', sign(claims, { with: new TextEncoder().encode('x'.repeat(40)) }), /signature/],
      ['another issuer', sign(claims, { issuer: 'https://evil.test' }), /'iss'/],
      ['another audience', sign(claims, { audience: 'someone-else' }), /'aud'/],
      ['no organization', sign({ project_id: project.id }), /org_id/],
      ['an unknown project', sign({ org_id: org.id, project_id: 'proj_nope' }), /does not exist/],
      ['a project of another org', sign({ org_id: 'org_other', project_id: project.id }), /does not exist/],
    ];
    for (const [name, signing, message] of cases) {
      const token = await signing;
      const reply = await call(gateway, 'POST', '/v1/chat/completions', {
        key: token,
        body: { model: 'gpt-4o-mini', messages },
      });
      assert.equal(reply.status, 401, `${name}: ${reply.text}`);
      assert.equal(errorCode(reply), 'invalid_api_key', name);
      assert.match(reply.text, message, name);
      assert.ok(!reply.text.includes(token), `${name}: the token is not echoed`);
    }
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    const none = await call(gateway, 'GET', '/v1/models', { key: unsigned });
    assert.equal(none.status, 401, 'an unsigned token is refused');
    const plain = await call(gateway, 'GET', '/v1/models', { key: masterKey });
    assert.equal(plain.status, 200, 'keys still work beside tokens');
  });
});

describe("JWT verified with an identity provider's JWKS", () => {
  test(
    'a token signed with a published key is accepted; another key is refused; an unreachable JWKS is a 503',
    limits,
    async () => {
      const { publicKey, privateKey } = await generateKeyPair('RS256');
      const published = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
      let fetches = 0;
      const idp: Server = createServer((_request, response) => {
        fetches++;
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ keys: [published] }));
      });
      idp.listen(0, '127.0.0.1');
      await once(idp, 'listening');
      const jwksUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/.well-known/jwks.json`;
      const fake = await startFakeOpenAI();
      const start = () =>
        startGateway({
          NEXUS_MASTER_KEY: masterKey,
          HOST: '127.0.0.1',
          OPENAI_API_KEY: 'sk-upstream-jwks',
          OPENAI_BASE_URL: fake.url,
          NEXUS_JWT_JWKS_URL: jwksUrl,
        });
      const gateway = await start();
      try {
        const { org, project } = await tenant(gateway, 'jwks-tenant');
        const signed = (privateKeyToUse: Parameters<SignJWT['sign']>[0], kid: string) =>
          new SignJWT({ org_id: org.id, project_id: project.id })
            .setProtectedHeader({ alg: 'RS256', kid })
            .setExpirationTime('5m')
            .sign(privateKeyToUse);
        const token = await signed(privateKey, 'k1');
        const client = new OpenAI({ apiKey: token, baseURL: gateway.baseURL, maxRetries: 0 });
        const reply = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
        assert.ok(reply.choices[0]?.message.content);
        await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
        assert.equal(fetches, 1, 'the JWKS is fetched once and the token verified once');

        const stranger = await generateKeyPair('RS256');
        const forged = await call(gateway, 'GET', '/v1/models', {
          key: await signed(stranger.privateKey, 'k1'),
        });
        assert.equal(forged.status, 401, forged.text);

        idp.closeAllConnections();
        await new Promise((resolve) => idp.close(resolve));
        // A gateway whose identity provider is out of reach cannot tell a good token from a bad one: 503.
        const orphan = await start();
        try {
          const unreachable = await call(orphan, 'GET', '/v1/models', { key: token });
          assert.equal(unreachable.status, 503, unreachable.text);
          assert.equal(errorCode(unreachable), 'auth_unavailable');
          assert.ok(unreachable.headers.get('retry-after'));
        } finally {
          await orphan.close();
        }
      } finally {
        await gateway.close();
        await fake.close();
        if (idp.listening) idp.close();
      }
    },
  );
});
