import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NexusError } from '../../src/core/errors.ts';
import { backoffMs, classifyFailure, isContextLengthError } from '../../src/resilience/retry-policy.ts';

describe('retry policy', () => {
  it('retries transient faults on the same instance, moves on for rate limits, timeouts and refused keys, fails fast on the request', () => {
    assert.equal(classifyFailure(new NexusError('upstream_error', 'x')), 'retry-same');
    assert.equal(classifyFailure(new NexusError('upstream_unavailable', 'x')), 'retry-same');
    assert.equal(classifyFailure(new NexusError('upstream_rate_limited', 'x')), 'next-instance');
    assert.equal(classifyFailure(new NexusError('upstream_timeout', 'x')), 'next-instance');
    // A key the provider refused is that key's failure: the next key of the pool may serve the request.
    assert.equal(classifyFailure(new NexusError('upstream_auth_failed', 'x')), 'next-instance');
    for (const code of [
      'upstream_bad_request',
      'upstream_not_found',
      'body_too_large',
      'invalid_request',
    ] as const) {
      assert.equal(classifyFailure(new NexusError(code, 'x')), 'fail', code);
    }
    assert.equal(classifyFailure(new Error('not ours')), 'fail');
  });

  it('backs off from 100 ms doubling to 2000 ms, with jitter between half and the full step', () => {
    assert.equal(
      backoffMs(0, undefined, () => 0),
      50,
    );
    assert.equal(
      backoffMs(0, undefined, () => 1),
      100,
    );
    assert.equal(
      backoffMs(3, undefined, () => 1),
      800,
    );
    assert.equal(
      backoffMs(10, undefined, () => 1),
      2000,
    );
    assert.equal(
      backoffMs(10, undefined, () => 0),
      1000,
    );
  });

  it('honours a longer Retry-After, capped so one request cannot wait for ever', () => {
    assert.equal(
      backoffMs(0, 3, () => 0),
      3000,
    );
    assert.equal(
      backoffMs(0, 3600, () => 0),
      10_000,
    );
  });

  it('recognises context-length refusals by message', () => {
    const refusal = new NexusError(
      'upstream_bad_request',
      "OpenAI rejected the request: This model's maximum context length is 128000 tokens.",
    );
    assert.equal(isContextLengthError(refusal), true);
    assert.equal(
      isContextLengthError(new NexusError('upstream_bad_request', 'temperature must be <= 2')),
      false,
    );
  });
});
