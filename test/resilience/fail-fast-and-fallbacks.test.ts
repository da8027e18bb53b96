/**
 * Refusals that must not be routed around, and the fallback chains that must be used (issue 5, item 10:
 * scenarios 7–10): context-length refusals (fail fast, or the group's `contextFallback`), content-policy
 * refusals, a fallback that rejects the request, and per-request `fallbacks` / `models` chains, which never
 * reach an upstream body.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import { type FakeOpenAI, type RecordedCall, startFakeOpenAI } from '../support/fake-openai.ts';
import {
  accessLine,
  attemptSummary,
  bodyOf,
  chatCalls,
  drain,
  failure,
  gatewayFactory,
  groqEnv,
  groqModel,
  limits,
  messages,
  openaiEnv,
  openaiModel,
  requestOptions,
  sdk,
  upstreamError,
} from './harness.ts';

const contextRefusal = upstreamError(
  "This model's maximum context length is 128000 tokens. However, your messages resulted in 190213 tokens. Please reduce the length of the messages.",
  'context_length_exceeded',
);
const contentRefusal = upstreamError(
  'Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.',
  'content_policy_violation',
);
const largeModel = 'llama-3.3-70b-versatile';

function assertNoChainFields(calls: readonly RecordedCall[]) {
  for (const call of calls) {
    const body = bodyOf(call);
    assert.ok(!('fallbacks' in body), 'fallbacks never reach an upstream');
    assert.ok(!('models' in body), 'models never reach an upstream');
  }
}

describe('fail fast, and fallback chains', () => {
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

  const bothProviders = () => ({ ...openaiEnv(a), ...groqEnv(b) });

  describe('7. context-length refusals', () => {
    test('fail fast with 400 after one call, even with fallbacks configured', limits, async () => {
      const gateway = await gateways.start(bothProviders(), {
        groups: { chat: { targets: [{ model: `openai/${openaiModel}` }], fallbacks: [`groq/${groqModel}`] } },
      });
      a.setPersistentFault({ kind: 'status', status: 400, body: contextRefusal });
      const { id, options } = requestOptions();
      const error = await failure(() =>
        sdk(gateway).chat.completions.create({ model: 'chat', messages }, options),
      );
      assert.ok(error instanceof OpenAI.BadRequestError, `got ${error.constructor.name}`);
      assert.equal(error.status, 400);
      assert.equal(error.code, 'upstream_bad_request');
      assert.match(
        error.message,
        /maximum context length is 128000 tokens/,
        'the provider’s message is passed on',
      );
      assert.equal(chatCalls(a).length, 1);
      assert.equal(chatCalls(b).length, 0, 'an ordinary fallback would only repeat the refusal');
      const line = await accessLine(gateway, id);
      assert.deepEqual(attemptSummary(line), [
        { instance: 'OpenAI (Key #1)', outcome: 'failed', errorCode: 'upstream_bad_request' },
      ]);
    });

    test('with a group contextFallback the larger model serves it', limits, async () => {
      const gateway = await gateways.start(bothProviders(), {
        groups: {
          chat: {
            targets: [{ model: `openai/${openaiModel}` }],
            contextFallback: `groq/${largeModel}`,
          },
        },
      });
      a.setPersistentFault({ kind: 'status', status: 400, body: contextRefusal });
      b.setReply({ text: 'read it all' });
      const { id, options } = requestOptions();
      const completion = await sdk(gateway).chat.completions.create({ model: 'chat', messages }, options);
      assert.equal(completion.choices[0]?.message.content, 'read it all');
      assert.equal(chatCalls(a).length, 1, 'the refusal is not retried on the small model');
      assert.equal(chatCalls(b).length, 1);
      assert.equal(bodyOf(chatCalls(b)[0]).model, largeModel);
      const line = await accessLine(gateway, id);
      assert.equal(line.status, 200);
      assert.deepEqual(attemptSummary(line), [
        { instance: 'OpenAI (Key #1)', outcome: 'failed', errorCode: 'upstream_bad_request' },
        { instance: 'Groq (Key #1)', outcome: 'ok' },
      ]);
    });

    test(
      'a stream refused for context length goes to the contextFallback before any byte',
      limits,
      async () => {
        const gateway = await gateways.start(bothProviders(), {
          groups: {
            chat: { targets: [{ model: `openai/${openaiModel}` }], contextFallback: `groq/${largeModel}` },
          },
        });
        a.setPersistentFault({ kind: 'status', status: 400, body: contextRefusal });
        b.setReply({ text: 'streamed from the large model' });
        const { options } = requestOptions();
        const stream = await sdk(gateway).chat.completions.create(
          { model: 'chat', messages, stream: true },
          options,
        );
        const { error, text } = await drain(stream);
        assert.equal(error, undefined);
        assert.equal(text, 'streamed from the large model');
        assert.equal(chatCalls(a).length, 1);
        assert.equal(chatCalls(b).length, 1);
      },
    );
  });

  describe('8. content-policy refusals', () => {
    test('are not routed around: one call, 400, the fallbacks untouched', limits, async () => {
      const gateway = await gateways.start(bothProviders(), {
        groups: { chat: { targets: [{ model: `openai/${openaiModel}` }], fallbacks: [`groq/${groqModel}`] } },
      });
      a.setPersistentFault({ kind: 'status', status: 400, body: contentRefusal });
      const { id, options } = requestOptions();
      const params = { model: 'chat', messages, fallbacks: [`groq/${largeModel}`] };
      const error = await failure(() => sdk(gateway).chat.completions.create(params, options));
      assert.ok(error instanceof OpenAI.BadRequestError);
      assert.equal(error.status, 400);
      assert.match(error.message, /safety system/);
      assert.equal(chatCalls(a).length, 1);
      assert.equal(chatCalls(b).length, 0, 'neither the group fallback nor the per-request one is tried');
      assert.equal((await accessLine(gateway, id)).attempts?.length, 1);
    });

    test('a streamed request refused by policy gets the 400 itself, not a stream', limits, async () => {
      const gateway = await gateways.start(bothProviders());
      a.setPersistentFault({ kind: 'status', status: 400, body: contentRefusal });
      const { options } = requestOptions();
      const params = {
        model: openaiModel,
        messages,
        stream: true as const,
        fallbacks: [`groq/${groqModel}`],
      };
      const error = await failure(() => sdk(gateway).chat.completions.create(params, options));
      assert.ok(error instanceof OpenAI.BadRequestError);
      assert.equal(chatCalls(a).length, 1);
      assert.equal(chatCalls(b).length, 0);
    });
  });

  describe('9. a fallback that rejects the request', () => {
    test('after the primary 503s: the fallback’s refusal is final, attempts bounded', limits, async () => {
      const gateway = await gateways.start(bothProviders(), {
        groups: { chat: { targets: [{ model: `openai/${openaiModel}` }], fallbacks: [`groq/${groqModel}`] } },
      });
      a.setPersistentFault({ kind: 'status', status: 503 });
      b.setPersistentFault({
        kind: 'status',
        status: 400,
        body: upstreamError("'response_format' is not supported with this model", 'invalid_value'),
      });
      const { id, options } = requestOptions();
      const error = await failure(() =>
        sdk(gateway).chat.completions.create({ model: 'chat', messages }, options),
      );
      assert.equal(error.status, 400);
      assert.equal(error.code, 'upstream_bad_request');
      assert.equal(error.type, 'invalid_request_error');
      assert.match(error.message, /Groq \(Key #1\) rejected the request: 'response_format' is not supported/);
      assert.equal(chatCalls(a).length, 2, 'primary: one call and one retry in place');
      assert.equal(chatCalls(b).length, 1, 'a 400 is never retried');
      const line = await accessLine(gateway, id);
      assert.equal(line.status, 400);
      assert.deepEqual(attemptSummary(line), [
        { instance: 'OpenAI (Key #1)', outcome: 'failed', errorCode: 'upstream_error' },
        { instance: 'OpenAI (Key #1)', outcome: 'failed', errorCode: 'upstream_error' },
        { instance: 'Groq (Key #1)', outcome: 'failed', errorCode: 'upstream_bad_request' },
      ]);
    });

    test(
      'a fallback whose credentials are refused (401) gives 502, never the client’s 401',
      limits,
      async () => {
        const gateway = await gateways.start(bothProviders());
        a.setPersistentFault({ kind: 'status', status: 503 });
        b.setPersistentFault({ kind: 'status', status: 401 });
        const { options } = requestOptions();
        const params = { model: openaiModel, messages, fallbacks: [`groq/${groqModel}`] };
        const error = await failure(() => sdk(gateway).chat.completions.create(params, options));
        assert.ok(!(error instanceof OpenAI.AuthenticationError));
        assert.equal(error.status, 502);
        assert.equal(error.code, 'upstream_auth_failed');
        assert.equal(chatCalls(a).length, 2);
        assert.equal(chatCalls(b).length, 1);
      },
    );
  });

  describe('10. per-request fallback chains', () => {
    test(
      '`fallbacks` (LiteLLM) is used when the primary fails and reaches no upstream body',
      limits,
      async () => {
        const gateway = await gateways.start(bothProviders());
        a.setPersistentFault({ kind: 'status', status: 503 });
        b.setReply({ text: 'from the per-request fallback' });
        const { id, options } = requestOptions();
        const params = { model: `openai/${openaiModel}`, messages, fallbacks: [`groq/${groqModel}`] };
        const completion = await sdk(gateway).chat.completions.create(params, options);
        assert.equal(completion.choices[0]?.message.content, 'from the per-request fallback');
        assert.equal(chatCalls(a).length, 2);
        assert.equal(chatCalls(b).length, 1);
        assert.equal(bodyOf(chatCalls(b)[0]).model, groqModel);
        assertNoChainFields([...chatCalls(a), ...chatCalls(b)]);
        assert.equal((await accessLine(gateway, id)).provider, 'Groq (Key #1)');
      },
    );

    test(
      '`models` (OpenRouter) is used when the primary fails and reaches no upstream body',
      limits,
      async () => {
        const gateway = await gateways.start(bothProviders());
        a.setPersistentFault({ kind: 'status', status: 503 });
        b.setReply({ text: 'from the models list' });
        const { options } = requestOptions();
        const params = {
          model: `openai/${openaiModel}`,
          messages,
          models: [`openai/${openaiModel}`, `groq/${groqModel}`],
        };
        const completion = await sdk(gateway).chat.completions.create(params, options);
        assert.equal(completion.choices[0]?.message.content, 'from the models list');
        assert.equal(chatCalls(a).length, 2, 'the primary listed again in `models` is not tried twice over');
        assert.equal(chatCalls(b).length, 1);
        assertNoChainFields([...chatCalls(a), ...chatCalls(b)]);
      },
    );

    test('a streamed request with `fallbacks` fails over before the first byte', limits, async () => {
      const gateway = await gateways.start(bothProviders());
      a.setPersistentFault({ kind: 'reset' });
      b.setReply({ text: 'streamed from the fallback' });
      const { options } = requestOptions();
      const params = {
        model: `openai/${openaiModel}`,
        messages,
        stream: true as const,
        fallbacks: [`groq/${groqModel}`],
      };
      const { error, text } = await drain(await sdk(gateway).chat.completions.create(params, options));
      assert.equal(error, undefined);
      assert.equal(text, 'streamed from the fallback');
      assertNoChainFields([...chatCalls(a), ...chatCalls(b)]);
    });

    test('when the primary answers, the chain is stripped and unused', limits, async () => {
      const gateway = await gateways.start(bothProviders());
      const { options } = requestOptions();
      const params = {
        model: `openai/${openaiModel}`,
        messages,
        fallbacks: [`groq/${groqModel}`],
        models: [`groq/${largeModel}`],
      };
      await sdk(gateway).chat.completions.create(params, options);
      assert.equal(chatCalls(a).length, 1);
      assert.equal(chatCalls(b).length, 0);
      assertNoChainFields(chatCalls(a));
    });

    test('an unknown model in the chain is a 404 before any upstream call', limits, async () => {
      const gateway = await gateways.start(bothProviders());
      const { options } = requestOptions();
      const params = { model: `openai/${openaiModel}`, messages, fallbacks: ['no-such-model-anywhere'] };
      const error = await failure(() => sdk(gateway).chat.completions.create(params, options));
      assert.equal(error.status, 404);
      assert.equal(error.code, 'model_not_found');
      assert.equal(chatCalls(a).length, 0);
    });
  });
});
