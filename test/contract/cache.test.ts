/**
 * The exact response cache on real sockets, judged by the official SDKs, against one gateway that keeps
 * running (tests in sequence, state carried over, as in production): hits cost nothing and say so, answers
 * never cross tenants, a failed or cut answer is never stored, streams are replayed as streams the SDKs parse,
 * bypass and TTL directives hold, identical concurrent requests make one upstream call, and hits reach the
 * usage ledger and the public stats.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { writeConfigFile } from '../support/config-file.ts';
import { type FakeAnthropic, startFakeAnthropic } from '../support/fake-anthropic.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { postJson, startGateway } from '../support/gateway.ts';
import { type Tenant, TenantFixture } from '../support/tenant-fixture.ts';

const limits = { timeout: 30_000 };

/** A question no earlier test asked, so each test starts from an empty cache for it. */
const fresh = (label: string) => [{ role: 'user' as const, content: `${label} ${randomUUID()}` }];

describe('the exact cache, on one long-lived gateway', () => {
  const fixture = new TenantFixture({ CACHE_ENABLED: 'true' });
  let fake: FakeOpenAI;
  let alice: Tenant;
  let bob: Tenant;
  let clientA: OpenAI;
  let clientB: OpenAI;

  const chatCalls = () => fake.callsTo('/chat/completions').length;

  before(async () => {
    await fixture.start();
    fake = fixture.fake;
    alice = await fixture.tenant('alice');
    bob = await fixture.tenant('bob');
    clientA = new OpenAI({ apiKey: alice.secret, baseURL: fixture.gateway.baseURL, maxRetries: 0 });
    clientB = new OpenAI({ apiKey: bob.secret, baseURL: fixture.gateway.baseURL, maxRetries: 0 });
  });
  after(() => fixture.close());

  test(
    'a repeated request is a hit: same answer, no upstream call, cost 0, the original provider named',
    limits,
    async () => {
      const messages = fresh('what is the boiling point of water?');
      const first = await clientA.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
      const calls = chatCalls();
      const second = await clientA.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
      assert.equal(chatCalls(), calls, 'the hit made no upstream call');
      assert.equal(first.response.headers.get('x-nexus-cache'), 'MISS');
      assert.equal(second.response.headers.get('x-nexus-cache'), 'HIT');
      assert.deepEqual(second.data.choices, first.data.choices);
      assert.equal(second.data.id, first.data.id);
      assert.equal(second.response.headers.get('x-nexus-cost-usd'), '0');
      assert.ok(Number(first.response.headers.get('x-nexus-cost-usd')) > 0);
      assert.equal(
        second.response.headers.get('x-nexus-provider'),
        first.response.headers.get('x-nexus-provider'),
      );
      assert.equal(second.response.headers.get('x-nexus-model'), first.response.headers.get('x-nexus-model'));
    },
  );

  test("one tenant never receives another tenant's cached answer", limits, async () => {
    const messages = fresh('which city is the capital of France?');
    fake.setReply({ text: 'the answer Alice paid for' });
    const forAlice = await clientA.chat.completions.create({ model: 'gpt-4o-mini', messages });
    fake.setReply({ text: 'the answer Bob paid for' });
    const calls = chatCalls();
    const forBob = await clientB.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    fake.setReply(null);
    assert.equal(chatCalls(), calls + 1, "Bob's request went upstream");
    assert.equal(forBob.response.headers.get('x-nexus-cache'), 'MISS');
    assert.equal(forAlice.choices[0]?.message.content, 'the answer Alice paid for');
    assert.equal(forBob.data.choices[0]?.message.content, 'the answer Bob paid for');
    // Each keeps its own: both are hits now, each with its own answer.
    const againA = await clientA.chat.completions.create({ model: 'gpt-4o-mini', messages });
    const againB = await clientB.chat.completions.create({ model: 'gpt-4o-mini', messages });
    assert.equal(againA.choices[0]?.message.content, 'the answer Alice paid for');
    assert.equal(againB.choices[0]?.message.content, 'the answer Bob paid for');
    assert.equal(chatCalls(), calls + 1);
  });

  test(
    'a parameter that changes the answer is another key; key order in the body is not',
    limits,
    async () => {
      const messages = fresh('name a colour');
      await clientA.chat.completions.create({ model: 'gpt-4o-mini', messages, temperature: 0 });
      const calls = chatCalls();
      const other = await clientA.chat.completions
        .create({ model: 'gpt-4o-mini', messages, temperature: 1 })
        .withResponse();
      assert.equal(other.response.headers.get('x-nexus-cache'), 'MISS');
      assert.equal(chatCalls(), calls + 1);
      const reordered = await postJson(
        `${fixture.gateway.baseURL}/chat/completions`,
        `{"temperature":0,"messages":${JSON.stringify(messages)},"model":"gpt-4o-mini"}`,
        { authorization: `Bearer ${alice.secret}` },
      );
      assert.equal(reordered.status, 200);
      assert.equal(reordered.headers.get('x-nexus-cache'), 'HIT');
      assert.equal(chatCalls(), calls + 1);
    },
  );

  test(
    'a cached answer asked for as a stream is replayed as one the SDK parses, usage only when asked',
    limits,
    async () => {
      const messages = fresh('write one line about tea');
      const original = await clientA.chat.completions.create({ model: 'gpt-4o-mini', messages });
      const calls = chatCalls();
      const chunks: OpenAI.ChatCompletionChunk[] = [];
      const stream = await clientA.chat.completions
        .create({ model: 'gpt-4o-mini', messages, stream: true })
        .withResponse();
      assert.equal(stream.response.headers.get('x-nexus-cache'), 'HIT');
      for await (const chunk of stream.data) chunks.push(chunk);
      assert.equal(
        chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''),
        original.choices[0]?.message.content,
      );
      assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, original.choices[0]?.finish_reason);
      assert.ok(
        chunks.every((chunk) => chunk.usage == null),
        'no usage chunk unless asked',
      );

      const withUsage = clientA.chat.completions.stream({
        model: 'gpt-4o-mini',
        messages,
        stream: true,
        stream_options: { include_usage: true },
      });
      const final = await withUsage.finalChatCompletion();
      assert.equal(final.choices[0]?.message.content, original.choices[0]?.message.content);
      assert.deepEqual(final.usage, original.usage);
      assert.equal(chatCalls(), calls, 'both streams came from the cache');
    },
  );

  test('a stream is stored once it ended normally, and then answers JSON requests too', limits, async () => {
    const messages = fresh('count to three');
    const streamed = clientA.chat.completions.stream({ model: 'gpt-4o-mini', messages, stream: true });
    const whole = await streamed.finalChatCompletion();
    const calls = chatCalls();
    const replay = await clientA.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    assert.equal(replay.response.headers.get('x-nexus-cache'), 'HIT');
    assert.equal(replay.data.choices[0]?.message.content, whole.choices[0]?.message.content);
    // Replayed as a stream too: with the usage chunk only for a client that asks for it.
    const withUsage = await clientA.chat.completions
      .stream({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } })
      .finalChatCompletion();
    assert.equal(withUsage.choices[0]?.message.content, whole.choices[0]?.message.content);
    assert.ok(withUsage.usage != null && withUsage.usage.total_tokens > 0);
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of await clientA.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      stream: true,
    })) {
      chunks.push(chunk);
    }
    assert.equal(
      chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''),
      whole.choices[0]?.message.content,
    );
    assert.ok(chunks.every((chunk) => chunk.usage == null));
    assert.equal(chatCalls(), calls);
  });

  test('a stream cut mid-answer is never stored', limits, async () => {
    const messages = fresh('tell a long story');
    fake.enqueue(
      { kind: 'cut', afterChunks: 2 },
      { kind: 'cut', afterChunks: 2 },
      { kind: 'cut', afterChunks: 2 },
    );
    const broken = clientA.chat.completions.stream({ model: 'gpt-4o-mini', messages, stream: true });
    await assert.rejects(broken.finalChatCompletion());
    fake.reset();
    const next = await clientA.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    assert.equal(next.response.headers.get('x-nexus-cache'), 'MISS');
    assert.equal(chatCalls(), 1, 'the next request went upstream');
  });

  test('a failed request is never stored', limits, async () => {
    const messages = fresh('this one fails first');
    fake.setPersistentFault({ kind: 'status', status: 400 });
    await assert.rejects(clientA.chat.completions.create({ model: 'gpt-4o-mini', messages }));
    fake.setPersistentFault(null);
    const calls = chatCalls();
    const next = await clientA.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    assert.equal(next.response.headers.get('x-nexus-cache'), 'MISS');
    assert.equal(chatCalls(), calls + 1);
  });

  test(
    'bypass directives: no-store neither reads nor writes, no-cache refreshes, a bad TTL is a 400',
    limits,
    async () => {
      const messages = fresh('bypass me');
      const url = `${fixture.gateway.baseURL}/chat/completions`;
      const auth = { authorization: `Bearer ${alice.secret}` };
      const body = { model: 'gpt-4o-mini', messages };
      const noStore = await postJson(url, body, { ...auth, 'cache-control': 'no-store' });
      assert.equal(noStore.headers.get('x-nexus-cache'), 'BYPASS');
      const afterNoStore = await postJson(url, body, auth);
      assert.equal(afterNoStore.headers.get('x-nexus-cache'), 'MISS', 'no-store stored nothing');
      const calls = chatCalls();
      const refreshed = await postJson(url, body, { ...auth, 'cache-control': 'no-cache' });
      assert.equal(refreshed.headers.get('x-nexus-cache'), 'BYPASS');
      assert.equal(chatCalls(), calls + 1, 'no-cache went upstream although an answer was stored');
      const bypass = await postJson(url, body, { ...auth, 'x-nexus-cache': 'bypass' });
      assert.equal(bypass.headers.get('x-nexus-cache'), 'BYPASS');
      assert.equal(chatCalls(), calls + 2);
      const hit = await postJson(url, body, auth);
      assert.equal(hit.headers.get('x-nexus-cache'), 'HIT');
      for (const ttl of ['59', '86401', 'soon', '1e3']) {
        const bad = await postJson(url, body, { ...auth, 'x-nexus-cache-ttl': ttl });
        assert.equal(bad.status, 400, ttl);
        assert.equal((bad.body as { error: { param: string } }).error.param, 'x-nexus-cache-ttl');
      }
      const ok = await postJson(
        url,
        { ...body, messages: fresh('ttl') },
        { ...auth, 'x-nexus-cache-ttl': '60' },
      );
      assert.equal(ok.status, 200);
    },
  );

  test("seed 004's cache and cacheTtl fields, and its cached flag", limits, async () => {
    const url = `${fixture.gateway.origin}/api/v1/completions/chat`;
    const auth = { authorization: `Bearer ${alice.secret}` };
    const messages = fresh('seed 004 question');
    const first = await postJson(url, { model: 'gpt-4o-mini', messages, cacheTtl: 120 }, auth);
    const second = await postJson(url, { model: 'gpt-4o-mini', messages }, auth);
    const off = await postJson(url, { model: 'gpt-4o-mini', messages, cache: false }, auth);
    const cached = (reply: { body: unknown }) =>
      (reply.body as { data: { cached: boolean; cost: number } }).data;
    assert.equal(cached(first).cached, false);
    assert.equal(cached(second).cached, true);
    assert.equal(cached(second).cost, 0);
    assert.equal(cached(off).cached, false);
    const bad = await postJson(url, { model: 'gpt-4o-mini', messages, cacheTtl: 30 }, auth);
    assert.equal(bad.status, 400);
  });

  test('embeddings are cached too', limits, async () => {
    const input = `embed me ${randomUUID()}`;
    const first = await clientA.embeddings.create({ model: 'text-embedding-3-small', input });
    const calls = fake.callsTo('/embeddings').length;
    const second = await clientA.embeddings.create({ model: 'text-embedding-3-small', input }).withResponse();
    assert.equal(second.response.headers.get('x-nexus-cache'), 'HIT');
    assert.deepEqual(second.data.data[0]?.embedding, first.data[0]?.embedding);
    assert.equal(fake.callsTo('/embeddings').length, calls);
  });

  test(
    '100 concurrent identical requests make exactly one upstream call and get 100 correct answers',
    limits,
    async () => {
      const messages = fresh('everyone asks this at once');
      fake.reset();
      fake.enqueue({ kind: 'delay', ms: 300 });
      const replies = await Promise.all(
        Array.from({ length: 100 }, () =>
          clientA.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse(),
        ),
      );
      assert.equal(chatCalls(), 1);
      const contents = new Set(replies.map((reply) => reply.data.choices[0]?.message.content));
      assert.equal(contents.size, 1);
      assert.ok([...contents][0]!.includes('everyone asks this at once'));
      const results = replies.map((reply) => reply.response.headers.get('x-nexus-cache'));
      assert.equal(results.filter((result) => result === 'MISS').length, 1);
      assert.equal(results.filter((result) => result === 'HIT').length, 99);
    },
  );

  test(
    'concurrent identical streams share one upstream stream, each client gets all of it',
    limits,
    async () => {
      const messages = fresh('stream this to many');
      fake.reset();
      fake.enqueue({ kind: 'slow-first-byte', ms: 300 });
      const finals = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          clientA.chat.completions
            .stream({
              model: 'gpt-4o-mini',
              messages,
              stream: true,
              ...(index % 2 === 0 ? { stream_options: { include_usage: true } } : {}),
            })
            .finalChatCompletion(),
        ),
      );
      assert.equal(chatCalls(), 1);
      const texts = new Set(finals.map((final) => final.choices[0]?.message.content));
      assert.equal(texts.size, 1);
      assert.ok([...texts][0]!.includes('stream this to many'));
      finals.forEach((final, index) => {
        assert.equal(
          final.usage != null,
          index % 2 === 0,
          `client ${index} asked ${index % 2 === 0 ? '' : 'not '}for usage`,
        );
      });
    },
  );

  test('hits reach the usage ledger (cost 0, the saving recorded) and the public stats', limits, async () => {
    const messages = fresh('ledger question');
    const first = await clientB.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    await clientB.chat.completions.create({ model: 'gpt-4o-mini', messages });
    await fixture.flush();
    const logs = await fixture.as(fixture.masterKey, 'GET', `/v1/admin/logs?key_id=${bob.key.id}&limit=2`);
    const records = (JSON.parse(logs.text) as { data: Array<Record<string, unknown>> }).data;
    assert.equal(records[0]?.cache_result, 'HIT');
    assert.equal(records[0]?.cost_usd, 0);
    assert.equal(records[0]?.savings_usd, Number(first.response.headers.get('x-nexus-cost-usd')));
    assert.equal(records[1]?.cache_result, 'MISS');
    const stats = await fixture.as(undefined, 'GET', '/api/stats');
    const body = JSON.parse(stats.text) as { cache_hits: number; savings_usd: number };
    assert.ok(body.cache_hits >= 1);
    assert.ok(body.savings_usd > 0);
  });

  test("an admin lists and purges one tenant's entries, and only that tenant's", limits, async () => {
    const messages = fresh('purge me');
    await clientA.chat.completions.create({ model: 'gpt-4o-mini', messages });
    await clientB.chat.completions.create({ model: 'gpt-4o-mini', messages });
    const listed = await fixture.as(
      fixture.masterKey,
      'GET',
      `/v1/admin/cache?project_id=${alice.project.id}`,
    );
    assert.equal(listed.status, 200, listed.text);
    assert.ok((JSON.parse(listed.text) as { data: unknown[] }).data.length > 0);
    const purged = await fixture.as(
      fixture.masterKey,
      'DELETE',
      `/v1/admin/cache?project_id=${alice.project.id}`,
    );
    assert.equal(purged.status, 200, purged.text);
    assert.ok((JSON.parse(purged.text) as { purged: number }).purged > 0);
    const a = await clientA.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    const b = await clientB.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    assert.equal(a.response.headers.get('x-nexus-cache'), 'MISS');
    assert.equal(b.response.headers.get('x-nexus-cache'), 'HIT');
    const tenantTries = await fixture.as(
      alice.secret,
      'DELETE',
      `/v1/admin/cache?project_id=${bob.project.id}`,
    );
    assert.equal(tenantTries.status, 403);
    const both = await fixture.as(
      fixture.masterKey,
      'GET',
      `/v1/admin/cache?project_id=${alice.project.id}&principal=master`,
    );
    assert.equal(both.status, 400);
    const unknown = await fixture.as(fixture.masterKey, 'GET', '/v1/admin/cache?project_id=nope');
    assert.equal(unknown.status, 404);
  });

  test(
    'hostile input to the cache: strange directives, huge or SQL-looking ids, unknown parameters',
    limits,
    async () => {
      const url = `${fixture.gateway.baseURL}/chat/completions`;
      const auth = { authorization: `Bearer ${alice.secret}` };
      const body = { model: 'gpt-4o-mini', messages: fresh('hostile') };
      const odd = await postJson(url, body, {
        ...auth,
        'x-nexus-cache': "'; DROP TABLE cache; --",
        'cache-control': 'x'.repeat(4000),
      });
      assert.equal(odd.status, 200, 'an unknown directive is ignored with a warning');
      assert.match(odd.headers.get('x-nexus-warnings') ?? '', /x-nexus-cache/);
      for (const query of [
        `project_id=${'p'.repeat(10_000)}`,
        "project_id=' OR 1=1 --",
        'org_id=',
        'principal=root',
        'project_id=x&project_id=y',
        'everything=true',
        'limit=0',
        'limit=abc',
      ]) {
        for (const method of ['GET', 'DELETE']) {
          const reply = await fixture.as(fixture.masterKey, method, `/v1/admin/cache?${encodeURI(query)}`);
          assert.ok(
            reply.status === 400 || reply.status === 404,
            `${method} ${query.slice(0, 40)}: ${reply.status}`,
          );
          assert.match(reply.text, /"error"/);
        }
      }
      const noKey = await fixture.as(undefined, 'DELETE', `/v1/admin/cache?project_id=${alice.project.id}`);
      assert.equal(noKey.status, 401);
      const still = await postJson(url, body, auth);
      assert.equal(still.headers.get('x-nexus-cache'), 'HIT', 'nothing hostile purged or broke the entry');
    },
  );

  test('a key whose metadata says cache off is never cached', limits, async () => {
    const carol = await fixture.tenant('carol', { metadata: { cache: 'off' } });
    const client = new OpenAI({ apiKey: carol.secret, baseURL: fixture.gateway.baseURL, maxRetries: 0 });
    const messages = fresh('never cache me');
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    const calls = chatCalls();
    const again = await client.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    assert.equal(again.response.headers.get('x-nexus-cache'), null);
    assert.equal(chatCalls(), calls + 1);
  });
});

