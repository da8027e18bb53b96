/**
 * A flapping primary against the real breaker (issue 5, item 10: scenario 11): CLOSED → OPEN after three
 * consecutive counted failures (no more calls to it, traffic on the secondary) → HALF_OPEN after
 * CIRCUIT_BREAKER_RESET_MS → one probe; its failure reopens, its success closes. `/health` shows each state.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import type { TestGateway } from '../support/gateway.ts';
import {
  chatCalls,
  gatewayFactory,
  groqEnv,
  groqModel,
  healthOf,
  limits,
  messages,
  openaiEnv,
  openaiModel,
  requestOptions,
  sdk,
  waitForCircuit,
} from './harness.ts';

const primary = 'OpenAI (Key #1)';
const breakerEnv = { CIRCUIT_BREAKER_THRESHOLD: '3', CIRCUIT_BREAKER_RESET_MS: '1000' };

describe('11. circuit breaker on a flapping primary', () => {
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
    a.setReply({ text: 'primary' });
    b.setReply({ text: 'secondary' });
  });
  afterEach(() => gateways.closeAll());

  async function ask(gateway: TestGateway, model: string): Promise<string | null | undefined> {
    const { options } = requestOptions();
    const completion = await sdk(gateway).chat.completions.create({ model, messages }, options);
    return completion.choices[0]?.message.content;
  }

  test(
    'opens after 3 consecutive failures, caps calls, probes once when half-open: failure reopens, success closes',
    limits,
    async () => {
      const gateway = await gateways.start(
        { ...openaiEnv(a), ...groqEnv(b), ...breakerEnv },
        {
          groups: {
            flappy: { targets: [{ model: `openai/${openaiModel}` }], fallbacks: [`groq/${groqModel}`] },
          },
        },
      );
      a.setPersistentFault({ kind: 'status', status: 503 });

      // Request 1: the primary fails twice (call + retry in place), the secondary answers.
      assert.equal(await ask(gateway, 'flappy'), 'secondary');
      assert.equal(chatCalls(a).length, 2);
      let state = await healthOf(gateway, primary);
      assert.equal(state.circuitState, 'CLOSED');
      assert.equal(state.consecutiveFailures, 2);

      // Request 2: the third consecutive failure opens the circuit; the retry in place is refused.
      assert.equal(await ask(gateway, 'flappy'), 'secondary');
      assert.equal(chatCalls(a).length, 3);
      assert.equal((await healthOf(gateway, primary)).circuitState, 'OPEN');

      // While open: no call reaches the primary, the secondary takes the traffic.
      for (let i = 0; i < 4; i++) assert.equal(await ask(gateway, 'flappy'), 'secondary');
      assert.equal((await healthOf(gateway, primary)).circuitState, 'OPEN', 'still inside the open window');
      assert.equal(chatCalls(a).length, 3, 'the primary’s call count stays capped while open');
      assert.equal(chatCalls(b).length, 6);

      // HALF_OPEN after the reset timeout: exactly one probe, which fails and reopens the circuit.
      await waitForCircuit(gateway, primary, 'HALF_OPEN');
      assert.equal(await ask(gateway, 'flappy'), 'secondary');
      assert.equal(chatCalls(a).length, 4, 'one probe, not retried in place');
      assert.equal((await healthOf(gateway, primary)).circuitState, 'OPEN');

      // The primary recovers; the next probe succeeds and closes the circuit.
      a.setPersistentFault(null);
      await waitForCircuit(gateway, primary, 'HALF_OPEN');
      assert.equal(await ask(gateway, 'flappy'), 'primary');
      assert.equal(chatCalls(a).length, 5);
      state = await healthOf(gateway, primary);
      assert.equal(state.circuitState, 'CLOSED');
      assert.equal(state.consecutiveFailures, 0);
      assert.equal(await ask(gateway, 'flappy'), 'primary', 'traffic is back on the primary');
      assert.equal(chatCalls(b).length, 7);
    },
  );

  test('failures that are not consecutive never open the circuit', limits, async () => {
    const gateway = await gateways.start({ ...openaiEnv(a), ...breakerEnv });
    for (let i = 0; i < 4; i++) {
      a.enqueue({ kind: 'status', status: 500 });
      assert.equal(await ask(gateway, openaiModel), 'primary', 'each 500 is followed by a success');
    }
    assert.equal(chatCalls(a).length, 8);
    const state = await healthOf(gateway, primary);
    assert.equal(state.circuitState, 'CLOSED');
    assert.equal(state.consecutiveFailures, 0);
  });

  test('a first-token timeout counts against the instance like a 5xx', limits, async () => {
    const gateway = await gateways.start(
      { ...openaiEnv(a), ...groqEnv(b), ...breakerEnv },
      {
        groups: {
          flappy: { targets: [{ model: `openai/${openaiModel}` }], fallbacks: [`groq/${groqModel}`] },
        },
      },
    );
    a.setPersistentFault({ kind: 'hang' });
    for (let i = 0; i < 3; i++) {
      const { options } = requestOptions();
      const stream = await sdk(gateway).chat.completions.create(
        { model: 'flappy', messages, stream: true },
        options,
      );
      for await (const _chunk of stream) {
        // drained
      }
    }
    assert.equal(chatCalls(a).length, 3, 'one call per request: a timed-out instance is not waited on twice');
    assert.equal((await healthOf(gateway, primary)).circuitState, 'OPEN');
  });

  test('an instance sharing its step with a healthy one still gets its half-open probe', limits, async () => {
    const gateway = await gateways.start(
      { ...openaiEnv(a), ...groqEnv(b), ...breakerEnv, ROUTING_MODE: 'round-robin' },
      {
        groups: {
          pair: { targets: [{ model: `openai/${openaiModel}` }, { model: `groq/${groqModel}` }] },
        },
      },
    );
    a.setPersistentFault({ kind: 'status', status: 503 });
    for (let i = 0; i < 6 && (await healthOf(gateway, primary)).circuitState !== 'OPEN'; i++) {
      assert.equal(await ask(gateway, 'pair'), 'secondary');
    }
    assert.equal((await healthOf(gateway, primary)).circuitState, 'OPEN');
    a.setPersistentFault(null);
    const before = chatCalls(a).length;
    await waitForCircuit(gateway, primary, 'HALF_OPEN');
    for (let i = 0; i < 4; i++) await ask(gateway, 'pair');
    assert.ok(chatCalls(a).length > before, 'the recovered instance receives a probe once half-open');
    assert.equal((await healthOf(gateway, primary)).circuitState, 'CLOSED');
  });
});
