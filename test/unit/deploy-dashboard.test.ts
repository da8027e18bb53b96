import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parser } from '@prometheus-io/lezer-promql';
import { GatewayMetrics } from '../../src/observability/metrics.ts';
import { asRecord, readRepositoryFile } from '../support/deploy-files.ts';

/**
 * deploy/grafana/nexus-dashboard.json: every query parses with Prometheus's own PromQL grammar
 * (@prometheus-io/lezer-promql, the one its web UI uses) and asks only for metrics, labels and label values the
 * gateway exposes at /metrics, so no panel silently shows "No data" because of a misspelt name.
 */

/**
 * The contract between the dashboard and the gateway's /metrics: each metric's type, labels and, where they
 * are a closed set, the labels' values. Once the metrics registry lands, its own definitions replace this list.
 */
const gatewayMetrics: Record<
  string,
  { type: 'counter' | 'gauge' | 'histogram'; labels: Record<string, readonly string[] | 'any'> }
> = {
  http_requests_total: { type: 'counter', labels: { method: 'any', route: 'any', status_class: 'any' } },
  http_request_duration_seconds: {
    type: 'histogram',
    labels: { method: 'any', route: 'any', status_class: 'any' },
  },
  llm_tokens_total: {
    type: 'counter',
    labels: { provider: 'any', model: 'any', type: ['prompt', 'completion', 'cached_read', 'cache_write'] },
  },
  llm_costs_total: { type: 'counter', labels: { provider: 'any', model: 'any' } },
  cache_hit_total: { type: 'counter', labels: { kind: ['exact', 'semantic'] } },
  cache_requests_total: { type: 'counter', labels: { result: ['hit', 'hit_semantic', 'miss', 'bypass'] } },
  cache_savings_usd_total: { type: 'counter', labels: {} },
  provider_errors_total: { type: 'counter', labels: { provider: 'any', model: 'any', code: 'any' } },
  llm_time_to_first_token_seconds: { type: 'histogram', labels: { provider: 'any', model: 'any' } },
  llm_upstream_attempts_total: {
    type: 'counter',
    labels: { provider: 'any', model: 'any', verdict: ['ok', 'failed', 'cancelled'] },
  },
  nexus_circuit_state: { type: 'gauge', labels: { provider_instance: 'any', model: 'any' } },
  nexus_active_streams: { type: 'gauge', labels: {} },
  nexus_requests_in_flight: { type: 'gauge', labels: {} },
  nexus_limit_decisions_total: {
    type: 'counter',
    labels: { decision: ['admitted', 'rate_limited', 'insufficient_quota', 'unavailable'], limit: 'any' },
  },
};

/** prom-client's default process metrics the dashboard charts (collectDefaultMetrics). */
const processMetrics = [
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'nodejs_heap_size_used_bytes',
  'nodejs_eventloop_lag_seconds',
  'nodejs_eventloop_lag_p99_seconds',
];

/** Labels Prometheus adds to every scraped series; a metric's own `instance` is kept as `exported_instance`. */
const targetLabels = ['job', 'instance'];

/** The labels a series of `name` carries once scraped, or undefined for a name outside the contract. */
function seriesLabels(name: string): Record<string, readonly string[] | 'any'> | undefined {
  if (processMetrics.includes(name)) return {};
  const histogram = /^(.*)_(bucket|sum|count)$/.exec(name);
  const base = histogram && gatewayMetrics[histogram[1]!]?.type === 'histogram' ? histogram[1]! : name;
  const metric = gatewayMetrics[base];
  if (metric === undefined || (metric.type === 'histogram' && base === name)) return undefined;
  const { instance, ...labels } = metric.labels;
  return {
    ...labels,
    ...(instance === undefined ? {} : { exported_instance: instance }),
    ...(name.endsWith('_bucket') ? { le: 'any' } : {}),
  };
}