describe('the exact cache on /v1/messages (Anthropic pass-through)', () => {
  let fake: FakeAnthropic;
  const fixture = new TenantFixture({ CACHE_ENABLED: 'true' });
  let client: Anthropic;

  before(async () => {
    fake = await startFakeAnthropic({ apiKey: 'sk-ant-cache' });
    await fixture.start({ ANTHROPIC_API_KEY: 'sk-ant-cache', ANTHROPIC_BASE_URL: fake.url });
    client = new Anthropic({ apiKey: fixture.masterKey, baseURL: fixture.gateway.origin, maxRetries: 0 });
  });
  after(async () => {
    await fixture.close();
    await fake.close();
  });

  test('a message is cached, and replayed as an event stream the SDK assembles', limits, async () => {
    const messages = [{ role: 'user' as const, content: `say hello ${randomUUID()}` }];
    const model = 'claude-3-5-sonnet-20241022';
    const first = await client.messages.create({ model, max_tokens: 64, messages });
    const calls = fake.calls.length;
    const again = await client.messages.create({ model, max_tokens: 64, messages }).withResponse();
    assert.equal(again.response.headers.get('x-nexus-cache'), 'HIT');
    assert.deepEqual(again.data.content, first.content);
    const streamed = await client.messages.stream({ model, max_tokens: 64, messages }).finalMessage();
    assert.deepEqual(streamed.content, first.content);
    assert.equal(streamed.stop_reason, first.stop_reason);
    assert.equal(fake.calls.length, calls, 'neither went upstream');
  });

  test('an Anthropic stream is stored once complete and answers the next stream', limits, async () => {
    const messages = [{ role: 'user' as const, content: `stream hello ${randomUUID()}` }];
    const model = 'claude-3-5-sonnet-20241022';
    const first = await client.messages.stream({ model, max_tokens: 64, messages }).finalMessage();
    const calls = fake.calls.length;
    const second = await client.messages.stream({ model, max_tokens: 64, messages }).finalMessage();
    assert.deepEqual(second.content, first.content);
    assert.equal(fake.calls.length, calls);
  });
});

