import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cacheKey,
  cacheKeyVersion,
  canonicalJson,
  canonicalRequest,
  notCacheableReason,
  tenantPartition,
} from '../../src/cache/cache-key.ts';

const tenantA = tenantPartition({ kind: 'key', orgId: 'o_1', projectId: 'p_1' });
const tenantB = tenantPartition({ kind: 'key', orgId: 'o_1', projectId: 'p_2' });

const base = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'How do I make tea?' },
  ],
  temperature: 0.2,
  max_tokens: 50,
};

function digest(body: Record<string, unknown>, tenant = tenantA, model = 'gpt-4o-mini'): string {
  return cacheKey({ tenant, kind: 'chat', model, body }).digest;
}

describe('exact-cache key', () => {
  it('is a SHA-256 hex digest, stable for the same request', () => {
    const first = digest(base);
    assert.match(first, /^[0-9a-f]{64}$/);
    assert.equal(digest(structuredClone(base)), first);
    assert.equal(cacheKeyVersion, 'v1');
  });

  it('ignores object key order at every depth', () => {
    const reordered = {
      max_tokens: 50,
      temperature: 0.2,
      messages: [
        { content: 'Be brief.', role: 'system' },
        { content: 'How do I make tea?', role: 'user' },
      ],
      model: 'gpt-4o-mini',
    };
    assert.equal(digest(reordered), digest(base));
    assert.equal(
      canonicalJson({ b: { d: 1, c: [2, { f: 3, e: 4 }] }, a: 0 }),
      '{"a":0,"b":{"c":[2,{"e":4,"f":3}],"d":1}}',
    );
  });

  it('keeps message order and array order', () => {
    const swapped = { ...base, messages: [base.messages[1], base.messages[0]] };
    assert.notEqual(digest(swapped), digest(base));
    const stopA = digest({ ...base, stop: ['a', 'b'] });
    assert.notEqual(digest({ ...base, stop: ['b', 'a'] }), stopA);
  });

  it('leaves out fields that do not change the answer', () => {
    const dressed = {
      ...base,
      stream: true,
      stream_options: { include_usage: true },
      user: 'someone',
      metadata: { trace: 'x' },
      fallbacks: ['claude-3-haiku'],
      models: ['a', 'b'],
      cache: true,
      cacheTtl: 600,
      store: true,
      safety_identifier: 'u1',
      prompt_cache_key: 'k',
      top_level_null: null,
    };
    assert.equal(digest(dressed), digest(base));
    assert.equal(canonicalRequest({ stream: true, model: 'm', n: 1 }), '{"n":1}');
  });

  it('splits on every parameter that changes the answer', () => {
    const variants: Record<string, unknown>[] = [
      { ...base, temperature: 0.3 },
      { ...base, top_p: 0.9 },
      { ...base, max_tokens: 51 },
      { ...base, n: 1 },
      { ...base, seed: 7 },
      { ...base, stop: ['\n'] },
      { ...base, response_format: { type: 'json_object' } },
      { ...base, tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] },
      { ...base, tool_choice: 'none' },
      { ...base, presence_penalty: 0.1 },
      { ...base, some_future_field: 1 },
      { ...base, messages: [...base.messages.slice(0, 1), { role: 'user', content: 'How do I make tea? ' }] },
    ];
    const digests = new Set(variants.map((body) => digest(body)));
    digests.add(digest(base));
    assert.equal(digests.size, variants.length + 1);
  });

  it('splits by tenant, kind and model', () => {
    const a = digest(base);
    assert.notEqual(digest(base, tenantB), a);
    assert.notEqual(digest(base, tenantA, 'gpt-4o'), a);
    assert.notEqual(
      cacheKey({ tenant: tenantA, kind: 'messages', model: 'gpt-4o-mini', body: base }).digest,
      a,
    );
    const key = cacheKey({ tenant: tenantB, kind: 'chat', model: 'gpt-4o-mini', body: base });
    assert.equal(key.tenant, tenantB);
  });

  it('cannot be forged by moving text between tenant and model', () => {
    assert.notEqual(
      cacheKey({ tenant: 'a', kind: 'chat', model: 'b:c', body: {} }).digest,
      cacheKey({ tenant: 'a:b', kind: 'chat', model: 'c', body: {} }).digest,
    );
  });
});

describe('tenant partition', () => {
  it('is the org and project, percent-encoded; master and open stand apart', () => {
    assert.equal(tenantA, 'org:o_1/project:p_1');
    assert.equal(tenantPartition({ kind: 'key', orgId: 'o_1', projectId: null }), 'org:o_1');
    assert.equal(
      tenantPartition({ kind: 'key', orgId: 'o/project:x', projectId: null }),
      'org:o%2Fproject%3Ax',
    );
    assert.notEqual(
      tenantPartition({ kind: 'key', orgId: 'o/project:x', projectId: null }),
      tenantPartition({ kind: 'key', orgId: 'o', projectId: 'x' }),
    );
    assert.equal(tenantPartition({ kind: 'master' }), 'master');
    assert.equal(tenantPartition({ kind: 'open' }), 'open');
  });
});

describe('cacheability', () => {
  it('refuses n > 1, audio output and count_tokens; accepts the rest', () => {
    assert.equal(notCacheableReason('chat', { ...base, n: 3 }), 'multiple_choices');
    assert.equal(notCacheableReason('chat', { ...base, n: 1 }), undefined);
    assert.equal(notCacheableReason('chat', { ...base, modalities: ['text', 'audio'] }), 'audio_output');
    assert.equal(
      notCacheableReason('chat', { ...base, audio: { voice: 'alloy', format: 'wav' } }),
      'audio_output',
    );
    assert.equal(notCacheableReason('messages', { max_tokens: 5 }, 'count_tokens'), 'count_tokens');
    assert.equal(notCacheableReason('messages', { max_tokens: 5 }, 'messages'), undefined);
    assert.equal(notCacheableReason('embeddings', { input: 'x', model: 'e' }), undefined);
    assert.equal(notCacheableReason('chat', base), undefined);
  });
});