/** Grafana's interval variables, which PromQL cannot parse, replaced by a duration of the same kind. */
function withGrafanaIntervals(expression: string): string {
  return expression.replaceAll(
    /\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}/g,
    '5m',
  );
}

/** Every problem with one PromQL expression: a syntax error, or a metric, label or value outside the contract. */
function expressionProblems(expression: string): { problems: string[]; metrics: string[] } {
  const text = withGrafanaIntervals(expression);
  const problems: string[] = [];
  const metrics: string[] = [];
  const groupingLabels: string[] = [];
  const tree = parser.parse(text);
  const slice = (node: { from: number; to: number }) => text.slice(node.from, node.to);
  tree.iterate({
    enter(node) {
      if (node.type.isError)
        problems.push(`syntax error at ${node.from}: …${text.slice(node.from, node.from + 20)}`);
      if (node.name === 'GroupingLabels') {
        for (const label of node.node.getChildren('LabelName')) groupingLabels.push(slice(label));
      }
      if (node.name !== 'VectorSelector') return;
      const identifier = node.node.getChild('Identifier');
      if (identifier === null) return;
      const name = slice(identifier);
      metrics.push(name);
      const labels = seriesLabels(name);
      if (labels === undefined) {
        problems.push(`unknown metric ${name}`);
        return;
      }
      for (const matcher of node.node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
        const label = slice(matcher.getChild('LabelName')!);
        const operator = slice(matcher.getChild('MatchOp')!);
        const value = JSON.parse(slice(matcher.getChild('StringLiteral')!)) as string;
        if (targetLabels.includes(label)) continue;
        const allowed = labels[label];
        if (allowed === undefined) problems.push(`${name} has no label ${label}`);
        else if (allowed !== 'any' && !value.includes('$')) {
          const values = operator.endsWith('~') ? value.split('|') : [value];
          for (const one of values)
            if (!allowed.includes(one)) problems.push(`${name}{${label}} is never "${one}"`);
        }
      }
    },
  });
  const available = new Set([
    ...targetLabels,
    ...metrics.flatMap((name) => Object.keys(seriesLabels(name) ?? {})),
  ]);
  for (const label of groupingLabels) {
    if (!available.has(label)) problems.push(`grouping by ${label}, which no metric here has`);
  }
  return { problems, metrics };
}

type Target = { expr: string; datasource?: { uid?: string } };
type Panel = {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
};
type Variable = { name: string; type: string; query?: unknown; datasource?: { uid?: string } };

const dashboard = asRecord(
  JSON.parse(readRepositoryFile('deploy/grafana/nexus-dashboard.json')),
  'dashboard',
);
const panels = dashboard.panels as Panel[];
const variables = asRecord(dashboard.templating, 'templating').list as Variable[];
const queryPanels = panels.filter((panel) => panel.type !== 'row');

/** Each expression with where it is: the panels' targets and the query variables' `label_values(...)`. */
function expressions(): Array<{ where: string; expression: string }> {
  const fromPanels = queryPanels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ where: `panel "${panel.title}"`, expression: target.expr })),
  );
  const fromVariables = variables
    .filter((variable) => variable.type === 'query')
    .map((variable) => {
      const query = asRecord(variable.query, variable.name).query as string;
      const selector = /^label_values\((.+),\s*(\w+)\)$/.exec(query);
      assert.ok(selector, `variable ${variable.name}: ${query}`);
      return { where: `variable ${variable.name}`, expression: selector[1]! };
    });
  return [...fromPanels, ...fromVariables];
}

