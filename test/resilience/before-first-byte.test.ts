/**
 * Faults before the first byte reaches the client (issue 5, item 10: scenarios 1–4 and 15): rate limits,
 * 5xx, connection resets, silent and slow upstreams. Each test asserts what the client sees (status, body,
 * SDK error class) and how many upstream calls each fake / key received.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import { type FakeOpenAI, type Fault, startFakeOpenAI } from '../support/fake-openai.ts';
import {
  accessLine,
  attemptSummary,
  chatCalls,
  drain,
  failure,
  gatewayFactory,
  groqEnv,
  groqModel,
  groqPoolEnv,
  keysCalled,
  limits,
  messages,
  openaiEnv,
  openaiModel,
  poolKeys,
  requestOptions,
  sdk,
  settledWithin,
} from './harness.ts';

const pooled = `groq/${groqModel}`;
const [key1, key2] = poolKeys;

describe('faults before the first byte', () => {
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

  /** A Groq key pool on fake B, tried key 1 first (`fastest` with equal scores keeps catalogue order). */
  const poolGateway = (env: Record<string, string> = {}) =>
    gateways.start({ ...groqPoolEnv(b), ROUTING_MODE: 'fastest', ...env });

  describe('1. rate limits (429)', () => {
    test('a 429 with Retry-After on one key is served by the next key of the pool', limits, async () => {
      const gateway = await poolGateway();
      b.setReply({ text: 'served by the second key' });
      b.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
      const { id, options } = requestOptions();
      const completion = await sdk(gateway).chat.completions.create({ model: pooled, messages }, options);
      assert.equal(completion.choices[0]?.message.content, 'served by the second key');
      assert.deepEqual(keysCalled(b), [key1, key2], 'key 1 refused, key 2 served; no wait, no repeat');
      const line = await accessLine(gateway, id);
      assert.equal(line.status, 200);
      assert.deepEqual(attemptSummary(line), [
        { instance: 'Groq (Key #1)', outcome: 'failed', errorCode: 'upstream_rate_limited' },
        { instance: 'Groq (Key #2)', outcome: 'ok' },
      ]);
    });

    test(
      'a 429 with a short Retry-After on the only key is retried on it after the wait',
      limits,
      async () => {
        const gateway = await gateways.start(openaiEnv(a));
        a.setReply({ text: 'served after the wait' });
        a.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
        const { id, options } = requestOptions();
        const completion = await sdk(gateway).chat.completions.create(
          { model: openaiModel, messages },
          options,
        );
        assert.equal(completion.choices[0]?.message.content, 'served after the wait');
        assert.equal(chatCalls(a).length, 2, 'the refused call, then one retry after Retry-After');
        const line = await accessLine(gateway, id);
        assert.deepEqual(
          attemptSummary(line).map((attempt) => attempt.outcome),
          ['failed', 'ok'],
        );
      },
    );

    test(
      'a persistent 429 on every key ends in a 429 RateLimitError with retry-after, one call per key',
      limits,
      async () => {
        const gateway = await poolGateway();
        // Longer than any wait Nexus would do itself: it must hand the delay to the client, not sit on it.
        b.setPersistentFault({ kind: 'status', status: 429, headers: { 'retry-after': '30' } });
        const { id, options } = requestOptions();
        const error = await failure(() =>
          sdk(gateway).chat.completions.create({ model: pooled, messages }, options),
        );
        assert.ok(error instanceof OpenAI.RateLimitError, `RateLimitError, got ${error.constructor.name}`);
        assert.equal(error.status, 429);
        assert.equal(error.code, 'upstream_rate_limited');
        assert.equal(error.type, 'rate_limit_error');
        assert.equal(error.headers?.get('retry-after'), '30', 'the provider’s Retry-After is passed on');
        assert.deepEqual(keysCalled(b), [key1, key2], 'each key asked once; a 429 is never retried in place');
        const line = await accessLine(gateway, id);
        assert.equal(line.status, 429);
        assert.equal(line.errorCode, 'upstream_rate_limited');
        assert.equal(line.attempts?.length, 2);
      },
    );
  });

  describe('2. server errors (5xx)', () => {
    test('a 500 once is retried on the same instance: two calls, success', limits, async () => {
      const gateway = await gateways.start(openaiEnv(a));
      a.setReply({ text: 'second time lucky' });
      a.enqueue({ kind: 'status', status: 500 });
      const { id, options } = requestOptions();
      const completion = await sdk(gateway).chat.completions.create(
        { model: openaiModel, messages },
        options,
      );
      assert.equal(completion.choices[0]?.message.content, 'second time lucky');
      assert.equal(chatCalls(a).length, 2);
      const line = await accessLine(gateway, id);
      assert.deepEqual(attemptSummary(line), [
        { instance: 'OpenAI (Key #1)', outcome: 'failed', errorCode: 'upstream_error' },
        { instance: 'OpenAI (Key #1)', outcome: 'ok' },
      ]);
    });

    test(
      'a persistent 503 on a pool: each key twice (retry in place, then next key), then 502',
      limits,
      async () => {
        const gateway = await poolGateway();
        b.setPersistentFault({ kind: 'status', status: 503 });
        const { id, options } = requestOptions();
        const error = await failure(() =>
          sdk(gateway).chat.completions.create({ model: pooled, messages }, options),
        );
        assert.ok(error instanceof OpenAI.InternalServerError, `got ${error.constructor.name}`);
        assert.equal(error.status, 502);
        assert.equal(error.code, 'upstream_error');
        assert.match(error.message, /Groq \(Key #2\) failed with HTTP 503/);
        assert.deepEqual(keysCalled(b), [key1, key1, key2, key2]);
        const line = await accessLine(gateway, id);
        assert.equal(line.status, 502);
        assert.equal(line.attempts?.length, 4);
      },
    );

    test('a persistent 503 on the primary and its fallback: two calls each, then 502', limits, async () => {
      const gateway = await gateways.start({ ...openaiEnv(a), ...groqEnv(b) });
      a.setPersistentFault({ kind: 'status', status: 503 });
      b.setPersistentFault({ kind: 'status', status: 503 });
      const { options } = requestOptions();
      const params = { model: openaiModel, messages, fallbacks: [`groq/${groqModel}`] };
      const error = await failure(() => sdk(gateway).chat.completions.create(params, options));
      assert.equal(error.status, 502);
      assert.equal(chatCalls(a).length, 2);
      assert.equal(chatCalls(b).length, 2);
    });

    test('MAX_ATTEMPTS bounds the calls across retries and failover', limits, async () => {
      const gateway = await poolGateway({ MAX_ATTEMPTS: '3' });
      b.setPersistentFault({ kind: 'status', status: 503 });
      const { id, options } = requestOptions();
      const error = await failure(() =>
        sdk(gateway).chat.completions.create({ model: pooled, messages }, options),
      );
      assert.equal(error.status, 502);
      assert.deepEqual(keysCalled(b), [key1, key1, key2]);
      assert.equal((await accessLine(gateway, id)).attempts?.length, 3);
    });
  });

  describe('3. resets and silent upstreams', () => {
    test('a TCP reset before the response is retried on the same instance: success', limits, async () => {
      const gateway = await gateways.start(openaiEnv(a));
      a.setReply({ text: 'after the reset' });
      a.enqueue({ kind: 'reset' });
      const { id, options } = requestOptions();
      const completion = await sdk(gateway).chat.completions.create(
        { model: openaiModel, messages },
        options,
      );
      assert.equal(completion.choices[0]?.message.content, 'after the reset');
      assert.equal(chatCalls(a).length, 2);
      assert.equal(chatCalls(a)[0]?.outcome, 'server-destroyed');
      const line = await accessLine(gateway, id);
      assert.deepEqual(attemptSummary(line), [
        { instance: 'OpenAI (Key #1)', outcome: 'failed', errorCode: 'upstream_unavailable' },
        { instance: 'OpenAI (Key #1)', outcome: 'ok' },
      ]);
    });

    test(
      'a connection cut halfway through a JSON reply is retried like a reset: success',
      limits,
      async () => {
        const gateway = await gateways.start(openaiEnv(a));
        a.setReply({ text: 'whole reply' });
        a.enqueue({ kind: 'cut', afterChunks: 0 });
        const { id, options } = requestOptions();
        const completion = await sdk(gateway).chat.completions.create(
          { model: openaiModel, messages },
          options,
        );
        assert.equal(completion.choices[0]?.message.content, 'whole reply');
        assert.equal(chatCalls(a).length, 2);
        const line = await accessLine(gateway, id);
        assert.notEqual(line.errorCode, 'internal_error');
        assert.deepEqual(attemptSummary(line), [
          { instance: 'OpenAI (Key #1)', outcome: 'failed', errorCode: 'upstream_unavailable' },
          { instance: 'OpenAI (Key #1)', outcome: 'ok' },
        ]);
      },
    );

    test('a TCP reset before a stream’s first byte is retried invisibly', limits, async () => {
      const gateway = await gateways.start(openaiEnv(a));
      a.setReply({ text: 'streamed after the reset' });
      a.enqueue({ kind: 'reset' });
      const { options } = requestOptions();
      const stream = await sdk(gateway).chat.completions.create(
        { model: openaiModel, messages, stream: true },
        options,
      );
      const { error, text, chunks } = await drain(stream);
      assert.equal(error, undefined);
      assert.equal(text, 'streamed after the reset');
      assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'stop');
      assert.equal(chatCalls(a).length, 2);
    });

    test(
      'a silent upstream (non-stream) is bounded by REQUEST_TIMEOUT_MS: 504 after one call',
      limits,
      async () => {
        const gateway = await gateways.start({ ...openaiEnv(a), REQUEST_TIMEOUT_MS: '400' });
        a.enqueue({ kind: 'hang' });
        const { id, options } = requestOptions();
        const error = await failure(() =>
          sdk(gateway).chat.completions.create({ model: openaiModel, messages }, options),
        );
        assert.equal(error.status, 504);
        assert.equal(error.code, 'upstream_timeout');
        assert.equal(error.type, 'timeout_error');
        assert.equal(chatCalls(a).length, 1);
        assert.equal(
          await settledWithin(chatCalls(a)[0]),
          'client-aborted',
          'the upstream request is cancelled',
        );
        const line = await accessLine(gateway, id);
        assert.equal(line.status, 504);
        assert.deepEqual(attemptSummary(line), [
          { instance: 'OpenAI (Key #1)', outcome: 'failed', errorCode: 'upstream_timeout' },
        ]);
      },
    );

    test(
      'a silent upstream (stream) hits FIRST_TOKEN_TIMEOUT_MS and fails over invisibly',
      limits,
      async () => {
        const gateway = await poolGateway();
        b.setReply({ text: 'from the healthy key' });
        b.enqueue({ kind: 'hang' });
        const { id, options } = requestOptions();
        const stream = await sdk(gateway).chat.completions.create(
          { model: pooled, messages, stream: true },
          options,
        );
        const { error, text } = await drain(stream);
        assert.equal(error, undefined);
        assert.equal(text, 'from the healthy key');
        assert.deepEqual(keysCalled(b), [key1, key2]);
        assert.equal(await settledWithin(chatCalls(b)[0]), 'client-aborted');
        const line = await accessLine(gateway, id);
        assert.equal(line.status, 200);
        assert.deepEqual(attemptSummary(line), [
          { instance: 'Groq (Key #1)', outcome: 'failed', errorCode: 'upstream_timeout' },
          { instance: 'Groq (Key #2)', outcome: 'ok' },
        ]);
      },
    );

    test(
      'every instance silent (stream): 504 after one first-token timeout per instance',
      limits,
      async () => {
        const gateway = await poolGateway();
        b.setPersistentFault({ kind: 'hang' });
        const { options } = requestOptions();
        const error = await failure(() =>
          sdk(gateway).chat.completions.create({ model: pooled, messages, stream: true }, options),
        );
        assert.equal(error.status, 504);
        assert.equal(error.code, 'upstream_timeout');
        assert.deepEqual(keysCalled(b), [key1, key2], 'a timed-out instance is not waited on twice');
      },
    );

    test(
      'a group requestTimeoutMs bounds a silent upstream tighter than REQUEST_TIMEOUT_MS',
      limits,
      async () => {
        const gateway = await gateways.start(
          { ...openaiEnv(a), REQUEST_TIMEOUT_MS: '20000' },
          { groups: { tight: { targets: [{ model: `openai/${openaiModel}` }], requestTimeoutMs: 300 } } },
        );
        a.enqueue({ kind: 'hang' });
        // The client waits 2 s: several times the group's limit, well under the global one.
        const client = new OpenAI({ apiKey: 'x', baseURL: gateway.baseURL, maxRetries: 0, timeout: 2000 });
        const error = await failure(() => client.chat.completions.create({ model: 'tight', messages }));
        assert.equal(
          error.status,
          504,
          `the group's requestTimeoutMs answers 504, got ${error.constructor.name}`,
        );
      },
    );
  });

  describe('4. slow first token', () => {
    test(
      'a first byte later than FIRST_TOKEN_TIMEOUT_MS fails over invisibly and cancels the slow call',
      limits,
      async () => {
        const gateway = await poolGateway();
        b.setReply({ text: 'quick answer' });
        b.enqueue({ kind: 'slow-first-byte', ms: 5000 });
        const { id, options } = requestOptions();
        const stream = await sdk(gateway).chat.completions.create(
          { model: pooled, messages, stream: true },
          options,
        );
        const { error, text } = await drain(stream);
        assert.equal(error, undefined);
        assert.equal(text, 'quick answer');
        assert.deepEqual(keysCalled(b), [key1, key2]);
        assert.equal(
          await settledWithin(chatCalls(b)[0]),
          'client-aborted',
          'the slow request was cancelled',
        );
        assert.equal(chatCalls(b)[1]?.outcome, 'completed');
        const line = await accessLine(gateway, id);
        assert.deepEqual(attemptSummary(line), [
          { instance: 'Groq (Key #1)', outcome: 'failed', errorCode: 'upstream_timeout' },
          { instance: 'Groq (Key #2)', outcome: 'ok' },
        ]);
      },
    );

    test('role-only chunks do not count as the first token', limits, async () => {
      const gateway = await poolGateway();
      b.setReply({ text: 'after the role' });
      // The role chunk arrives at once, then the upstream goes silent before any content.
      b.enqueue({ kind: 'stall', afterChunks: 1 });
      const { options } = requestOptions();
      const stream = await sdk(gateway).chat.completions.create(
        { model: pooled, messages, stream: true },
        options,
      );
      const { error, text, chunks } = await drain(stream);
      assert.equal(error, undefined);
      assert.equal(text, 'after the role');
      assert.equal(
        chunks.filter((chunk) => chunk.choices[0]?.delta?.role === 'assistant').length,
        1,
        'the client sees one role chunk, from the instance that answered',
      );
      assert.deepEqual(keysCalled(b), [key1, key2]);
    });
  });

  describe('15. with one healthy instance, no failure before the first byte reaches the client', () => {
    const faults: Array<{ name: string; fault: Fault; calls: number }> = [
      { name: 'reset', fault: { kind: 'reset' }, calls: 2 },
      { name: '500', fault: { kind: 'status', status: 500 }, calls: 2 },
      { name: '503', fault: { kind: 'status', status: 503 }, calls: 2 },
      { name: '429', fault: { kind: 'status', status: 429, headers: { 'retry-after': '30' } }, calls: 1 },
      { name: 'hang', fault: { kind: 'hang' }, calls: 1 },
      { name: 'slow-first-byte', fault: { kind: 'slow-first-byte', ms: 5000 }, calls: 1 },
      // Non-stream: the connection dies halfway through the JSON body; stream: before the first chunk.
      { name: 'cut', fault: { kind: 'cut', afterChunks: 0 }, calls: 2 },
      // Non-stream: a body that is not JSON; stream: a first event that is not JSON.
      { name: 'malformed', fault: { kind: 'malformed-chunk', afterChunks: 0 }, calls: 2 },
    ];
    /** Instance 1 is OpenAI on fake A (tried first), instance 2 Groq on fake B, in one group step. */
    const groupGateway = () =>
      gateways.start(
        { ...openaiEnv(a), ...groqEnv(b) },
        {
          groups: {
            pair: {
              targets: [{ model: `openai/${openaiModel}` }, { model: `groq/${groqModel}` }],
              routing: 'fastest',
            },
          },
        },
      );

    for (const { name, fault, calls } of faults) {
      test(`stream: ${name} on instance 1 → 200 stream from instance 2`, limits, async () => {
        const gateway = await groupGateway();
        a.setPersistentFault(fault);
        b.setReply({ text: 'healthy instance two' });
        const { id, options } = requestOptions();
        const stream = await sdk(gateway).chat.completions.create(
          { model: 'pair', messages, stream: true },
          options,
        );
        const { error, text, chunks } = await drain(stream);
        assert.equal(error, undefined, `no error reaches the client (${String(error)})`);
        assert.equal(text, 'healthy instance two');
        assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'stop');
        assert.equal(chatCalls(a).length, calls, `instance 1 calls for ${name}`);
        assert.equal(chatCalls(b).length, 1);
        const line = await accessLine(gateway, id);
        assert.equal(line.status, 200);
        assert.equal(line.errorCode, undefined);
        assert.equal(line.provider, 'Groq (Key #1)');
      });

      if (name === 'hang' || name === 'slow-first-byte') continue; // non-stream: see scenario 3
      test(`non-stream: ${name} on instance 1 → 200 from instance 2`, limits, async () => {
        const gateway = await groupGateway();
        a.setPersistentFault(fault);
        b.setReply({ text: 'healthy instance two' });
        const { options } = requestOptions();
        const completion = await sdk(gateway).chat.completions.create({ model: 'pair', messages }, options);
        assert.equal(completion.choices[0]?.message.content, 'healthy instance two');
        assert.equal(chatCalls(a).length, calls);
        assert.equal(chatCalls(b).length, 1);
      });
    }
  });
});
