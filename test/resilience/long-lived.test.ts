/**
 * One gateway that keeps running while request after request goes through it, as in production: every
 * scenario below runs in order against the same process, so breakers, refused keys, health numbers and the
 * toggle carry over from one to the next (each scenario uses its own models where it must not inherit
 * another's circuit, exactly as separate applications would). The failures this suite exists for only show on
 * a long-lived gateway: a failing model that blocked its fallback on the same key, the last route locked out
 * for the whole reset period, a silent non-stream upstream held until the request deadline.
 *
 * The breaker reset (60 s) and the refused-key cooldown (60 s) are far longer than the suite: nothing here
 * may recover by waiting them out.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { writeConfigFile } from '../support/config-file.ts';
import { type FakeAnthropic, startFakeAnthropic } from '../support/fake-anthropic.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { postJson, startGateway, type TestGateway } from '../support/gateway.ts';
import {
  accessLine,
  attemptSummary,
  chatCalls,
  drain,
  failure,
  groqModel,
  healthOf,
  keyOf,
  keysCalled,
  limits,
  messages,
  openaiKey,
  poolKeys,
  requestOptions,
  settledWithin,
} from './harness.ts';

const masterKey = 'nexus-master-key-long-lived';
const [groqKey1, groqKey2] = poolKeys;
const anthropicKeys = ['sk-ant-pool-key-one', 'sk-ant-pool-key-two'] as const;
const claude = 'claude-3-haiku-20240307';
const openaiInstance = 'OpenAI (Key #1)';
const groq1 = 'Groq (Key #1)';
const groq2 = 'Groq (Key #2)';
const groqPool = `groq/${groqModel}`;

describe('one long-lived gateway, scenario after scenario', () => {
  let a: FakeOpenAI;
  let b: FakeOpenAI;
  let c: FakeAnthropic;
  let gateway: TestGateway;
  let configFile: { path: string; remove(): void };
  let openai: OpenAI;
  let anthropic: Anthropic;

  before(async () => {
    [a, b, c] = await Promise.all([startFakeOpenAI(), startFakeOpenAI(), startFakeAnthropic()]);
    a.setReply({ text: 'from openai' });
    b.setReply({ text: 'from groq' });
    c.setReply({ text: 'from anthropic' });
    configFile = writeConfigFile({
      groups: {
        'claude-chain': {
          targets: [{ model: `anthropic/${claude}` }],
          fallbacks: ['openai/gpt-4o-mini'],
        },
        'warn-chain': { targets: [{ model: groqPool }], fallbacks: ['openai/gpt-4o-mini'] },
      },
    });
    gateway = await startGateway({
      NEXUS_CONFIG: configFile.path,
      NEXUS_MASTER_KEY: masterKey,
      HOST: '127.0.0.1',
      OPENAI_API_KEY: openaiKey,
      OPENAI_BASE_URL: a.url,
      GROQ_KEY_1: groqKey1,
      GROQ_KEY_2: groqKey2,
      GROQ_BASE_URL: b.url,
      ANTHROPIC_KEY_1: anthropicKeys[0],
      ANTHROPIC_KEY_2: anthropicKeys[1],
      ANTHROPIC_BASE_URL: c.url,
      CIRCUIT_BREAKER_THRESHOLD: '3',
      CIRCUIT_BREAKER_RESET_MS: '60000',
      REJECTED_KEY_COOLDOWN_MS: '60000',
      UPSTREAM_RESPONSE_TIMEOUT_MS: '300',
      FIRST_TOKEN_TIMEOUT_MS: '300',
      STREAM_STALL_TIMEOUT_MS: '300',
      // Longer than the SDK's own 8 s timeout: a request held to this deadline fails the test.
      REQUEST_TIMEOUT_MS: '20000',
      SHUTDOWN_TIMEOUT_MS: '200',
    });
    openai = new OpenAI({
      apiKey: masterKey,
      baseURL: gateway.baseURL,
      maxRetries: 0,
      timeout: 8000,
      logLevel: 'off',
    });
    anthropic = new Anthropic({ apiKey: masterKey, baseURL: gateway.origin, maxRetries: 0, timeout: 8000 });
  });

  after(async () => {
    await gateway?.close();
    configFile?.remove();
    await Promise.all([a?.close(), b?.close(), c?.close()]);
  });

  function callsFor(fake: FakeOpenAI, model: string) {
    return chatCalls(fake).filter((call) => (call.body as { model?: unknown }).model === model);
  }

  async function chat(body: Record<string, unknown>, headers: Record<string, string> = {}) {
    const { id, options } = requestOptions(headers);
    const completion = await openai.chat.completions.create(
      { messages, ...body } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming,
      options,
    );
    return { id, text: completion.choices[0]?.message.content };
  }

  async function deployment(instance: string, model: string) {
    const health = (await healthOf(gateway, instance)) as unknown as {
      deployments: Array<{ model: string; circuitState: string; consecutiveFailures: number }>;
    };
    return health.deployments.find((entry) => entry.model === model);
  }

  async function keyStatus(instance: string): Promise<string> {
    return ((await healthOf(gateway, instance)) as unknown as { key: { status: string } }).key.status;
  }

  async function toggle(name: string, enabled: boolean) {
    const reply = await postJson(
      `${gateway.baseURL}/providers/toggle`,
      { name, enabled },
      { authorization: `Bearer ${masterKey}` },
    );
    assert.equal(reply.status, 200);
  }

  test('1. a model failing on a key never blocks another model on that key', limits, async () => {
    a.setScopedFault({ model: 'bad-model' }, { kind: 'status', status: 500 });
    for (let i = 0; i < 5; i++) {
      const { text } = await chat({ model: 'openai/bad-model', fallbacks: ['gpt-4o-mini'] });
      assert.equal(text, 'from openai', `request ${i + 1} is served by the fallback on the same key`);
    }
    // Two calls in the first request (one retry in place), the third opens bad-model's circuit; from then on
    // the open deployment is passed over and the fallback, on the same key, answers at once.
    assert.equal(callsFor(a, 'bad-model').length, 3);
    assert.equal(callsFor(a, 'gpt-4o-mini').length, 5);
    assert.equal((await deployment(openaiInstance, 'bad-model'))?.circuitState, 'OPEN');
    assert.notEqual((await deployment(openaiInstance, 'gpt-4o-mini'))?.circuitState, 'OPEN');
    const { text } = await chat({ model: 'gpt-4o-mini' });
    assert.equal(text, 'from openai', 'the key serves its other models without any fallback');
  });

  test('2a. the last route is never locked out: an open circuit lets one request probe', limits, async () => {
    // bad-model is OPEN for the next minute and nothing else can serve it.
    const before = callsFor(a, 'bad-model').length;
    const error = await failure(() => chat({ model: 'openai/bad-model' }));
    assert.equal(error.status, 502, 'the probe reached the upstream, which still fails');
    assert.equal(callsFor(a, 'bad-model').length, before + 1, 'one probe, not retried in place');
    assert.equal((await deployment(openaiInstance, 'bad-model'))?.circuitState, 'OPEN');

    a.setScopedFault({ model: 'bad-model' }, null);
    const { text } = await chat({ model: 'openai/bad-model' });
    assert.equal(text, 'from openai', 'the first good answer is served, not a 503 for the reset period');
    assert.equal((await deployment(openaiInstance, 'bad-model'))?.circuitState, 'CLOSED');
  });

  test('2b. at most one probe at a time per open deployment', limits, async () => {
    a.setScopedFault({ model: 'gpt-4.1' }, { kind: 'status', status: 503 });
    await failure(() => chat({ model: 'openai/gpt-4.1' }));
    await failure(() => chat({ model: 'openai/gpt-4.1' }));
    assert.equal((await deployment(openaiInstance, 'gpt-4.1'))?.circuitState, 'OPEN');
    // Slow, but inside the 300 ms response timeout: the probe is still in flight when the second request comes.
    a.setScopedFault({ model: 'gpt-4.1' }, { kind: 'delay', ms: 200 });
    const before = callsFor(a, 'gpt-4.1').length;
    const results = await Promise.allSettled([
      chat({ model: 'openai/gpt-4.1' }),
      (async () => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        return chat({ model: 'openai/gpt-4.1' });
      })(),
    ]);
    assert.equal(callsFor(a, 'gpt-4.1').length, before + 1, 'only the probe reached the upstream');
    assert.equal(results[0].status, 'fulfilled', 'the probe is served');
    assert.equal(results[1].status, 'rejected', 'the concurrent request is refused while the probe runs');
    const refused = (results[1] as PromiseRejectedResult).reason as InstanceType<typeof OpenAI.APIError>;
    assert.equal(refused.status, 503);
    assert.equal(refused.headers?.get('retry-after'), '1');
    a.setScopedFault({ model: 'gpt-4.1' }, null);
    assert.equal((await chat({ model: 'openai/gpt-4.1' })).text, 'from openai');
    assert.equal((await deployment(openaiInstance, 'gpt-4.1'))?.circuitState, 'CLOSED');
  });

  test(
    '2c. a transient 500 that opens the circuit is still retried when the retry is the only path left',
    limits,
    async () => {
      a.enqueue({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
      const error = await failure(() => chat({ model: 'openai/gpt-4o' }));
      assert.equal(error.status, 502, 'two failures in a row: the call and its retry');
      a.enqueue({ kind: 'status', status: 500 });
      const { id, text } = await chat({ model: 'openai/gpt-4o' });
      assert.equal(text, 'from openai', 'the third failure opened the circuit, yet the retry went through');
      const line = await accessLine(gateway, id);
      assert.deepEqual(
        attemptSummary(line).map((attempt) => attempt.outcome),
        ['failed', 'ok'],
      );
      assert.equal((await deployment(openaiInstance, 'gpt-4o'))?.circuitState, 'CLOSED');
    },
  );

  test(
    '3. a key the provider refuses leaves rotation; the request moves on to the next key',
    limits,
    async () => {
      b.setScopedFault({ key: groqKey1 }, { kind: 'status', status: 401 });
      // Round-robin starts each request on the next key, so the refused one is met within two requests.
      for (let i = 0; i < 4; i++) {
        const { text } = await chat({ model: groqPool }, { 'x-routing-mode': 'round-robin' });
        assert.equal(text, 'from groq');
      }
      const refusedCalls = keysCalled(b).filter((key) => key === groqKey1).length;
      assert.ok(refusedCalls <= 1, `the refused key was called ${refusedCalls} times, at most once`);
      assert.equal(await keyStatus(groq1), 'refused', '/health shows the refused key');
      assert.equal(await keyStatus(groq2), 'ok');

      // No key left: an error that says the provider refused Nexus's keys, never the client's own 401.
      b.setScopedFault({ key: groqKey2 }, { kind: 'status', status: 403 });
      const error = await failure(() => chat({ model: groqPool }));
      assert.equal(error.status, 502);
      assert.equal(error.code, 'upstream_auth_failed');
      assert.equal(error.type, 'api_error');
      const own = await failure(() =>
        new OpenAI({ apiKey: 'wrong', baseURL: gateway.baseURL, maxRetries: 0 }).chat.completions.create({
          model: groqPool,
          messages,
        }),
      );
      assert.equal(own.status, 401, "the client's own wrong key is a different error");
      assert.equal(own.code, 'invalid_api_key');

      // The operator fixes the keys and switches them back on: back in rotation at once.
      b.setScopedFault({ key: groqKey1 }, null);
      b.setScopedFault({ key: groqKey2 }, null);
      await toggle(groq1, true);
      await toggle(groq2, true);
      assert.equal(await keyStatus(groq1), 'ok');
      b.reset();
      b.setReply({ text: 'from groq' });
      for (let i = 0; i < 6; i++) await chat({ model: groqPool }, { 'x-routing-mode': 'round-robin' });
      assert.deepEqual(new Set(keysCalled(b)), new Set([groqKey1, groqKey2]), 'both keys serve again');
    },
  );

  test('4. a silent non-stream upstream fails over after the response timeout', limits, async () => {
    b.reset();
    b.setReply({ text: 'from groq' });
    b.enqueue({ kind: 'hang' });
    const { id, text } = await chat({ model: groqPool });
    assert.equal(text, 'from groq');
    const calls = chatCalls(b);
    assert.equal(calls.length, 2);
    assert.notEqual(keyOf(calls[0]!), keyOf(calls[1]!), 'the other key answered');
    assert.equal(await settledWithin(calls[0]), 'client-aborted', 'the silent call was cancelled');
    const line = await accessLine(gateway, id);
    assert.deepEqual(
      attemptSummary(line).map((attempt) => [attempt.outcome, attempt.errorCode]),
      [
        ['failed', 'upstream_timeout'],
        ['ok', undefined],
      ],
    );

    // Nothing else to try: a timely 504, long before the request deadline (the SDK would give up first).
    a.enqueue({ kind: 'hang' });
    const error = await failure(() => chat({ model: 'openai/gpt-4o-mini' }));
    assert.equal(error.status, 504);
    assert.equal(error.code, 'upstream_timeout');
  });

  test(
    '5a. /v1/messages pass-through rotates keys on a 429 and retries an overloaded Anthropic',
    limits,
    async () => {
      c.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '30' } });
      const message = await anthropic.messages.create({ model: claude, max_tokens: 64, messages });
      assert.equal(message.content[0]?.type === 'text' ? message.content[0].text : '', 'from anthropic');
      const keys = c.callsTo('/messages').map((call) => call.headers['x-api-key']);
      assert.equal(keys.length, 2);
      assert.notEqual(keys[0], keys[1], 'the rate-limited key handed over to the other');

      c.reset();
      c.setReply({ text: 'from anthropic' });
      c.enqueue({ kind: 'status', status: 529 });
      const retried = await anthropic.messages.create({ model: claude, max_tokens: 64, messages });
      assert.equal(retried.content.length, 1);
      assert.equal(c.callsTo('/messages').length, 2, 'the overloaded call was retried');
    },
  );

  test('5b. /v1/messages pass-through honours the toggle', limits, async () => {
    await toggle('Anthropic (Key #1)', false);
    c.reset();
    c.setReply({ text: 'from anthropic' });
    for (let i = 0; i < 4; i++) await anthropic.messages.create({ model: claude, max_tokens: 64, messages });
    const keys = new Set(c.callsTo('/messages').map((call) => call.headers['x-api-key']));
    assert.deepEqual(keys, new Set([anthropicKeys[1]]), 'the switched-off key gets no traffic');
    await toggle('Anthropic (Key #1)', true);
  });

  test(
    '5c. /v1/messages fails over from Anthropic to a translated target, streamed or not',
    limits,
    async () => {
      c.reset();
      c.setReply({ text: 'from anthropic' });
      c.setPersistentFault({ kind: 'status', status: 500 });
      const message = await anthropic.messages.create({ model: 'claude-chain', max_tokens: 64, messages });
      assert.equal(message.content[0]?.type === 'text' ? message.content[0].text : '', 'from openai');
      assert.equal(message.type, 'message');
      assert.ok(c.callsTo('/messages').length >= 2, 'the Anthropic instances were tried first');

      const streamed = await anthropic.messages
        .stream({ model: 'claude-chain', max_tokens: 64, messages })
        .finalMessage();
      assert.equal(streamed.content[0]?.type === 'text' ? streamed.content[0].text : '', 'from openai');
      assert.ok(streamed.usage.output_tokens > 0, 'usage reaches the SDK from the translated stream');

      // By now both Anthropic deployments are open: the next request goes straight to the fallback.
      for (const name of ['Anthropic (Key #1)', 'Anthropic (Key #2)']) {
        const health = (await healthOf(gateway, name)) as unknown as {
          deployments: Array<{ model: string; circuitState: string }>;
        };
        assert.equal(health.deployments.find((entry) => entry.model === claude)?.circuitState, 'OPEN', name);
      }
      const before = c.callsTo('/messages').length;
      await anthropic.messages.create({ model: 'claude-chain', max_tokens: 64, messages });
      assert.equal(
        c.callsTo('/messages').length,
        before,
        'open circuits are passed over while a fallback serves',
      );

      // Anthropic recovers: a request with no fallback probes it and closes the circuit on the first good answer.
      c.setPersistentFault(null);
      const back = await anthropic.messages.create({ model: claude, max_tokens: 64, messages });
      assert.equal(back.content[0]?.type === 'text' ? back.content[0].text : '', 'from anthropic');
    },
  );

  test("7a. a reply carries only its serving attempt's warnings", limits, async () => {
    b.reset();
    b.setReply({ text: 'from groq' });
    b.setPersistentFault({ kind: 'status', status: 503 });
    const { id, options } = requestOptions();
    const { data, response } = await openai.chat.completions
      .create({ model: 'warn-chain', messages, logprobs: true }, options)
      .withResponse();
    assert.equal(data.choices[0]?.message.content, 'from openai');
    assert.equal(response.headers.get('x-nexus-provider'), openaiInstance);
    assert.equal(response.headers.get('x-nexus-warnings'), null, "Groq's dropped logprobs is not OpenAI's");
    const line = await accessLine(gateway, id);
    const groqAttempts = (line.attempts ?? []).filter((attempt) => attempt.instance.startsWith('Groq'));
    assert.ok(groqAttempts.length > 0);
    for (const attempt of groqAttempts) {
      assert.match(JSON.stringify(attempt.warnings), /logprobs/, 'the failed attempt keeps its own warning');
    }

    b.setPersistentFault(null);
    const served = await openai.chat.completions
      .create({ model: 'warn-chain', messages, logprobs: true })
      .withResponse();
    assert.match(served.response.headers.get('x-nexus-provider') ?? '', /^Groq/);
    assert.match(served.response.headers.get('x-nexus-warnings') ?? '', /logprobs/);
  });

  test('7b. embeddings are priced like chat: header and seed 004 envelope', limits, async () => {
    const pricePerMillion = 0.02; // catalog/models.yaml, text-embedding-3-small input
    const { data, response } = await openai.embeddings
      .create({ model: 'text-embedding-3-small', input: 'price me' })
      .withResponse();
    const expected = (data.usage.prompt_tokens * pricePerMillion) / 1_000_000;
    assert.ok(data.usage.prompt_tokens > 0);
    assert.equal(Number(response.headers.get('x-nexus-cost-usd')), expected);
    const seed = await postJson(
      `${gateway.origin}/api/v1/completions/embeddings`,
      { model: 'text-embedding-3-small', input: 'price me' },
      { authorization: `Bearer ${masterKey}` },
    );
    assert.equal(seed.status, 200);
    const envelope = seed.body as { data: { cost: number; usage: { promptTokens: number } } };
    assert.equal(envelope.data.cost, (envelope.data.usage.promptTokens * pricePerMillion) / 1_000_000);
    assert.ok(envelope.data.cost > 0);
  });

  test(
    '8. streams on the same gateway: failures before the first byte are invisible, after it an error',
    limits,
    async () => {
      b.reset();
      b.setReply({ text: 'streamed from groq' });
      b.enqueue({ kind: 'status', status: 429 });
      const rotated = await drain(
        await openai.chat.completions.create({ model: groqPool, messages, stream: true }),
      );
      assert.equal(rotated.error, undefined);
      assert.equal(rotated.text, 'streamed from groq');

      b.enqueue({ kind: 'hang' });
      const timedOut = await drain(
        await openai.chat.completions.create({ model: groqPool, messages, stream: true }),
      );
      assert.equal(timedOut.error, undefined, 'a silent key fails over after the first-token timeout');
      assert.equal(timedOut.text, 'streamed from groq');

      a.enqueue({ kind: 'cut', afterChunks: 2 });
      const cut = await drain(
        await openai.chat.completions.create({ model: 'openai/gpt-4o-mini', messages, stream: true }),
      );
      assert.ok(
        cut.error instanceof OpenAI.APIError,
        'a break after the first byte is an error, never a success',
      );
    },
  );

  test('9. after all of it, every instance is enabled and every route serves', limits, async () => {
    const health = (await (await fetch(`${gateway.origin}/health`)).json()) as {
      status: string;
      providers: Array<{ name: string; enabled: boolean; key: { status: string } }>;
    };
    assert.equal(health.status, 'healthy');
    for (const provider of health.providers) {
      assert.equal(provider.enabled, true, provider.name);
      assert.equal(provider.key.status, 'ok', provider.name);
    }
    assert.equal((await chat({ model: 'gpt-4o-mini' })).text, 'from openai');
    assert.equal((await chat({ model: groqPool })).text, 'streamed from groq');
    const message = await anthropic.messages.create({ model: claude, max_tokens: 32, messages });
    assert.equal(message.content[0]?.type === 'text' ? message.content[0].text : '', 'from anthropic');
  });
});
