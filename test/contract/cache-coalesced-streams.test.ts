/**
 * Coalesced streams when clients leave, on real sockets, judged by the official OpenAI SDK, against one gateway
 * that keeps running (tests in sequence, state carried over). Identical concurrent streams share one upstream
 * call: the first request leads, the others follow its stream. A follower is a paying client like any other:
 * when the leader's client hangs up, the followers still get the whole stream, the answer is still cached, and
 * the upstream call is accounted once, on the leader's record (logged `client_closed`). The upstream call is
 * cancelled only when nobody is left reading it, and then nothing is cached.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import type { FakeOpenAI } from '../support/fake-openai.ts';
import { type Tenant, TenantFixture } from '../support/tenant-fixture.ts';
import { type StreamingCall, WireTap } from '../support/wire-tap.ts';

const limits = { timeout: 30_000 };
const model = 'gpt-4o-mini';
/** 40 words: with a chunk every 40 ms the stream runs for about 1.7 s, long enough to leave in the middle. */
const answer = Array.from({ length: 40 }, (_, index) => `word${index}`).join(' ');

/** One client's streamed request: the SDK's assembled answer (or the error it raised) and the raw SSE text. */
type StreamingClient = StreamingCall<{
  completion: OpenAI.ChatCompletion | undefined;
  error: unknown;
  raw: string;
}>;

function startStream(baseURL: string, secret: string, question: string, requestId: string): StreamingClient {
  const tap = new WireTap();
  const client = new OpenAI({ apiKey: secret, baseURL, maxRetries: 0, fetch: tap.fetch });
  const stream = client.chat.completions.stream(
    { model, messages: [{ role: 'user', content: question }], stream: true },
    { signal: tap.signal, headers: { 'x-request-id': requestId } },
  );
  stream.on('chunk', () => tap.event());
  const finished = stream.finalChatCompletion().then(
    async (completion) => ({ completion, error: undefined, raw: await tap.raw() }),
    async (error: unknown) => ({ completion: undefined, error, raw: await tap.raw() }),
  );
  return tap.call(finished);
}

