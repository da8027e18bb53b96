import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreakers } from '../../src/resilience/circuit-breaker.ts';

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('circuit breaker', () => {
  it('opens after three consecutive failures, not after failures broken by a success', async () => {
    const time = clock();
    const breakers = new CircuitBreakers({ now: time.now });
    breakers.failure('a');
    breakers.failure('a');
    breakers.success('a');
    breakers.failure('a');
    breakers.failure('a');
    assert.equal(breakers.snapshot('a').state, 'CLOSED');
    breakers.failure('a');
    assert.equal(breakers.snapshot('a').state, 'OPEN');
    assert.equal(await breakers.allow('a'), false);
  });

  it('half-opens after the reset timeout and lets exactly one probe through', async () => {
    const time = clock();
    const breakers = new CircuitBreakers({ now: time.now, breaker: { resetTimeoutMs: 60_000 } });
    for (let i = 0; i < 3; i++) breakers.failure('a');
    time.advance(59_999);
    assert.equal(await breakers.allow('a'), false);
    time.advance(1);
    assert.equal(breakers.snapshot('a').state, 'HALF_OPEN');
    assert.equal(await breakers.allow('a'), true);
    assert.equal(await breakers.allow('a'), false, 'a second concurrent probe is refused');
  });

  it('closes when the probe succeeds and reopens (with a new timeout) when it fails', async () => {
    const time = clock();
    const breakers = new CircuitBreakers({ now: time.now, breaker: { resetTimeoutMs: 1000 } });
    for (let i = 0; i < 3; i++) breakers.failure('a');
    time.advance(1000);
    assert.equal(await breakers.allow('a'), true);
    breakers.failure('a');
    assert.equal(breakers.snapshot('a').state, 'OPEN');
    time.advance(999);
    assert.equal(await breakers.allow('a'), false);
    time.advance(1);
    assert.equal(await breakers.allow('a'), true);
    breakers.success('a');
    assert.equal(breakers.snapshot('a').state, 'CLOSED');
    assert.equal(await breakers.allow('a'), true);
  });

  it('frees the probe slot when a probe ends without a verdict', async () => {
    const time = clock();
    const breakers = new CircuitBreakers({ now: time.now, breaker: { resetTimeoutMs: 10 } });
    for (let i = 0; i < 3; i++) breakers.failure('a');
    time.advance(10);
    assert.equal(await breakers.allow('a'), true);
    breakers.release('a');
    assert.equal(await breakers.allow('a'), true);
  });

  it('keeps instances independent', async () => {
    const breakers = new CircuitBreakers();
    for (let i = 0; i < 3; i++) breakers.failure('a');
    assert.equal(await breakers.allow('b'), true);
  });
});