describe('the Grafana dashboard', () => {
  it("charts the gateway's own metrics: the contract above is the registry's names, types and labels", () => {
    const registry = new GatewayMetrics({ knownModels: [], processMetrics: false }).registry;
    const own = Object.fromEntries(
      registry
        .getMetricsAsArray()
        .filter((metric) => metric.name !== 'nexus_workers')
        .map((metric) => {
          const described = metric as unknown as { type: string; labelNames: string[] };
          return [metric.name, { type: described.type, labels: [...described.labelNames].sort() }];
        }),
    );
    const contract = Object.fromEntries(
      Object.entries(gatewayMetrics).map(([name, metric]) => [
        name,
        { type: metric.type, labels: Object.keys(metric.labels).sort() },
      ]),
    );
    assert.deepEqual(own, contract);
  });

  it('asks only for metrics, labels and values of the contract, in PromQL that parses', () => {
    const problems = expressions().flatMap(({ where, expression }) =>
      expressionProblems(expression).problems.map((problem) => `${where}: ${problem}`),
    );
    assert.deepEqual(problems, []);
  });

  it('the check catches a syntax error, a misspelt metric, a missing label and an impossible value', () => {
    const { problems } = expressionProblems(
      'sum by (provider) (rate(http_request_total[$__rate_interval])) + sum(rate(cache_requests_total{result="semantic_hit"}[5m])',
    );
    assert.ok(problems.some((problem) => problem.startsWith('syntax error')));
    assert.ok(problems.includes('unknown metric http_request_total'));
    assert.ok(problems.includes('grouping by provider, which no metric here has'));
    assert.ok(problems.includes('cache_requests_total{result} is never "semantic_hit"'));
    // A counter has no buckets: only the contract's histograms take _bucket, _sum and _count.
    const { problems: notHistogram } = expressionProblems('sum(rate(llm_costs_total_bucket[5m]))');
    assert.deepEqual(notHistogram, ['unknown metric llm_costs_total_bucket']);
  });

  it('charts every metric of the contract', () => {
    const used = new Set(expressions().flatMap(({ expression }) => expressionProblems(expression).metrics));
    const charted = (name: string) =>
      gatewayMetrics[name]?.type === 'histogram' ? used.has(`${name}_bucket`) : used.has(name);
    assert.deepEqual(
      [...Object.keys(gatewayMetrics), ...processMetrics].filter((name) => !charted(name)),
      [],
    );
  });

  it('picks its datasource through the DS_PROMETHEUS variable, never a fixed uid', () => {
    const datasource = variables.find((variable) => variable.name === 'DS_PROMETHEUS');
    assert.equal(datasource?.type, 'datasource');
    assert.equal(datasource?.query, 'prometheus');
    for (const panel of queryPanels) {
      assert.equal(panel.datasource?.uid, '${DS_PROMETHEUS}', panel.title);
      for (const target of panel.targets ?? [])
        assert.equal(target.datasource?.uid, '${DS_PROMETHEUS}', panel.title);
    }
    for (const variable of variables.filter((item) => item.type === 'query')) {
      assert.equal(variable.datasource?.uid, '${DS_PROMETHEUS}', variable.name);
    }
  });

  it('filters every query by the job and instance variables, and defines every variable it uses', () => {
    const defined = new Set(variables.map((variable) => variable.name));
    assert.ok(defined.has('job') && defined.has('instance'));
    for (const { where, expression } of expressions().filter((item) => item.where.startsWith('panel'))) {
      assert.match(expression, /job=~"\$job"/, where);
      assert.match(expression, /instance=~"\$instance"/, where);
    }
    for (const { where, expression } of expressions()) {
      for (const [, name] of expression.matchAll(/\$\{?(\w+)/g)) {
        assert.ok(name!.startsWith('__') || defined.has(name!), `${where}: $${name} is not a variable`);
      }
    }
  });

  it('lays its panels out on the 24-column grid without overlaps, with unique ids', () => {
    const ids = panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const [index, panel] of panels.entries()) {
      const { x, y, w, h } = panel.gridPos;
      assert.ok(x >= 0 && w > 0 && h > 0 && x + w <= 24, `${panel.title} is off the grid`);
      for (const other of panels.slice(index + 1)) {
        const b = other.gridPos;
        const overlaps = x < b.x + b.w && b.x < x + w && y < b.y + b.h && b.y < y + h;
        assert.ok(!overlaps, `"${panel.title}" overlaps "${other.title}"`);
      }
    }
  });
});
