/**
 * Coalesced `/v1/messages` streams when clients leave, on real sockets, judged by the official Anthropic SDK,
 * against one gateway that keeps running (tests in sequence, state carried over). The Messages API shares the
 * cache stage with chat completions but has its own framing (named events ending in `message_stop`), so a
 * follower must get a whole Anthropic stream when the leader's client hangs up: straight from an Anthropic
 * instance, and translated from an OpenAI one. The upstream call is cancelled only when nobody is left
 * reading it, and then nothing is cached; an upstream that breaks ends every follower with an `error` event.
 * cache-coalesced-streams.test.ts covers `/v1/chat/completions`.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Anthropic from '@anthropic-ai/sdk';
import { type FakeAnthropic, type RecordedCall, startFakeAnthropic } from '../support/fake-anthropic.ts';
import { readSseEvents, type SseEvent } from '../support/sse.ts';
import { type Tenant, TenantFixture } from '../support/tenant-fixture.ts';
import { type StreamingCall, WireTap } from '../support/wire-tap.ts';

const limits = { timeout: 30_000 };
const upstreamKey = 'sk-ant-coalesced-messages';
const claude = 'claude-sonnet-4-20250514';
/** Translated: `/v1/messages` in, the fake OpenAI's `/chat/completions` out. */
const gpt = 'gpt-4o-mini';
/** 40 words: with an event every 40 ms the stream runs for about 1.8 s, long enough to leave in the middle. */
const answer = Array.from({ length: 40 }, (_, index) => `word${index}`).join(' ');
const pacingMs = 40;

/** One client's streamed request: the SDK's assembled answer (or the error it raised) and the raw SSE text. */
type StreamingClient = StreamingCall<{ message: Anthropic.Message | undefined; error: unknown; raw: string }>;

function startStream(
  origin: string,
  secret: string,
  request: { model: string; question: string; requestId: string },
): StreamingClient {
  const tap = new WireTap();
  const client = new Anthropic({ apiKey: secret, baseURL: origin, maxRetries: 0, fetch: tap.fetch });
  const stream = client.messages.stream(
    {
      model: request.model,
      max_tokens: 256,
      messages: [{ role: 'user', content: request.question }],
    },
    { signal: tap.signal, headers: { 'x-request-id': request.requestId } },
  );
  stream.on('streamEvent', () => tap.event());
  const finished = stream.finalMessage().then(
    async (message) => ({ message, error: undefined, raw: await tap.raw() }),
    async (error: unknown) => ({ message: undefined, error, raw: await tap.raw() }),
  );
  return tap.call(finished);
}

/** The raw bytes of a stream as events (parsed the way a real client parses them). */
async function eventsOf(raw: string): Promise<SseEvent[]> {
  return readSseEvents(new Response(raw));
}

/** A whole Anthropic stream: the answer, `end_turn`, usage, and `message_stop` as the last event, no `error`. */
async function assertWholeMessage(result: Awaited<StreamingClient['finished']>): Promise<void> {
  const { message, error, raw } = result;
  assert.equal(error, undefined);
  assert.deepEqual(message?.content, [{ type: 'text', text: answer }]);
  assert.equal(message?.stop_reason, 'end_turn');
  assert.ok((message?.usage.input_tokens ?? 0) > 0, 'input tokens');
  assert.ok((message?.usage.output_tokens ?? 0) > 0, 'output tokens');
  const events = await eventsOf(raw);
  assert.equal(events.at(-1)?.event, 'message_stop', 'the stream ended with message_stop');
  assert.ok(!events.some((event) => event.event === 'error'), 'no error event');
}

