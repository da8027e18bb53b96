/**
 * Faults after the first byte reached the client (issue 5, item 10: scenarios 5 and 6). Once committed, a
 * stream can no longer fail over invisibly: it must end with an error event (the SDK's iteration throws) and
 * never with `finish_reason: 'stop'` or `[DONE]` on a truncated answer, and the access log must mark the
 * request failed. With a group's `streamRecovery: continue` it resumes on the fallback instead.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { type FakeOpenAI, type Fault, startFakeOpenAI } from '../support/fake-openai.ts';
import { readSse, sseJson } from '../support/sse.ts';
import {
  accessLine,
  attemptSummary,
  bodyOf,
  chatCalls,
  drain,
  gatewayFactory,
  groqEnv,
  groqModel,
  limits,
  messages,
  openaiEnv,
  openaiModel,
  requestOptions,
  sdk,
  settledWithin,
  startHeldSse,
  startScriptedSse,
} from './harness.ts';

const fallback = `groq/${groqModel}`;
const answer = 'alpha beta gamma delta epsilon';

/** No chunk the client received claims the answer finished. */
function assertNeverFinished(chunks: readonly ChatCompletionChunk[]) {
  for (const chunk of chunks) {
    for (const choice of chunk.choices) {
      assert.equal(
        choice.finish_reason,
        null,
        `a truncated answer must not carry finish_reason ${choice.finish_reason}`,
      );
    }
  }
}

function assertStreamInterrupted(error: unknown) {
  assert.ok(error instanceof OpenAI.APIError, `the SDK iteration throws an APIError, got ${String(error)}`);
  assert.equal(error.code, 'stream_interrupted');
  assert.equal(error.type, 'api_error');
}