describe('coalesced streams when clients leave, on one long-lived gateway', () => {
  const fixture = new TenantFixture({ CACHE_ENABLED: 'true' }, { chunkDelayMs: 40 });
  let fake: FakeOpenAI;
  let client: (tenant: Tenant) => OpenAI;

  const chatCalls = () => fake.callsTo('/chat/completions');

  /** The leader's stream, then `followers` identical ones that join it once it is under way. */
  async function coalesced(tenant: Tenant, question: string, followers: number) {
    const leaderId = `leader-${randomUUID()}`;
    const leader = startStream(fixture.gateway.baseURL, tenant.secret, question, leaderId);
    await leader.received(2);
    const joined = Array.from({ length: followers }, () =>
      startStream(fixture.gateway.baseURL, tenant.secret, question, `follower-${randomUUID()}`),
    );
    await Promise.all(joined.map((follower) => follower.received(3)));
    assert.equal(leader.headers()?.get('x-nexus-cache'), 'MISS');
    for (const follower of joined) assert.equal(follower.headers()?.get('x-nexus-cache'), 'HIT');
    return { leader, leaderId, followers: joined };
  }

  before(async () => {
    await fixture.start();
    fake = fixture.fake;
    fake.setReply({ text: answer });
    client = (tenant) =>
      new OpenAI({ apiKey: tenant.secret, baseURL: fixture.gateway.baseURL, maxRetries: 0 });
  });
  after(() => fixture.close());

  test(
    "the leader's client leaves mid-stream: every follower gets the whole stream, the answer is cached, one upstream call is accounted",
    limits,
    async () => {
      const alice = await fixture.tenant('alice');
      const question = `leader leaves ${randomUUID()}`;
      fake.reset();
      fake.setReply({ text: answer });
      const { leader, leaderId, followers } = await coalesced(alice, question, 3);
      leader.leave();
      const left = await leader.finished;
      assert.ok(left.error instanceof OpenAI.APIUserAbortError, 'the leader hung up');

      for (const follower of followers) {
        const { completion, error, raw } = await follower.finished;
        assert.equal(error, undefined);
        assert.equal(completion?.choices[0]?.message.content, answer);
        assert.equal(completion?.choices[0]?.finish_reason, 'stop');
        assert.ok(raw.endsWith('data: [DONE]\n\n'), 'the stream ended with [DONE]');
      }
      assert.equal(chatCalls().length, 1, 'one upstream call');
      assert.equal(await chatCalls()[0]?.settled, 'completed', 'the upstream call ran to its end');

      // The leader's request ends with the upstream call it made: logged as its client closing.
      const line = await fixture.accessLine(leaderId);
      assert.equal(line.errorCode, 'client_closed');
      assert.equal(line.cache, 'MISS');

      const again = await client(alice)
        .chat.completions.create({ model, messages: [{ role: 'user', content: question }], stream: true })
        .withResponse();
      let replayed = '';
      for await (const chunk of again.data) replayed += chunk.choices[0]?.delta.content ?? '';
      assert.equal(again.response.headers.get('x-nexus-cache'), 'HIT', 'the whole answer was stored');
      assert.equal(replayed, answer);
      assert.equal(chatCalls().length, 1);

      const records = await fixture.ledgerOf(alice);
      const upstream = records.filter((record) => (record.attempt as number) > 0);
      assert.equal(upstream.length, 1, 'the upstream attempt is recorded once');
      const [attempt] = upstream;
      assert.equal(attempt?.outcome, 'ok');
      assert.equal(attempt?.cache_result, 'MISS');
      assert.ok((attempt?.completion_tokens as number) > 0, 'with the usage the stream carried');
      assert.ok((attempt?.cost_usd as number) > 0, 'priced');
      const hits = records.filter((record) => record.cache_result === 'HIT');
      assert.equal(hits.length, 4, 'three followers and the later request');
      for (const hit of hits) {
        assert.equal(hit.attempt, 0);
        assert.equal(hit.cost_usd, 0);
      }
      const usage = await fixture.as(fixture.masterKey, 'GET', `/v1/admin/usage?key_id=${alice.key.id}`);
      assert.equal(usage.status, 200, usage.text);
      const totals = JSON.parse(usage.text) as {
        requests: number;
        completion_tokens: number;
        cost_usd: number;
      };
      assert.equal(totals.requests, 5);
      assert.equal(totals.completion_tokens, attempt?.completion_tokens, 'the tokens are counted once');
      assert.equal(totals.cost_usd, attempt?.cost_usd, 'and paid once');
    },
  );

  test(
    'the leader and every follower leave: the upstream call is cancelled and nothing is cached',
    limits,
    async () => {
      const bob = await fixture.tenant('bob');
      const question = `everyone leaves ${randomUUID()}`;
      fake.reset();
      fake.setReply({ text: answer });
      const { leader, leaderId, followers } = await coalesced(bob, question, 3);
      leader.leave();
      await leader.finished;
      // Followers still read: the upstream call goes on for them.
      await Promise.all(followers.map((follower) => follower.received(8)));
      const call = chatCalls()[0];
      assert.equal(call?.outcome, 'pending', 'the upstream call outlives the leader');
      for (const follower of followers) {
        follower.leave();
        await follower.finished;
      }
      const outcome = await Promise.race([call?.settled, sleep(5_000, 'still running')]);
      assert.equal(outcome, 'client-aborted', 'nobody reads: the upstream request was aborted');
      assert.equal(chatCalls().length, 1);

      const line = await fixture.accessLine(leaderId);
      assert.equal(line.errorCode, 'client_closed');

      const again = await client(bob)
        .chat.completions.create({ model, messages: [{ role: 'user', content: question }] })
        .withResponse();
      assert.equal(again.response.headers.get('x-nexus-cache'), 'MISS', 'the cut answer was not stored');
      assert.equal(again.data.choices[0]?.message.content, answer);
      assert.equal(chatCalls().length, 2);

      const records = await fixture.ledgerOf(bob);
      const cancelled = records.filter((record) => record.outcome === 'cancelled');
      assert.equal(cancelled.length, 1, "the leader's cancelled attempt");
      assert.equal(cancelled[0]?.attempt, 1);
    },
  );

  test('a follower that leaves does not disturb the leader or the other followers', limits, async () => {
    const carol = await fixture.tenant('carol');
    const question = `a follower leaves ${randomUUID()}`;
    fake.reset();
    fake.setReply({ text: answer });
    const { leader, leaderId, followers } = await coalesced(carol, question, 3);
    const [leaving, ...staying] = followers;
    leaving?.leave();
    assert.ok((await leaving?.finished)?.error instanceof OpenAI.APIUserAbortError);
    for (const reader of [leader, ...staying]) {
      const { completion, error, raw } = await reader.finished;
      assert.equal(error, undefined);
      assert.equal(completion?.choices[0]?.message.content, answer);
      assert.ok(raw.endsWith('data: [DONE]\n\n'));
    }
    assert.equal(chatCalls().length, 1);
    assert.equal(await chatCalls()[0]?.settled, 'completed');
    const line = await fixture.accessLine(leaderId);
    assert.equal(line.errorCode, undefined);
    const again = await client(carol)
      .chat.completions.create({ model, messages: [{ role: 'user', content: question }] })
      .withResponse();
    assert.equal(again.response.headers.get('x-nexus-cache'), 'HIT');
    assert.equal(chatCalls().length, 1);
  });
});