describe('per-route cache policy (nexus.yaml cache.routes)', () => {
  test(
    'a route turned off is never cached while another route still is; bad route names are refused',
    limits,
    async () => {
      const fake = await startFakeOpenAI();
      const config = writeConfigFile({ cache: { routes: { '/api/chat': 'off' } } });
      const gateway = await startGateway({
        OPENAI_API_KEY: 'sk-route-policy',
        OPENAI_BASE_URL: fake.url,
        CACHE_ENABLED: 'true',
        NEXUS_CONFIG: config.path,
      });
      try {
        const message = `route policy ${randomUUID()}`;
        for (let i = 0; i < 2; i++) {
          const reply = await postJson(`${gateway.origin}/api/chat`, { message, model: 'gpt-4o-mini' });
          assert.equal(reply.status, 200);
          assert.equal(
            reply.headers.get('x-nexus-cache'),
            null,
            'the route is off: the cache is not in play',
          );
        }
        assert.equal(fake.callsTo('/chat/completions').length, 2);
        const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: message }] };
        await postJson(`${gateway.baseURL}/chat/completions`, body);
        const again = await postJson(`${gateway.baseURL}/chat/completions`, body);
        assert.equal(again.headers.get('x-nexus-cache'), 'HIT');
        assert.equal(fake.callsTo('/chat/completions').length, 3);
      } finally {
        await gateway.close();
        await fake.close();
        config.remove();
      }
      const bad = writeConfigFile({ cache: { routes: { 'not a path': 'off' } } });
      try {
        await assert.rejects(startGateway({ NEXUS_CONFIG: bad.path }), /cache\.routes|route path/);
      } finally {
        bad.remove();
      }
    },
  );
});