describe('coalesced /v1/messages streams when clients leave, on one long-lived gateway', () => {
  const fixture = new TenantFixture({ CACHE_ENABLED: 'true' }, { chunkDelayMs: pacingMs });
  let anthropic: FakeAnthropic;

  const upstreamCalls = (model: string): Array<{ outcome: string; settled: Promise<string> }> =>
    model === claude ? anthropic.callsTo('/messages') : fixture.fake.callsTo('/chat/completions');

  /** The leader's stream, then `followers` identical ones that join it once it is under way. */
  async function coalesced(tenant: Tenant, model: string, question: string, followers: number) {
    const origin = fixture.gateway.origin;
    const leaderId = `leader-${randomUUID()}`;
    const leader = startStream(origin, tenant.secret, { model, question, requestId: leaderId });
    await leader.received(3);
    const joined = Array.from({ length: followers }, () =>
      startStream(origin, tenant.secret, { model, question, requestId: `follower-${randomUUID()}` }),
    );
    await Promise.all(joined.map((follower) => follower.received(4)));
    assert.equal(leader.headers()?.get('x-nexus-cache'), 'MISS');
    for (const follower of joined) assert.equal(follower.headers()?.get('x-nexus-cache'), 'HIT');
    return { leader, leaderId, followers: joined };
  }

  /** The same question asked once more, alone: its cache result (`x-nexus-cache`), after checking the answer whole. */
  async function askAgain(
    tenant: Tenant,
    model: string,
    question: string,
  ): Promise<string | null | undefined> {
    const again = startStream(fixture.gateway.origin, tenant.secret, {
      model,
      question,
      requestId: `again-${randomUUID()}`,
    });
    const replayed = await again.finished;
    await assertWholeMessage(replayed);
    return again.headers()?.get('x-nexus-cache');
  }

  function resetFakes(): void {
    anthropic.reset();
    anthropic.setReply({ text: answer });
    fixture.fake.reset();
    fixture.fake.setReply({ text: answer });
  }

  before(async () => {
    anthropic = await startFakeAnthropic({ apiKey: upstreamKey, eventDelayMs: pacingMs });
    await fixture.start({ ANTHROPIC_API_KEY: upstreamKey, ANTHROPIC_BASE_URL: anthropic.url });
  });
  after(async () => {
    await fixture.close();
    await anthropic.close();
  });

  for (const [model, route] of [
    [claude, 'to an Anthropic instance'],
    [gpt, 'translated to an OpenAI instance'],
  ] as const) {
    test(
      `${route}: the leader's client leaves mid-stream, every follower gets the whole message, the answer is cached, one upstream call`,
      limits,
      async () => {
        const tenant = await fixture.tenant(`leader leaves ${model}`);
        const question = `leader leaves ${randomUUID()}`;
        resetFakes();
        const { leader, leaderId, followers } = await coalesced(tenant, model, question, 3);
        leader.leave();
        const left = await leader.finished;
        assert.ok(left.error instanceof Anthropic.APIUserAbortError, 'the leader hung up');

        for (const follower of followers) await assertWholeMessage(await follower.finished);
        assert.equal(upstreamCalls(model).length, 1, 'one upstream call');
        assert.equal(await upstreamCalls(model)[0]?.settled, 'completed', 'the upstream call ran to its end');

        const line = await fixture.accessLine(leaderId);
        assert.equal(line.errorCode, 'client_closed');
        assert.equal(line.cache, 'MISS');

        assert.equal(await askAgain(tenant, model, question), 'HIT', 'the whole answer was stored');
        assert.equal(upstreamCalls(model).length, 1);

        const records = await fixture.ledgerOf(tenant);
        const upstream = records.filter((record) => (record.attempt as number) > 0);
        assert.equal(upstream.length, 1, 'the upstream attempt is recorded once');
        assert.equal(upstream[0]?.outcome, 'ok');
        assert.ok((upstream[0]?.completion_tokens as number) > 0, 'with the usage the stream carried');
        const hits = records.filter((record) => record.cache_result === 'HIT');
        assert.equal(hits.length, 4, 'three followers and the later request');
        for (const hit of hits) assert.equal(hit.cost_usd, 0);
      },
    );
  }

  test(
    'to an Anthropic instance: the leader and every follower leave, the upstream call is cancelled and nothing is cached',
    limits,
    async () => {
      const tenant = await fixture.tenant('everyone leaves');
      const question = `everyone leaves ${randomUUID()}`;
      resetFakes();
      const { leader, leaderId, followers } = await coalesced(tenant, claude, question, 3);
      leader.leave();
      await leader.finished;
      // Followers still read: the upstream call goes on for them.
      await Promise.all(followers.map((follower) => follower.received(10)));
      const call: RecordedCall | undefined = anthropic.callsTo('/messages')[0];
      assert.equal(call?.outcome, 'pending', 'the upstream call outlives the leader');
      for (const follower of followers) {
        follower.leave();
        const { error, raw } = await follower.finished;
        assert.ok(error instanceof Anthropic.APIUserAbortError);
        assert.ok(!(await eventsOf(raw)).some((event) => event.event === 'message_stop'));
      }
      const outcome = await Promise.race([call?.settled, sleep(5_000, 'still running')]);
      assert.equal(outcome, 'client-aborted', 'nobody reads: the upstream request was aborted');
      assert.equal(anthropic.callsTo('/messages').length, 1);

      const line = await fixture.accessLine(leaderId);
      assert.equal(line.errorCode, 'client_closed');

      assert.equal(await askAgain(tenant, claude, question), 'MISS', 'the cut answer was not stored');
      assert.equal(anthropic.callsTo('/messages').length, 2);

      const records = await fixture.ledgerOf(tenant);
      const cancelled = records.filter((record) => record.outcome === 'cancelled');
      assert.equal(cancelled.length, 1, "the leader's cancelled attempt");
    },
  );
  test(
    'to an Anthropic instance: the upstream breaks after the leader left, every follower gets an error event, nothing is cached',
    limits,
    async () => {
      const tenant = await fixture.tenant('upstream breaks');
      const question = `upstream breaks ${randomUUID()}`;
      resetFakes();
      anthropic.enqueue({ kind: 'cut', afterEvents: 25 });
      const { leader, followers } = await coalesced(tenant, claude, question, 3);
      leader.leave();
      await leader.finished;
      for (const follower of followers) {
        const { error, raw } = await follower.finished;
        assert.ok(error instanceof Anthropic.APIError, 'the SDK raised the error event');
        const events = await eventsOf(raw);
        assert.equal(events.at(-1)?.event, 'error', 'the stream ended with an error event');
        assert.ok(!events.some((event) => event.event === 'message_stop'), 'never a clean message_stop');
      }
      assert.equal(anthropic.callsTo('/messages').length, 1);

      assert.equal(await askAgain(tenant, claude, question), 'MISS', 'the broken answer was not stored');
      assert.equal(anthropic.callsTo('/messages').length, 2);
    },
  );
});
