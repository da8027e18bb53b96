/**
 * The committed stream's bookkeeping: every way a stream can end leaves exactly one verdict on its attempt and
 * gives back what the attempt held (in-flight count, half-open probe, abort listener, timers).
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { AttemptAbort, type CallSignal, onAbort } from '../../src/core/call-signal.ts';
import { NexusError } from '../../src/core/errors.ts';
import type { ChatCompletionChunk } from '../../src/core/openai-types.ts';
import type { StreamBatch, UpstreamTarget } from '../../src/providers/types.ts';
import { AttemptRecord } from '../../src/resilience/attempt-record.ts';
import { CircuitBreakers } from '../../src/resilience/circuit-breaker.ts';
import { CommittedStream } from '../../src/resilience/committed-stream.ts';
import { InstanceStats } from '../../src/resilience/instance-stats.ts';
import { RejectedKeys } from '../../src/resilience/rejected-keys.ts';
import type { RoutePlan } from '../../src/resilience/route-plan.ts';
import { TargetOrderer } from '../../src/resilience/routing.ts';

const instanceId = 'openai#1';
const target = {
  instance: { id: instanceId, name: 'OpenAI (Key #1)' },
  model: 'gpt-4o-mini',
} as unknown as UpstreamTarget;

function batch(content: string): StreamBatch {
  const chunk: ChatCompletionChunk = {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
  };
  return [{ chunk, raw: JSON.stringify(chunk) }];
}

/** An upstream iterator that yields `batches`, then completes (`then: 'end'`) or waits until its signal aborts. */
function upstream(batches: StreamBatch[], signal: CallSignal, then: 'end' | 'wait') {
  let returned = 0;
  const iterator: AsyncIterator<StreamBatch, void> = {
    next: () => {
      const value = batches.shift();
      if (value !== undefined) return Promise.resolve({ done: false, value });
      if (then === 'end') return Promise.resolve({ done: true, value: undefined });
      return new Promise((_resolve, reject) => {
        onAbort(signal, () => reject(new Error('aborted')));
      });
    },
    return: async () => {
      returned++;
      return { done: true, value: undefined };
    },
  };
  return { iterator, returnCalls: () => returned };
}

function setup(stallMs: number, head: StreamBatch[], rest: StreamBatch[], then: 'end' | 'wait' = 'wait') {
  const stats = new InstanceStats();
  const breakers = new CircuitBreakers();
  const rejectedKeys = new RejectedKeys(60_000);
  const request = new AbortController();
  const controller = new AttemptAbort(request.signal);
  const record = new AttemptRecord(target);
  const { iterator, returnCalls } = upstream(rest, controller, then);
  let ended = 0;
  stats.started(instanceId);
  const stream = new CommittedStream<StreamBatch>({
    loop: {
      stats,
      breakers,
      orderer: new TargetOrderer(),
      disabled: new Set(),
      rejectedKeys,
      maxAttempts: 3,
    },
    plan: { steps: [] } as unknown as RoutePlan,
    context: { requestId: 'r1', signal: request.signal },
    options: { mode: 'smart', attempts: [record] },
    timeouts: { firstTokenMs: 0, stallMs },
    target,
    record,
    opened: { opened: { head, iterator, ttftMs: 1 }, controller },
    usageOf: () => undefined,
  });
  stream.onEnd(() => ended++);
  return {
    iterator: stream[Symbol.asyncIterator](),
    record,
    stats,
    returnCalls,
    /** The attempt stopped following the request: nothing of it is left on the request's signal. */
    released: () => getEventListeners(request.signal, 'abort').length === 0,
    ended: () => ended,
  };
}

describe('committed stream', () => {
  it('a consumer that stops early (the client left) cancels the attempt without a verdict on the instance', async () => {
    const run = setup(0, [batch('a')], [batch('b')]);
    assert.equal((await run.iterator.next()).done, false);
    assert.equal((await run.iterator.next()).done, false);
    await run.iterator.return?.();
    assert.equal(run.record.outcome, 'cancelled');
    const health = run.stats.snapshot(instanceId);
    assert.equal(health.inFlight, 0, 'the attempt no longer counts as in flight');
    assert.equal(health.failures, 0, 'and it is not held against the instance');
    assert.equal(run.returnCalls(), 1, 'the upstream body is released');
    assert.equal(run.released(), true);
    assert.equal(run.ended(), 1);
    await run.iterator.return?.();
    assert.equal(run.ended(), 1, 'ending twice changes nothing');
  });

  it('an upstream silent for longer than the stall timeout fails the attempt with stream_interrupted', async () => {
    const run = setup(20, [batch('a')], []);
    assert.equal((await run.iterator.next()).done, false);
    await assert.rejects(run.iterator.next(), (error: unknown) => {
      assert.ok(error instanceof NexusError);
      assert.equal(error.code, 'stream_interrupted');
      assert.match(error.message, /stalled/);
      return true;
    });
    assert.equal(run.record.outcome, 'failed');
    assert.equal(run.record.errorCode, 'stream_interrupted');
    const health = run.stats.snapshot(instanceId);
    assert.equal(health.inFlight, 0);
    assert.equal(health.failures, 1, 'a stall counts against the instance');
    assert.equal(run.released(), true);
    assert.equal(run.ended(), 1);
  });

  it('a stream that completes is one success, its head batches first, in order', async () => {
    const run = setup(1000, [batch('a'), batch('b')], [batch('c')], 'end');
    const seen: string[] = [];
    for (let next = await run.iterator.next(); next.done !== true; next = await run.iterator.next()) {
      seen.push(String(next.value[0]?.chunk.choices[0]?.delta.content));
    }
    assert.deepEqual(seen, ['a', 'b', 'c']);
    assert.equal(run.record.outcome, 'ok');
    const health = run.stats.snapshot(instanceId);
    assert.deepEqual([health.totalRequests, health.failures, health.inFlight], [1, 0, 0]);
    assert.equal(run.released(), true);
    assert.equal(run.ended(), 1);
    assert.equal(run.returnCalls(), 0, 'a finished upstream needs no release');
  });
});
