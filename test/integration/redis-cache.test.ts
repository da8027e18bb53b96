/**
 * The response cache on the real Redis server, shared by two gateway replicas: an answer one replica stored is
 * a hit on the other (JSON, and replayed as a stream), and a purge of the tenant through
 * one replica empties its entries for both (the store-level suite checks tenants apart on Redis).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { startFakeOpenAI } from '../support/fake-openai.ts';
import { postJson, startGateway, type TestGateway } from '../support/gateway.ts';
import { redisUrl, requireService } from '../support/services.ts';

const masterKey = 'nexus-master-redis-cache';

/** The settings of every replica of one test: the cache on, on the real Redis, under a key prefix of its own. */
function replicaEnv(upstreamUrl: string): Record<string, string> {
  return {
    NEXUS_MASTER_KEY: masterKey,
    OPENAI_API_KEY: 'sk-upstream',
    OPENAI_BASE_URL: upstreamUrl,
    REDIS_URL: redisUrl,
    // A fresh key prefix per run: no entry from an earlier run can answer.
    REDIS_KEY_PREFIX: `nexus-test-${randomUUID()}:`,
    CACHE_ENABLED: 'true',
  };
}

/**
 * Waits until the master key's partition holds `count` entries in Redis, as any replica lists it: a reply goes
 * out before its answer's write lands, so another replica asked at once could still miss.
 */
async function untilStored(replica: TestGateway, count: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const listed = await fetch(`${replica.origin}/v1/admin/cache?principal=master`, {
      headers: { authorization: `Bearer ${masterKey}` },
    });
    if (((await listed.json()) as { data: unknown[] }).data.length >= count) return;
    await sleep(20);
  }
  assert.fail(`the shared cache never held ${count} entries`);
}

it('two replicas on one Redis share cached answers, and a purge reaches both', async (context) => {
  if (!(await requireService(context, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
  const upstream = await startFakeOpenAI();
  const env = replicaEnv(upstream.url);
  const replicaA = await startGateway(env);
  const replicaB = await startGateway(env);
  try {
    const messages = [{ role: 'user', content: `shared across replicas ${randomUUID()}` }];
    const body = { model: 'gpt-4o-mini', messages };
    const first = await postJson(`${replicaA.baseURL}/chat/completions`, body, {
      authorization: `Bearer ${masterKey}`,
    });
    assert.equal(first.headers.get('x-nexus-cache'), 'MISS');
    await untilStored(replicaB, 1);
    const onB = await postJson(`${replicaB.baseURL}/chat/completions`, body, {
      authorization: `Bearer ${masterKey}`,
    });
    assert.equal(onB.headers.get('x-nexus-cache'), 'HIT');
    assert.deepEqual(
      (onB.body as OpenAI.ChatCompletion).choices,
      (first.body as OpenAI.ChatCompletion).choices,
    );
    assert.equal(upstream.callsTo('/chat/completions').length, 1);

    // Replayed as a stream by the other replica, parsed by the official SDK.
    const sdk = new OpenAI({ apiKey: masterKey, baseURL: replicaB.baseURL, maxRetries: 0 });
    const streamed = await sdk.chat.completions
      .stream({ ...body, messages: body.messages as never, stream: true })
      .finalChatCompletion();
    assert.equal(
      streamed.choices[0]?.message.content,
      (first.body as OpenAI.ChatCompletion).choices[0]?.message.content,
    );
    assert.equal(upstream.callsTo('/chat/completions').length, 1);

    // The purge through replica A removes the entry for replica B too.
    const purged = await fetch(`${replicaA.origin}/v1/admin/cache?principal=master`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${masterKey}` },
    });
    assert.equal(purged.status, 200);
    assert.ok(((await purged.json()) as { purged: number }).purged >= 1);
    const afterPurge = await postJson(`${replicaB.baseURL}/chat/completions`, body, {
      authorization: `Bearer ${masterKey}`,
    });
    assert.equal(afterPurge.headers.get('x-nexus-cache'), 'MISS');
    assert.equal(upstream.callsTo('/chat/completions').length, 2);
  } finally {
    await replicaA.close();
    await replicaB.close();
    await upstream.close();
  }
});

it('the semantic cache shares its prompts through Redis: a replica answers a paraphrase asked on another, and one started later loads them', async (context) => {
  if (!(await requireService(context, 'Redis', redisUrl, 'redis-server --daemonize yes --port 6379'))) return;
  const upstream = await startFakeOpenAI();
  const env = { ...replicaEnv(upstream.url), SEMANTIC_CACHE_ENABLED: 'true' };
  const replicaA = await startGateway(env);
  const replicaB = await startGateway(env);
  let replicaC: TestGateway | undefined;
  const promptsOf = (replica: TestGateway) => replica.app.gateway.services.current?.cache.semantic?.size ?? 0;
  const untilPrompts = async (replica: TestGateway) => {
    for (let i = 0; i < 300 && promptsOf(replica) < 1; i++) await sleep(50);
    return promptsOf(replica);
  };
  const ask = (replica: TestGateway, content: string) =>
    postJson(
      `${replica.baseURL}/chat/completions`,
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] },
      { authorization: `Bearer ${masterKey}` },
    );
  try {
    upstream.setReply({ text: 'Boil water, steep the leaves for three minutes.' });
    const first = await ask(replicaA, 'How do I make tea?');
    upstream.setReply(null);
    assert.equal(first.headers.get('x-nexus-cache'), 'MISS');
    assert.equal(await untilPrompts(replicaB), 1, 'replica B learned the prompt from replica A');
    const onB = await ask(replicaB, 'How can I make tea?');
    assert.equal(onB.headers.get('x-nexus-cache'), 'HIT-SEMANTIC');
    assert.equal(
      (onB.body as OpenAI.ChatCompletion).choices[0]?.message.content,
      'Boil water, steep the leaves for three minutes.',
    );
    replicaC = await startGateway(env);
    assert.equal(promptsOf(replicaC), 1, 'a replica started later loads the shared prompts at start');
    assert.equal(upstream.callsTo('/chat/completions').length, 1);
  } finally {
    await replicaA.close();
    await replicaB.close();
    await replicaC?.close();
    await upstream.close();
  }
});
