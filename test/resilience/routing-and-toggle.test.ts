/**
 * Routing modes per request and the runtime instance switch (issue 5, item 10: scenario 12): `X-Routing-Mode`
 * round-robin alternates keys, `cheapest` picks the cheaper catalogued model of a group, an unknown mode
 * falls back to the default with a warning header; `POST /v1/providers/toggle` takes an instance out of
 * traffic and, with NEXUS_MASTER_KEY set, requires the key.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { postJson, type TestGateway } from '../support/gateway.ts';
import {
  bodyOf,
  chatCalls,
  drain,
  failure,
  gatewayFactory,
  groqEnv,
  groqModel,
  groqPoolEnv,
  healthOf,
  keysCalled,
  limits,
  messages,
  openaiEnv,
  poolKeys,
  requestOptions,
  sdk,
} from './harness.ts';

const pooled = `groq/${groqModel}`;
const [key1, key2] = poolKeys;
const masterKey = 'nexus-master-key-for-resilience';
/** gpt-4o costs 2.5 + 10 per million tokens, llama-3.1-8b-instant 0.05 + 0.08: listed expensive first. */
const mixedGroup = {
  groups: { mixed: { targets: [{ model: 'openai/gpt-4o' }, { model: pooled }] } },
};

describe('12. routing modes and the provider toggle', () => {
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

  async function ask(
    gateway: TestGateway,
    model: string,
    headers: Record<string, string> = {},
    apiKey?: string,
  ) {
    const { options } = requestOptions(headers);
    return sdk(gateway, apiKey).chat.completions.create({ model, messages }, options).withResponse();
  }

  describe('X-Routing-Mode', () => {
    test('round-robin alternates between the two keys of a pool', limits, async () => {
      const gateway = await gateways.start(groqPoolEnv(b));
      for (let i = 0; i < 6; i++) await ask(gateway, pooled, { 'x-routing-mode': 'round-robin' });
      const keys = keysCalled(b);
      assert.equal(keys.length, 6);
      for (let i = 1; i < keys.length; i++) assert.notEqual(keys[i], keys[i - 1], `call ${i} switched keys`);
      assert.equal(keys.filter((key) => key === key1).length, 3);
      assert.equal(keys.filter((key) => key === key2).length, 3);
    });

    test(
      'cheapest picks the cheaper catalogued model of a group, whatever the listed order',
      limits,
      async () => {
        const gateway = await gateways.start({ ...openaiEnv(a), ...groqEnv(b) }, mixedGroup);
        for (let i = 0; i < 4; i++) {
          const { response } = await ask(gateway, 'mixed', { 'x-routing-mode': 'cheapest' });
          assert.equal(response.headers.get('x-nexus-model'), groqModel);
        }
        assert.equal(chatCalls(a).length, 0);
        assert.equal(chatCalls(b).length, 4);
        assert.equal(bodyOf(chatCalls(b)[0]).model, groqModel);
      },
    );

    test('the header overrides the group’s own routing mode', limits, async () => {
      const gateway = await gateways.start(
        { ...openaiEnv(a), ...groqEnv(b) },
        { groups: { mixed: { ...mixedGroup.groups.mixed, routing: 'cheapest' } } },
      );
      await ask(gateway, 'mixed');
      assert.equal(chatCalls(b).length, 1, 'the group routes to the cheapest by itself');
      for (let i = 0; i < 4; i++) await ask(gateway, 'mixed', { 'x-routing-mode': 'round-robin' });
      assert.equal(chatCalls(a).length, 2, 'round-robin from the header sends half to the expensive one');
      assert.equal(chatCalls(b).length, 3);
    });

    test('an unknown mode falls back to the default and says so in x-nexus-warnings', limits, async () => {
      const gateway = await gateways.start(groqPoolEnv(b));
      const { data, response } = await ask(gateway, pooled, { 'x-routing-mode': 'telepathic' });
      assert.equal(response.status, 200);
      assert.match(data.choices[0]?.message.content ?? '', /^Echo: /);
      assert.match(response.headers.get('x-nexus-warnings') ?? '', /Unknown X-Routing-Mode 'telepathic'/);
      assert.equal(keysCalled(b).length, 1);

      const { options } = requestOptions({ 'x-routing-mode': 'telepathic' });
      const { data: stream, response: streamed } = await sdk(gateway)
        .chat.completions.create({ model: pooled, messages, stream: true }, options)
        .withResponse();
      assert.match(streamed.headers.get('x-nexus-warnings') ?? '', /Unknown X-Routing-Mode/);
      assert.equal((await drain(stream)).error, undefined);
    });
  });

  describe('POST /v1/providers/toggle', () => {
    test('a disabled key gets no traffic; enabling it brings it back', limits, async () => {
      const gateway = await gateways.start({ ...groqPoolEnv(b), ROUTING_MODE: 'round-robin' });
      const off = await postJson(`${gateway.baseURL}/providers/toggle`, {
        name: 'Groq (Key #1)',
        enabled: false,
      });
      assert.equal(off.status, 200);
      assert.deepEqual(off.body, { name: 'Groq (Key #1)', enabled: false });
      assert.equal((await healthOf(gateway, 'Groq (Key #1)')).enabled, false);
      for (let i = 0; i < 4; i++) await ask(gateway, pooled);
      assert.deepEqual(keysCalled(b), [key2, key2, key2, key2]);

      const on = await postJson(`${gateway.baseURL}/providers/toggle`, {
        name: 'Groq (Key #1)',
        enabled: true,
      });
      assert.equal(on.status, 200);
      for (let i = 0; i < 4; i++) await ask(gateway, pooled);
      assert.equal(
        keysCalled(b)
          .slice(4)
          .filter((key) => key === key1).length,
        2,
      );
    });

    test(
      'with every instance disabled the request fails with 503 and reaches no upstream',
      limits,
      async () => {
        const gateway = await gateways.start(groqPoolEnv(b));
        for (const name of ['Groq (Key #1)', 'Groq (Key #2)'])
          assert.equal(
            (await postJson(`${gateway.baseURL}/providers/toggle`, { name, enabled: false })).status,
            200,
          );
        const { options } = requestOptions();
        const error = await failure(() =>
          sdk(gateway).chat.completions.create({ model: pooled, messages }, options),
        );
        assert.equal(error.status, 503);
        assert.equal(error.code, 'upstream_unavailable');
        assert.equal(chatCalls(b).length, 0);
      },
    );

    test('an unknown instance name is a 404 naming the instances', limits, async () => {
      const gateway = await gateways.start(groqPoolEnv(b));
      const reply = await postJson(`${gateway.baseURL}/providers/toggle`, {
        name: 'Groq (Key #9)',
        enabled: false,
      });
      assert.equal(reply.status, 404);
      assert.match(reply.text, /Groq \(Key #1\), Groq \(Key #2\)/);
    });

    test('with NEXUS_MASTER_KEY set the toggle requires the key', limits, async () => {
      const gateway = await gateways.start({
        ...groqPoolEnv(b),
        ROUTING_MODE: 'round-robin',
        NEXUS_MASTER_KEY: masterKey,
        HOST: '127.0.0.1',
      });
      const url = `${gateway.baseURL}/providers/toggle`;
      const body = { name: 'Groq (Key #1)', enabled: false };
      const anonymous = await postJson(url, body);
      assert.equal(anonymous.status, 401);
      assert.equal((anonymous.body as { error: { code: string } }).error.code, 'invalid_api_key');
      const wrong = await postJson(url, body, { authorization: 'Bearer not-the-master-key' });
      assert.equal(wrong.status, 401);
      assert.equal(
        (await healthOf(gateway, 'Groq (Key #1)')).enabled,
        true,
        'refused toggles change nothing',
      );

      const granted = await postJson(url, body, { authorization: `Bearer ${masterKey}` });
      assert.equal(granted.status, 200);
      for (let i = 0; i < 3; i++) await ask(gateway, pooled, {}, masterKey);
      assert.deepEqual(keysCalled(b), [key2, key2, key2]);
    });
  });
});