describe('faults after the first byte', () => {
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

  describe('5. a broken stream ends with an error event, never as a success', () => {
    // Chunk 0 is the role, chunks 1 and 2 are "alpha" and " beta": the fault strikes after real content.
    const faults: Array<{ name: string; fault: Fault }> = [
      { name: 'cut', fault: { kind: 'cut', afterChunks: 3 } },
      { name: 'stall', fault: { kind: 'stall', afterChunks: 3 } },
      { name: 'malformed chunk', fault: { kind: 'malformed-chunk', afterChunks: 3 } },
    ];
    for (const { name, fault } of faults) {
      test(
        `${name} mid-stream: SDK throws stream_interrupted, no finish, no failover, logged as failed`,
        limits,
        async () => {
          const gateway = await gateways.start({ ...openaiEnv(a), ...groqEnv(b) });
          a.setReply({ text: answer });
          a.enqueue(fault);
          const { id, options } = requestOptions();
          // A fallback is available, but after the first byte the default is to fail, not to re-send.
          const params = { model: openaiModel, messages, stream: true as const, fallbacks: [fallback] };
          const stream = await sdk(gateway).chat.completions.create(params, options);
          const { chunks, error, text } = await drain(stream);
          assertStreamInterrupted(error);
          assert.equal(text, 'alpha beta', 'the client kept what it had received');
          assertNeverFinished(chunks);
          assert.equal(chatCalls(a).length, 1, 'a committed stream is never re-sent');
          assert.equal(chatCalls(b).length, 0, 'nor failed over');
          if (name === 'stall') assert.equal(await settledWithin(chatCalls(a)[0]), 'client-aborted');
          const line = await accessLine(gateway, id);
          assert.equal(line.errorCode, 'stream_interrupted', 'the access log marks the request failed');
          assert.deepEqual(attemptSummary(line), [
            { instance: 'OpenAI (Key #1)', outcome: 'failed', errorCode: 'stream_interrupted' },
          ]);
        },
      );
    }

    test('on the wire: one error event and no [DONE] (cut, stall, malformed)', limits, async () => {
      const gateway = await gateways.start(openaiEnv(a));
      a.setReply({ text: answer });
      for (const { fault } of faults) a.enqueue(fault);
      for (const { name } of faults) {
        const response = await fetch(`${gateway.baseURL}/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: openaiModel, messages, stream: true }),
          signal: AbortSignal.timeout(5000),
        });
        assert.equal(response.status, 200, 'the stream had started');
        const { events, error } = await readSse(response);
        assert.equal(error, undefined, `${name}: the gateway ends the response cleanly`);
        assert.ok(!events.some((event) => event.data === '[DONE]'), `${name}: no [DONE]`);
        const payloads = sseJson<ChatCompletionChunk & { error?: { code: string } }>(events);
        assert.equal(
          payloads.at(-1)?.error?.code,
          'stream_interrupted',
          `${name}: ends with the error event`,
        );
        assert.equal(payloads.filter((payload) => payload.error !== undefined).length, 1);
        assertNeverFinished(payloads.slice(0, -1));
      }
    });

    test('a stream that ends without [DONE] and without any finish_reason is an error', limits, async () => {
      const head = { id: 'chatcmpl-nodone', object: 'chat.completion.chunk', created: 1, model: openaiModel };
      const chunk = (delta: Record<string, unknown>) =>
        `data: ${JSON.stringify({ ...head, choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`;
      const upstream = await startScriptedSse(
        chunk({ role: 'assistant', content: '' }) +
          chunk({ content: 'half an' }) +
          chunk({ content: ' answer' }),
      );
      try {
        const gateway = await gateways.start({ OPENAI_API_KEY: 'sk-x', OPENAI_BASE_URL: upstream.url });
        const { id, options } = requestOptions();
        const stream = await sdk(gateway).chat.completions.create(
          { model: openaiModel, messages, stream: true },
          options,
        );
        const { chunks, error, text } = await drain(stream);
        assertStreamInterrupted(error);
        assert.equal(text, 'half an answer');
        assertNeverFinished(chunks);
        assert.equal(upstream.calls, 1);
        assert.equal((await accessLine(gateway, id)).errorCode, 'stream_interrupted');
      } finally {
        await upstream.close();
      }
    });

    test(
      'a stream that outlives REQUEST_TIMEOUT_MS ends with an error event, not a dropped connection',
      limits,
      async () => {
        // 100 ms between chunks: never a stall (300 ms), but twelve words take longer than the 600 ms deadline.
        const slow = await startFakeOpenAI({ chunkDelayMs: 100 });
        try {
          const gateway = await gateways.start({
            OPENAI_API_KEY: 'sk-x',
            OPENAI_BASE_URL: slow.url,
            REQUEST_TIMEOUT_MS: '600',
          });
          slow.setReply({ text: 'one two three four five six seven eight nine ten eleven twelve' });
          const { id, options } = requestOptions();
          const stream = await sdk(gateway).chat.completions.create(
            { model: openaiModel, messages, stream: true },
            options,
          );
          const { chunks, error } = await drain(stream);
          assertNeverFinished(chunks);
          assert.ok(chunks.length > 0, 'the stream had started');
          assert.ok(
            error instanceof OpenAI.APIError && !(error instanceof OpenAI.APIConnectionError),
            `an error event the SDK raises as APIError, got ${String(error)}`,
          );
          assert.equal(error.code, 'upstream_timeout');
          assert.equal((await accessLine(gateway, id)).errorCode, 'upstream_timeout');
        } finally {
          await slow.close();
        }
      },
    );

    test('a stream that ends without [DONE] after every choice finished is complete', limits, async () => {
      const gateway = await gateways.start(openaiEnv(a));
      a.setReply({ text: 'complete answer' });
      a.enqueue({ kind: 'no-done' });
      const { id, options } = requestOptions();
      const stream = await sdk(gateway).chat.completions.create(
        { model: openaiModel, messages, stream: true },
        options,
      );
      const { chunks, error, text } = await drain(stream);
      assert.equal(error, undefined);
      assert.equal(text, 'complete answer');
      assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'stop');
      assert.equal((await accessLine(gateway, id)).errorCode, undefined);
    });
  });

  test(
    'an answer completed with [DONE] reaches the client whole, even if the body then breaks',
    limits,
    async () => {
      const head = { id: 'chatcmpl-held', object: 'chat.completion.chunk', created: 1, model: openaiModel };
      const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
        `data: ${JSON.stringify({ ...head, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      const upstream = await startHeldSse(
        `${chunk({ role: 'assistant', content: '' })}${chunk({ content: 'whole answer' })}${chunk({}, 'stop')}data: [DONE]\n\n`,
      );
      try {
        // Stall and request timeouts longer than the valve below: only the end marker can finish the stream early.
        const gateway = await gateways.start({
          OPENAI_API_KEY: 'sk-x',
          OPENAI_BASE_URL: upstream.url,
          STREAM_STALL_TIMEOUT_MS: '30000',
          REQUEST_TIMEOUT_MS: '30000',
        });
        const { id, options } = requestOptions();
        const response = await fetch(`${gateway.baseURL}/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...options.headers },
          body: JSON.stringify({ model: openaiModel, messages, stream: true }),
          signal: AbortSignal.timeout(10_000),
        });
        // The upstream holds its body open after [DONE]; the client must not wait for it. A safety valve releases
        // it eventually, so that a regression fails the assertion below instead of hanging the suite.
        let releasedByValve = false;
        const valve = setTimeout(() => {
          releasedByValve = true;
          upstream.release('end');
        }, 3000);
        const { events, error } = await readSse(response);
        clearTimeout(valve);
        assert.equal(
          releasedByValve,
          false,
          'the client got the whole stream while the upstream body was open',
        );
        assert.equal(error, undefined);
        assert.equal(events.at(-1)?.data, '[DONE]');
        const payloads = sseJson<ChatCompletionChunk>(events.slice(0, -1));
        assert.equal(
          payloads.map((payload) => payload.choices[0]?.delta.content ?? '').join(''),
          'whole answer',
        );
        assert.equal(payloads.at(-1)?.choices[0]?.finish_reason, 'stop');
        // The connection then breaks: the answer was already whole, so the request and its attempt stay a success.
        upstream.release('reset');
        const line = await accessLine(gateway, id);
        assert.equal(line.errorCode, undefined);
        assert.deepEqual(attemptSummary(line), [{ instance: 'OpenAI (Key #1)', outcome: 'ok' }]);
      } finally {
        await upstream.close();
      }
    },
  );

  describe('6. streamRecovery: continue', () => {
    const recoveryGroups = {
      groups: {
        resilient: {
          targets: [{ model: `openai/${openaiModel}` }],
          fallbacks: [fallback],
          streamRecovery: 'continue' as const,
        },
      },
    };

    for (const fault of [
      { kind: 'cut', afterChunks: 3 },
      { kind: 'stall', afterChunks: 3 },
    ] satisfies Fault[]) {
      test(`a ${fault.kind} mid-stream is continued on the fallback and ends normally`, limits, async () => {
        const gateway = await gateways.start({ ...openaiEnv(a), ...groqEnv(b) }, recoveryGroups);
        a.setReply({ text: answer });
        a.enqueue(fault);
        b.setReply({ text: ' gamma delta epsilon' });
        const { id, options } = requestOptions();
        const stream = await sdk(gateway).chat.completions.create(
          { model: 'resilient', messages, stream: true },
          options,
        );
        const { chunks, error, text } = await drain(stream);
        assert.equal(error, undefined, `the client sees no error (${String(error)})`);
        assert.equal(text, 'alpha beta gamma delta epsilon', 'text from both upstreams, in order');
        assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'stop');
        assert.equal(new Set(chunks.map((chunk) => chunk.id)).size, 1, 'one completion id throughout');
        assert.equal(
          chunks.filter((chunk) => chunk.choices[0]?.delta?.role !== undefined).length,
          1,
          'one role chunk',
        );
        assert.equal(chatCalls(a).length, 1);
        assert.equal(chatCalls(b).length, 1);
        if (fault.kind === 'stall') assert.equal(await settledWithin(chatCalls(a)[0]), 'client-aborted');
        const sent = bodyOf(chatCalls(b)[0]).messages as Array<{ role: string; content: string }>;
        assert.deepEqual(sent.slice(0, messages.length), messages, 'the conversation goes on unchanged');
        assert.deepEqual(sent[messages.length], { role: 'assistant', content: 'alpha beta' });
        assert.equal(sent.length, messages.length + 2, 'partial answer, then the instruction to continue');
        assert.equal(sent.at(-1)?.role, 'user');
        const line = await accessLine(gateway, id);
        assert.equal(line.errorCode, undefined);
        assert.deepEqual(attemptSummary(line), [
          { instance: 'OpenAI (Key #1)', outcome: 'failed', errorCode: 'stream_interrupted' },
          { instance: 'Groq (Key #1)', outcome: 'ok', continuation: true },
        ]);
      });
    }

    test(
      'when the fallback cannot continue either, the stream ends with the error event',
      limits,
      async () => {
        const gateway = await gateways.start({ ...openaiEnv(a), ...groqEnv(b) }, recoveryGroups);
        a.setReply({ text: answer });
        a.enqueue({ kind: 'cut', afterChunks: 3 });
        b.setPersistentFault({ kind: 'status', status: 503 });
        const { id, options } = requestOptions();
        const stream = await sdk(gateway).chat.completions.create(
          { model: 'resilient', messages, stream: true },
          options,
        );
        const { chunks, error, text } = await drain(stream);
        assertStreamInterrupted(error);
        assert.equal(text, 'alpha beta');
        assertNeverFinished(chunks);
        assert.equal(chatCalls(b).length, 2, 'the fallback is retried once in place, then given up');
        const line = await accessLine(gateway, id);
        assert.equal(line.errorCode, 'stream_interrupted');
        assert.deepEqual(
          attemptSummary(line).map((attempt) => [attempt.instance, attempt.outcome]),
          [
            ['OpenAI (Key #1)', 'failed'],
            ['Groq (Key #1)', 'failed'],
            ['Groq (Key #1)', 'failed'],
          ],
        );
      },
    );

    test('a partial tool call is not continued: error event, fallback untouched', limits, async () => {
      const gateway = await gateways.start({ ...openaiEnv(a), ...groqEnv(b) }, recoveryGroups);
      a.setReply({ toolCalls: [{ name: 'lookup', arguments: '{"city":"Paris","days":3}' }] });
      a.enqueue({ kind: 'cut', afterChunks: 3 });
      const { options } = requestOptions();
      const stream = await sdk(gateway).chat.completions.create(
        { model: 'resilient', messages, stream: true },
        options,
      );
      const { chunks, error } = await drain(stream);
      assertStreamInterrupted(error);
      assertNeverFinished(chunks);
      assert.equal(chatCalls(b).length, 0);
    });
  });
});
