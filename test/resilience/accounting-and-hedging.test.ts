/**
 * Accounting across attempts and hedged streams (issue 5, item 10: scenarios 13 and 14). The access log's
 * `attempts` list must match the upstream calls one for one (same instances, same order, exactly one `ok`),
 * and a hedged stream must record both racers: the backup marked `hedge`, the loser `cancelled`, its upstream
 * request actually aborted.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { findModel, loadCatalog } from '../../src/catalog/load.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import type { TestGateway } from '../support/gateway.ts';
import {
  type AccessLine,
  accessLine,
  attemptSummary,
  chatCalls,
  drain,
  failure,
  gatewayFactory,
  groqEnv,
  groqModel,
  groqPoolEnv,
  healthOf,
  keyOf,
  limits,
  messages,
  openaiEnv,
  openaiKey,
  openaiModel,
  poolKeys,
  requestOptions,
  sdk,
  settledWithin,
} from './harness.ts';

const pooled = `groq/${groqModel}`;
const instanceByKey = new Map<string, string>([
  [poolKeys[0], 'Groq (Key #1)'],
  [poolKeys[1], 'Groq (Key #2)'],
  [openaiKey, 'OpenAI (Key #1)'],
]);

/** One attempt per upstream call, in the same order, exactly one `ok` (the last), none pending. */
function assertAttemptsMatchCalls(line: AccessLine, fakes: FakeOpenAI[]) {
  const calls = fakes
    .flatMap((fake) => chatCalls(fake))
    .sort((x, y) => x.receivedAt - y.receivedAt)
    .map((call) => instanceByKey.get(keyOf(call)));
  const attempts = line.attempts ?? [];
  assert.deepEqual(
    attempts.map((attempt) => attempt.instance),
    calls,
    'one attempt per upstream call, same instances, same order',
  );
  assert.equal(attempts.filter((attempt) => attempt.outcome === 'ok').length, 1, 'exactly one ok');
  assert.equal(attempts.at(-1)?.outcome, 'ok', 'the served attempt is the last');
  assert.ok(
    attempts.every((attempt) => attempt.outcome !== 'pending'),
    'every attempt has a verdict',
  );
  assert.ok(
    attempts.every((attempt) => typeof attempt.ms === 'number'),
    'every attempt is timed',
  );
}

