import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultCacheTtlSeconds, parseCachePolicy } from '../../src/cache/cache-policy.ts';
import { NexusError } from '../../src/core/errors.ts';

function policy(body: Record<string, unknown>, headers: Record<string, string | string[]> = {}) {
  return parseCachePolicy(body, headers);
}

function rejects(run: () => unknown, param: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof NexusError);
    assert.equal(error.code, 'invalid_request');
    assert.equal(error.status, 400);
    assert.equal(error.param, param);
    return true;
  });
}

describe('cache policy', () => {
  it('reads and writes for an hour by default', () => {
    assert.deepEqual(policy({}), { value: { read: true, write: true, ttlSeconds: 3600 }, warnings: [] });
    assert.equal(defaultCacheTtlSeconds, 3600);
  });

  it('body cache: false bypasses both ways; cache: true changes nothing', () => {
    assert.deepEqual(policy({ cache: false }).value, { read: false, write: false, ttlSeconds: 3600 });
    assert.deepEqual(policy({ cache: true }).value, { read: true, write: true, ttlSeconds: 3600 });
    rejects(() => policy({ cache: 'no' }), 'cache');
  });

  it('body cacheTtl: whole seconds from 60 to 86400', () => {
    assert.equal(policy({ cacheTtl: 60 }).value.ttlSeconds, 60);
    assert.equal(policy({ cacheTtl: 86_400 }).value.ttlSeconds, 86_400);
    assert.equal(policy({ cacheTtl: null }).value.ttlSeconds, 3600);
    for (const bad of [59, 86_401, 0, -5, 120.5, '600', Number.NaN, true, {}]) {
      rejects(() => policy({ cacheTtl: bad }), 'cacheTtl');
    }
    const error = (() => {
      try {
        policy({ cacheTtl: 5 });
      } catch (caught) {
        return caught as NexusError;
      }
      return undefined;
    })();
    assert.match(error?.message ?? '', /cacheTtl.*60 to 86400.*5/);
  });

  it('Cache-Control: no-cache skips the read and still stores; no-store does neither', () => {
    assert.deepEqual(policy({}, { 'cache-control': 'no-cache' }).value, {
      read: false,
      write: true,
      ttlSeconds: 3600,
    });
    assert.deepEqual(policy({}, { 'cache-control': 'No-Store' }).value, {
      read: false,
      write: false,
      ttlSeconds: 3600,
    });
    assert.deepEqual(policy({}, { 'cache-control': 'max-age=0, no-store' }).value.write, false);
    assert.deepEqual(policy({}, { 'cache-control': ['private', 'no-cache'] }).value.read, false);
    assert.deepEqual(policy({}, { 'cache-control': 'max-age=60' }).value, {
      read: true,
      write: true,
      ttlSeconds: 3600,
    });
  });

  it('x-nexus-cache: bypass and refresh; an unknown value is a warning', () => {
    assert.deepEqual(policy({}, { 'x-nexus-cache': 'BYPASS' }).value, {
      read: false,
      write: false,
      ttlSeconds: 3600,
    });
    assert.deepEqual(policy({}, { 'x-nexus-cache': 'refresh' }).value, {
      read: false,
      write: true,
      ttlSeconds: 3600,
    });
    const unknown = policy({}, { 'x-nexus-cache': 'sometimes' });
    assert.deepEqual(unknown.value, { read: true, write: true, ttlSeconds: 3600 });
    assert.equal(unknown.warnings.length, 1);
    assert.equal(unknown.warnings[0]?.param, 'x-nexus-cache');
  });

  it('x-nexus-cache-ttl sets the TTL; the body cacheTtl wins over it; bad values are 400', () => {
    assert.equal(policy({}, { 'x-nexus-cache-ttl': '120' }).value.ttlSeconds, 120);
    assert.equal(policy({ cacheTtl: 300 }, { 'x-nexus-cache-ttl': '120' }).value.ttlSeconds, 300);
    for (const bad of ['59', '86401', 'abc', '1e3', '', '-60', '600.0']) {
      rejects(() => policy({}, { 'x-nexus-cache-ttl': bad }), 'x-nexus-cache-ttl');
    }
  });

  it('the most restrictive directive wins, and a disabled key or route never caches', () => {
    assert.deepEqual(
      policy({ cache: true }, { 'cache-control': 'no-store', 'x-nexus-cache': 'refresh' }).value,
      {
        read: false,
        write: false,
        ttlSeconds: 3600,
      },
    );
    assert.deepEqual(parseCachePolicy({}, {}, { enabled: false }).value, {
      read: false,
      write: false,
      ttlSeconds: 3600,
    });
    assert.equal(parseCachePolicy({}, {}, { ttlSeconds: 900 }).value.ttlSeconds, 900);
    // A bad TTL is refused even when the request bypasses the cache.
    rejects(() => policy({ cache: false, cacheTtl: 10 }), 'cacheTtl');
  });
});
