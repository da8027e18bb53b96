import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { GatewayMetrics } from '../../src/observability/metrics.ts';

// The gateway keeps its histograms itself (no label hashing per observation) and hands prom-client what its
// own Histogram would: the same text on /metrics, the same JSON for the cluster's aggregation.
const durationBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const observations: Array<[method: string, route: string, status: number, seconds: number]> = [
  ['POST', '/v1/chat/completions', 200, 0.0004],
  ['POST', '/v1/chat/completions', 200, 0.001],
  ['POST', '/v1/chat/completions', 200, 0.0123],
  ['POST', '/v1/chat/completions', 429, 0.002],
  ['GET', '/v1/models', 200, 0.3],
  ['POST', '/v1/chat/completions', 200, 301],
  ['POST', '/v1/chat/completions', 500, 7],
];

function gatewayWith(values: typeof observations): GatewayMetrics {
  const metrics = new GatewayMetrics({ knownModels: [], processMetrics: false });
  for (const [method, route, status, seconds] of values) metrics.request(method, route, status, seconds);
  return metrics;
}

function promClientWith(values: typeof observations): Registry {
  const registry = new Registry();
  const histogram = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to its last byte (a stream: its end), seconds.',
    labelNames: ['method', 'route', 'status_class'],
    buckets: durationBuckets,
    registers: [registry],
  });
  for (const [method, route, status, seconds] of values) {
    histogram.observe({ method, route, status_class: `${Math.floor(status / 100)}xx` }, seconds);
  }
  return registry;
}

describe('the request-duration histogram', () => {
  it('prints what prom-client prints for the same observations, buckets, +Inf, sum and count', async () => {
    const ours = await gatewayWith(observations).registry.getSingleMetricAsString(
      'http_request_duration_seconds',
    );
    const theirs = await promClientWith(observations).getSingleMetricAsString(
      'http_request_duration_seconds',
    );
    assert.equal(ours, theirs);
    assert.match(
      ours,
      /http_request_duration_seconds_count\{method="POST",route="\/v1\/chat\/completions",status_class="2xx"\} 4/,
    );
  });

  it('adds up across workers as prom-client histograms do', async () => {
    const ours = AggregatorRegistry.aggregate([
      await gatewayWith(observations.slice(0, 4)).registry.getMetricsAsJSON(),
      await gatewayWith(observations.slice(4)).registry.getMetricsAsJSON(),
    ]);
    const theirs = AggregatorRegistry.aggregate([
      await promClientWith(observations.slice(0, 4)).getMetricsAsJSON(),
      await promClientWith(observations.slice(4)).getMetricsAsJSON(),
    ]);
    assert.equal(
      await ours.getSingleMetricAsString('http_request_duration_seconds'),
      await theirs.getSingleMetricAsString('http_request_duration_seconds'),
    );
  });

  it('ignores a value that is not a finite number instead of poisoning the sum', async () => {
    const metrics = gatewayWith([['GET', '/health', 200, Number.NaN], ...observations]);
    const text = await metrics.registry.getSingleMetricAsString('http_request_duration_seconds');
    assert.doesNotMatch(text, /NaN/);
    assert.equal(
      text,
      await promClientWith(observations).getSingleMetricAsString('http_request_duration_seconds'),
    );
  });

  it('starts again from nothing on reset', async () => {
    const metrics = gatewayWith(observations);
    metrics.registry.resetMetrics();
    const text = await metrics.registry.getSingleMetricAsString('http_request_duration_seconds');
    assert.doesNotMatch(text, /_count/);
  });
});
