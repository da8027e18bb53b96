/**
 * `GET /metrics` after mixed traffic on one long-lived gateway, read by a Prometheus text-format parser: the
 * seed's metric names with the counts the traffic implies (chat, stream, an upstream error, a cache hit, a
 * rate-limited request), the token and cost totals equal to what the replies reported, the endpoint closed
 * to anyone without the master key or metrics token, and labels that stay bounded when a thousand distinct
 * keys and models go through.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { loadCatalog } from '../../src/catalog/load.ts';
import { call } from '../support/admin-client.ts';
import { type Tenant, TenantFixture } from '../support/tenant-fixture.ts';

const limits = { timeout: 120_000 };
const metricsToken = `metrics-${randomUUID()}`;

type Labels = Record<string, string>;

/** The samples of one family whose labels include `match`. */
function samples(families: PrometheusFamily[], name: string, match: Labels = {}) {
  // Read untyped, a histogram's series come as one family per label set and suffix: gather them all.
  const found = families.filter((candidate) => candidate.name === name);
  assert.ok(found.length > 0, `${name} is exposed`);
  return found
    .flatMap((family) => family.metrics)
    .filter((sample) => Object.entries(match).every(([label, value]) => sample.labels?.[label] === value));
}

/** The sum of a counter's or gauge's samples matching `match` (0 when none). */
function total(families: PrometheusFamily[], name: string, match: Labels = {}): number {
  return samples(families, name, match).reduce((sum, sample) => sum + Number(sample.value), 0);
}

/** The sum of a histogram's observation counts (its `_count` series) matching `match`. */
function observations(families: PrometheusFamily[], name: string, match: Labels = {}): number {
  assert.ok(
    families.some((family) => family.name === name && family.type === 'HISTOGRAM'),
    `${name} is a histogram`,
  );
  // A histogram with no observation yet has no series at all.
  if (!families.some((family) => family.name === `${name}_count`)) return 0;
  return total(families, `${name}_count`, match);
}

/**
 * Parses an exposition twice: as typed (each family's type checked), and with histograms read as untyped
 * families, because the parser folds a labelled histogram's series into one and drops their `_count`s; read
 * untyped, each `_bucket`, `_sum` and `_count` series keeps its labels.
 */