describe('accounting across attempts, and hedging', () => {
  let a: FakeOpenAI;
  let b: FakeOpenAI;
  const gateways = gatewayFactory();

  before(async () => {
    [a, b] = await Promise.all([startFakeOpenAI(), startFakeOpenAI()]);
  });
  after(async () => {
    await gateways.closeAll();
    await Promise.all([a?.close(), b?.close()]);
  });
  beforeEach(() => {
    a.reset();
    b.reset();
  });
  afterEach(() => gateways.closeAll());

  describe('13. the attempts list matches the upstream calls', () => {
    test('non-stream failover: 500, 500 on key 1, success on key 2', limits, async () => {
      const gateway = await gateways.start({ ...groqPoolEnv(b), ROUTING_MODE: 'fastest' });
      b.enqueue({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
      const { id, options } = requestOptions();
      await sdk(gateway).chat.completions.create({ model: pooled, messages }, options);
      const line = await accessLine(gateway, id);
      assert.equal(line.attempts?.length, 3);
      assertAttemptsMatchCalls(line, [b]);
      assert.equal(line.provider, 'Groq (Key #2)');

      // The per-instance counters agree with the attempts.
      const first = await healthOf(gateway, 'Groq (Key #1)');
      const second = await healthOf(gateway, 'Groq (Key #2)');
      assert.equal(first.metrics.totalRequests, 2);
      assert.equal(first.metrics.failures, 2);
      assert.equal(second.metrics.totalRequests, 1);
      assert.equal(second.metrics.failures, 0);
      assert.equal(first.metrics.inFlight + second.metrics.inFlight, 0);
    });

    test('stream failover: reset, then a silent retry, then the next key', limits, async () => {
      const gateway = await gateways.start({ ...groqPoolEnv(b), ROUTING_MODE: 'fastest' });
      b.enqueue({ kind: 'reset' }, { kind: 'hang' });
      const { id, options } = requestOptions();
      const stream = await sdk(gateway).chat.completions.create(
        { model: pooled, messages, stream: true },
        options,
      );
      assert.equal((await drain(stream)).error, undefined);
      const line = await accessLine(gateway, id);
      assert.deepEqual(attemptSummary(line), [
        { instance: 'Groq (Key #1)', outcome: 'failed', errorCode: 'upstream_unavailable' },
        { instance: 'Groq (Key #1)', outcome: 'failed', errorCode: 'upstream_timeout' },
        { instance: 'Groq (Key #2)', outcome: 'ok' },
      ]);
      assertAttemptsMatchCalls(line, [b]);
    });

    test('failover across providers: a pool that rate-limits, then the fallback', limits, async () => {
      const gateway = await gateways.start({ ...groqPoolEnv(b), ...openaiEnv(a), ROUTING_MODE: 'fastest' });
      b.setPersistentFault({ kind: 'status', status: 429, headers: { 'retry-after': '30' } });
      const { id, options } = requestOptions();
      const params = { model: pooled, messages, fallbacks: [`openai/${openaiModel}`] };
      const completion = await sdk(gateway).chat.completions.create(params, options);
      assert.match(completion.choices[0]?.message.content ?? '', /^Echo: /);
      const line = await accessLine(gateway, id);
      assert.equal(line.attempts?.length, 3);
      assertAttemptsMatchCalls(line, [a, b]);
    });
  });

  describe('13. accounting: cost across a continued stream', () => {
    test('the continuation’s usage is priced at the model that produced it', limits, async () => {
      const gateway = await gateways.start(
        { ...openaiEnv(a), ...groqEnv(b) },
        {
          groups: {
            resumable: {
              targets: [{ model: 'openai/gpt-4o' }],
              fallbacks: [pooled],
              streamRecovery: 'continue',
            },
          },
        },
      );
      a.setReply({ text: 'alpha beta gamma delta' });
      a.enqueue({ kind: 'cut', afterChunks: 3 });
      b.setReply({ text: ' gamma delta', usage: { prompt_tokens: 1_000_000, completion_tokens: 0 } });
      const { id, options } = requestOptions();
      const created = await sdk(gateway).chat.completions.create(
        { model: 'resumable', messages, stream: true, stream_options: { include_usage: true } },
        options,
      );
      const { error, text, chunks } = await drain(created);
      assert.equal(error, undefined);
      assert.equal(text, 'alpha beta gamma delta');
      assert.equal(
        chunks.at(-1)?.usage?.prompt_tokens,
        1_000_000,
        'the continuation’s usage reaches the client',
      );
      const line = await accessLine(gateway, id);
      assert.deepEqual(
        attemptSummary(line).map((attempt) => [attempt.instance, attempt.outcome]),
        [
          ['OpenAI (Key #1)', 'failed'],
          ['Groq (Key #1)', 'ok'],
        ],
      );
      // One million tokens priced as the continuation's model, never as gpt-4o; the cut partial adds a few
      // millionths of a dollar at most.
      const catalog = loadCatalog();
      const groqPrice = findModel(catalog, 'groq', groqModel)?.pricing.inputPerMillion;
      const gpt4oPrice = findModel(catalog, 'openai', 'gpt-4o')?.pricing.inputPerMillion;
      assert.ok(groqPrice !== undefined && gpt4oPrice !== undefined && groqPrice !== gpt4oPrice);
      assert.ok(line.costUsd !== undefined, 'the request has a cost');
      assert.ok(
        Math.abs(line.costUsd - groqPrice) < 0.001,
        `cost ${line.costUsd} USD: Groq's usage is ${groqPrice} USD, not gpt-4o's ${gpt4oPrice} USD`,
      );
    });
  });

  describe('14. hedged streams', () => {
    /** Groq (fake B) is the cheaper target, so `cheapest` makes it the primary; OpenAI (fake A) is the backup. */
    const hedgedGroup = {
      groups: {
        hedged: {
          targets: [{ model: `openai/${openaiModel}` }, { model: pooled }],
          routing: 'cheapest' as const,
          hedge: true,
          // Long enough that only the hedge, not the first-token timeout, can rescue a slow primary.
          firstTokenTimeoutMs: 5000,
        },
      },
    };

    async function stream(gateway: TestGateway) {
      const { id, options } = requestOptions();
      const created = await sdk(gateway).chat.completions.create(
        { model: 'hedged', messages, stream: true },
        options,
      );
      return { id, ...(await drain(created)) };
    }

    test(
      'after warming TTFT history, a slow primary triggers a backup that answers; the loser is cancelled',
      limits,
      async () => {
        const gateway = await gateways.start({ ...openaiEnv(a), ...groqEnv(b) }, hedgedGroup);
        a.setReply({ text: 'from the backup' });
        b.setReply({ text: 'from the primary' });
        for (let i = 0; i < 5; i++) {
          const warm = await stream(gateway);
          assert.equal(warm.text, 'from the primary');
        }
        assert.equal(chatCalls(a).length, 0, 'no hedge without TTFT history');

        b.enqueue({ kind: 'slow-first-byte', ms: 4000 });
        const { id, error, text } = await stream(gateway);
        assert.equal(error, undefined);
        assert.equal(text, 'from the backup');
        assert.equal(chatCalls(a).length, 1);
        assert.equal(chatCalls(b).length, 6);
        assert.equal(
          await settledWithin(chatCalls(b)[5]),
          'client-aborted',
          'the loser’s upstream request is cancelled',
        );
        const line = await accessLine(gateway, id);
        assert.equal(line.provider, 'OpenAI (Key #1)');
        assert.deepEqual(attemptSummary(line), [
          { instance: 'Groq (Key #1)', outcome: 'cancelled' },
          { instance: 'OpenAI (Key #1)', outcome: 'ok', hedge: true },
        ]);
        assert.equal(line.errorCode, undefined);
      },
    );

    test(
      'a primary that fails before the backup is due hands over to the backup at once',
      limits,
      async () => {
        const gateway = await gateways.start({ ...openaiEnv(a), ...groqEnv(b) }, hedgedGroup);
        a.setReply({ text: 'from the backup' });
        for (let i = 0; i < 5; i++) await stream(gateway);
        b.setPersistentFault({ kind: 'reset' });
        const { id, error, text } = await stream(gateway);
        assert.equal(error, undefined);
        assert.equal(text, 'from the backup');
        const line = await accessLine(gateway, id);
        assert.equal(line.attempts?.filter((attempt) => attempt.outcome === 'ok').length, 1);
        assert.equal(line.attempts?.at(-1)?.instance, 'OpenAI (Key #1)');
        assert.equal(line.attempts?.length, chatCalls(a).length + chatCalls(b).length - 5);
      },
    );

    test('when both racers fail, the client gets their error (504), not “circuit open”', limits, async () => {
      const gateway = await gateways.start(
        { ...openaiEnv(a), ...groqEnv(b) },
        { groups: { hedged: { ...hedgedGroup.groups.hedged, firstTokenTimeoutMs: 300 } } },
      );
      for (let i = 0; i < 5; i++) await stream(gateway);
      a.setPersistentFault({ kind: 'hang' });
      b.setPersistentFault({ kind: 'hang' });
      const { id, options } = requestOptions();
      const error = await failure(() =>
        sdk(gateway).chat.completions.create({ model: 'hedged', messages, stream: true }, options),
      );
      assert.equal(chatCalls(a).length, 1, 'the backup was started');
      assert.equal(chatCalls(b).length, 6);
      assert.doesNotMatch(error.message, /disabled or its circuit is open/, 'no circuit is open');
      assert.equal(error.status, 504);
      assert.equal(error.code, 'upstream_timeout');
      const line = await accessLine(gateway, id);
      assert.deepEqual(
        attemptSummary(line).map((attempt) => attempt.errorCode),
        ['upstream_timeout', 'upstream_timeout'],
      );
    });
  });
});