function parseExposition(text: string): PrometheusFamily[] {
  const typed = parsePrometheusTextFormat(text);
  const histograms = typed.filter((family) => family.type === 'HISTOGRAM').map((family) => family.name);
  const untyped = parsePrometheusTextFormat(text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped'));
  return [
    ...typed.filter((family) => family.type !== 'HISTOGRAM'),
    ...untyped.filter((family) => histograms.some((name) => family.name.startsWith(`${name}_`))),
    ...typed.filter((family) => family.type === 'HISTOGRAM'),
  ];
}

describe('Prometheus metrics, on one long-lived gateway', () => {
  const fixture = new TenantFixture({ CACHE_ENABLED: 'true', METRICS_TOKEN: metricsToken });
  let alice: Tenant;
  let limited: Tenant;
  let client: OpenAI;

  const scrape = async (): Promise<PrometheusFamily[]> => {
    const reply = await call(fixture.gateway, 'GET', '/metrics', { key: metricsToken });
    assert.equal(reply.status, 200, reply.text);
    assert.match(reply.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parseExposition(reply.text);
  };

  before(async () => {
    await fixture.start();
    alice = await fixture.tenant('alice');
    limited = await fixture.tenant('limited', { limits: { rpm: 1 } });
    client = new OpenAI({ apiKey: alice.secret, baseURL: fixture.gateway.baseURL, maxRetries: 0 });
  });
  after(() => fixture.close());

  test('only the master key or the metrics token may read /metrics', limits, async () => {
    assert.equal((await call(fixture.gateway, 'GET', '/metrics')).status, 401);
    assert.equal((await call(fixture.gateway, 'GET', '/metrics', { key: 'wrong-token' })).status, 401);
    assert.equal((await call(fixture.gateway, 'GET', '/metrics', { key: alice.secret })).status, 401);
    assert.equal((await call(fixture.gateway, 'GET', '/metrics', { key: fixture.masterKey })).status, 200);
    assert.equal((await call(fixture.gateway, 'GET', '/metrics', { key: metricsToken })).status, 200);
  });

  test('mixed traffic shows up with the counts it implies', limits, async () => {
    const before = await scrape();

    // Two identical chats (a miss, then an exact hit), a stream, one upstream 500 retried, and a key limited
    // to one request a minute sending two.
    const messages = [{ role: 'user' as const, content: `metrics ${randomUUID()}` }];
    const first = await client.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    const hit = await client.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    assert.equal(hit.response.headers.get('x-nexus-cache'), 'HIT');
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: `stream ${randomUUID()}` }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let streamUsage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) streamUsage = chunk.usage ?? streamUsage;
    assert.ok(streamUsage);
    fixture.fake.enqueue({ kind: 'status', status: 500 });
    const retried = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `retry ${randomUUID()}` }] })
      .withResponse();
    const limitedBody = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: `limited ${randomUUID()}` }],
    };
    const admitted = await fixture.as(limited.secret, 'POST', '/v1/chat/completions', limitedBody);
    assert.equal(admitted.status, 200, admitted.text);
    assert.equal((await fixture.as(limited.secret, 'POST', '/v1/chat/completions', limitedBody)).status, 429);

    const after = await scrape();
    const delta = (name: string, match: Labels = {}) =>
      total(after, name, match) - total(before, name, match);
    const chatRoute = { route: '/v1/chat/completions', method: 'POST' };
    assert.equal(
      delta('http_requests_total', { ...chatRoute, status_class: '2xx' }),
      5,
      "two chats, a stream, the retried chat and the limited key's first request",
    );
    assert.equal(delta('http_requests_total', { ...chatRoute, status_class: '4xx' }), 1);
    assert.equal(
      observations(after, 'http_request_duration_seconds', chatRoute) -
        observations(before, 'http_request_duration_seconds', chatRoute),
      6,
    );

    // Tokens and costs: exactly what the four answers that went upstream reported, priced at the catalogue's
    // prices (the hit reported the first answer's usage again, but cost nothing and sent nothing upstream).
    const upstream = [
      first.data.usage!,
      streamUsage,
      retried.data.usage!,
      (admitted.body as OpenAI.ChatCompletion).usage!,
    ];
    const model = { provider: 'openai', model: 'gpt-4o-mini' };
    const sum = (pick: (usage: OpenAI.CompletionUsage) => number) =>
      upstream.reduce((total, usage) => total + pick(usage), 0);
    assert.equal(
      delta('llm_tokens_total', { ...model, type: 'prompt' }),
      sum((usage) => usage.prompt_tokens),
    );
    assert.equal(
      delta('llm_tokens_total', { ...model, type: 'completion' }),
      sum((usage) => usage.completion_tokens),
    );
    const price = loadCatalog().models.find((spec) => spec.id === 'gpt-4o-mini')!.pricing;
    const expectedUsd = sum(
      (usage) =>
        (usage.prompt_tokens * price.inputPerMillion + usage.completion_tokens * price.outputPerMillion) /
        1e6,
    );
    assert.ok(Math.abs(delta('llm_costs_total', model) - expectedUsd) < 1e-12, 'costs to the nano-dollar');
    const firstCost = Number(first.response.headers.get('x-nexus-cost-usd'));
    assert.ok(
      Math.abs(delta('cache_savings_usd_total') - firstCost) < 1e-12,
      'the hit saved what the miss cost',
    );

    assert.equal(delta('cache_hit_total', { kind: 'exact' }), 1);
    assert.equal(delta('cache_requests_total', { result: 'hit' }), 1);
    assert.equal(delta('provider_errors_total', { ...model, code: 'upstream_error' }), 1);
    assert.equal(delta('llm_upstream_attempts_total', { ...model, verdict: 'failed' }), 1);
    assert.equal(delta('llm_upstream_attempts_total', { ...model, verdict: 'ok' }), 4);
    assert.equal(
      observations(after, 'llm_time_to_first_token_seconds', model) -
        observations(before, 'llm_time_to_first_token_seconds', model),
      1,
      'one stream, one first token',
    );
    assert.equal(delta('nexus_limit_decisions_total', { decision: 'rate_limited', limit: 'rpm' }), 1);
    assert.equal(delta('nexus_limit_decisions_total', { decision: 'admitted' }), 5);
    // The retried 500 counted one failure on the deployment's circuit, which is still closed.
    const circuit = samples(after, 'nexus_circuit_state', { model: 'gpt-4o-mini' });
    assert.equal(circuit.length, 1);
    assert.equal(circuit[0]!.value, '0');
    assert.equal(total(after, 'nexus_active_streams'), 0);
    assert.equal(total(after, 'nexus_requests_in_flight'), 1, 'the scrape itself');
    assert.equal(samples(after, 'process_cpu_seconds_total').length, 1);

    // The usage ledger has the stream's time to first token too (non-stream records have none).
    await fixture.flush();
    const logs = await fixture.as(
      fixture.masterKey,
      'GET',
      `/v1/admin/logs?key_id=${alice.key.id}&limit=100`,
    );
    const records = (logs.body as { data: Array<{ streamed: boolean; ttft_ms: number | null }> }).data;
    const streamed = records.filter((record) => record.streamed);
    assert.equal(streamed.length, 1);
    assert.equal(typeof streamed[0]!.ttft_ms, 'number');
    assert.ok(records.filter((record) => !record.streamed).every((record) => record.ttft_ms === null));
  });

  test('labels stay bounded when a thousand distinct keys and models go through', limits, async () => {
    // A thousand keys (each its own project), each asking for a model nobody configured; the fake answers
    // them all, as a permissive OpenAI-compatible upstream would.
    const keys: string[] = [];
    const org = await fixture.tenant('many');
    for (let batch = 0; batch < 1000; batch += 50) {
      const made = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const reply = await fixture.as(fixture.masterKey, 'POST', '/v1/admin/api-keys', {
            project_id: org.project.id,
          });
          assert.equal(reply.status, 201, reply.text);
          return fixture.keep((reply.body as { key: string }).key);
        }),
      );
      keys.push(...made);
    }
    const requestIds: string[] = [];
    const round = async (label: string) => {
      for (let start = 0; start < keys.length; start += 25) {
        await Promise.all(
          keys.slice(start, start + 25).map(async (key, offset) => {
            const requestId = `${label}-${start + offset}-${randomUUID()}`;
            requestIds.push(requestId);
            const reply = await call(fixture.gateway, 'POST', '/v1/chat/completions', {
              key,
              headers: { 'x-request-id': requestId },
              body: {
                model: `openai/${label}-model-${start + offset}`,
                messages: [{ role: 'user', content: 'hi' }],
              },
            });
            assert.equal(reply.status, 200, reply.text);
          }),
        );
      }
      return call(fixture.gateway, 'GET', '/metrics', { key: metricsToken });
    };
    // The gateway's own series (the process's, such as GC kinds, come and go on their own), less the scrapes'.
    const series = (text: string) =>
      text
        .split('\n')
        .filter((line) => line !== '' && !line.startsWith('#') && !/^(process|nodejs)_/.test(line))
        .filter((line) => !line.includes('route="/metrics"'));

    const first = await round('first');
    const second = await round('second');
    assert.equal(
      series(second.text).length,
      series(first.text).length,
      'a second thousand new keys and models added no series',
    );
    const families = parseExposition(second.text);
    const models = new Set(
      families.flatMap((family) => family.metrics.map((sample) => sample.labels?.model)).filter(Boolean),
    );
    const catalogued = new Set(loadCatalog().models.map((spec) => spec.id));
    const uncatalogued = [...models].filter((model) => !catalogued.has(model!));
    assert.ok(uncatalogued.length <= 101, `${uncatalogued.length} uncatalogued model names are labels`);
    assert.ok(models.has('other'), 'the rest are counted under `other`');
    assert.equal(
      total(families, 'llm_upstream_attempts_total', { model: 'other', verdict: 'ok' }) +
        uncatalogued
          .filter((model) => model !== 'other')
          .reduce((sum, model) => sum + total(families, 'llm_upstream_attempts_total', { model: model! }), 0),
      2000,
      'every request is still counted',
    );
    for (const secret of [...keys, ...requestIds.slice(0, 50)]) {
      assert.ok(!second.text.includes(secret), 'no key or request id is a label');
    }
  });
});
