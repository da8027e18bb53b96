import { Counter, type CounterConfiguration, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { askPrimary, offerToPrimary } from './cluster-metrics.ts';

/**
 * The gateway's Prometheus metrics (prom-client), served at `GET /metrics`: seed 003's names
 * (`http_requests_total`, `http_request_duration_seconds`, `llm_tokens_total`, `llm_costs_total`,
 * `cache_hit_total`, `provider_errors_total`) and the rest of docs/observability.md's list.
 *
 * Every label is bounded: routes are the router's patterns (`/v1/admin/keys/:id`, never a raw path), status
 * is a class, providers and instances come from configuration, error codes from the catalogue, and models
 * pass through `BoundedLabel` (a catalogue model, or one an upstream served, up to a fixed number of names;
 * anything else is `other`). No key, prompt or request id is ever a label.
 */

export type CacheResultLabel = 'hit' | 'hit_semantic' | 'miss' | 'bypass';
export type LimitDecisionLabel = 'admitted' | 'rate_limited' | 'insufficient_quota' | 'unavailable';
export type TokenType = 'prompt' | 'completion' | 'cached_read' | 'cache_write';
export type CircuitStateValue = 0 | 1 | 2;

/** What the live gauges read when Prometheus scrapes (nothing is kept up to date per request for them). */
export interface GaugeSources {
  readonly inFlight: () => number;
  readonly activeStreams: () => number;
  /** Each deployment's circuit: its instance's id, the model, and 0 closed / 1 half-open / 2 open. */
  readonly circuits: () => Iterable<readonly [instance: string, model: string, state: CircuitStateValue]>;
}

export interface MetricsOptions {
  /** Model ids that are always their own label value (the catalogue's). */
  readonly knownModels: Iterable<string>;
  /** How many other model names may become labels once an upstream served them; default 100. */
  readonly extraModels?: number;
  /** Collect prom-client's process metrics (CPU, memory, event-loop lag, GC); default true. */
  readonly processMetrics?: boolean;
}

/** Seconds: a proxied request spans milliseconds (a cache hit) to minutes (a long stream). */
const durationBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const ttftBuckets = [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20, 30];

/**
 * A label whose values are bounded: the known names, then at most `extra` further names that were admitted
 * (an upstream served them, so they are real models), then `other`. A client sending a thousand made-up model
 * names adds none: a made-up name never gets an `ok` answer.
 */
export class BoundedLabel {
  readonly #known: Set<string>;
  readonly #admitted = new Set<string>();
  readonly #extra: number;

  constructor(known: Iterable<string>, extra: number) {
    this.#known = new Set(known);
    this.#extra = extra;
  }

  /** The label for `value`; `admit` lets a new name take one of the free places. */
  of(value: string, admit: boolean): string {
    if (this.#known.has(value) || this.#admitted.has(value)) return value;
    if (admit && this.#admitted.size < this.#extra) {
      this.#admitted.add(value);
      return value;
    }
    return 'other';
  }
}

/**
 * A prom-client Counter fed from the request path through a Map: an increment adds to the entry of its label
 * values (one string key: no sorting, hashing or validation), and prom-client receives the sums when the
 * counter is read (its `collect`, which runs before every scrape and every cluster aggregation), so what
 * `/metrics` shows is exact. prom-client's own `inc` sorts, hashes and validates the labels on every call,
 * which, several times per request, cost 2-3 µs of each request (measured: 0.1-0.4 µs a call). The label
 * sets are the bounded ones every label here has, so the Map is bounded too.
 */
class DeferredCounter<L extends string> {
  readonly #labelNames: readonly L[];
  readonly #pending = new Map<string, { readonly labels: Record<L, string>; value: number }>();

  constructor(configuration: CounterConfiguration<L> & { readonly labelNames?: readonly L[] }) {
    this.#labelNames = configuration.labelNames ?? [];
    const pending = this.#pending;
    new Counter<L>({
      ...configuration,
      collect() {
        for (const entry of pending.values()) {
          if (entry.value === 0) continue;
          this.inc(entry.labels, entry.value);
          entry.value = 0;
        }
      },
    });
  }

  inc(labels: Record<L, string>, value = 1): void {
    let key = '';
    for (const name of this.#labelNames) key += `${labels[name]}\u0000`;
    const entry = this.#pending.get(key);
    if (entry !== undefined) entry.value += value;
    else this.#pending.set(key, { labels, value });
  }
}

/**
 * A histogram kept the way `DeferredCounter` keeps counts: one entry per label set (one string key), its
 * per-bucket counts, sum and count added to directly, and registered with prom-client as a metric of its own
 * whose `get()` gives exactly what prom-client's Histogram gives (the cumulative `_bucket` series with `le`,
 * then `+Inf`, `_sum` and `_count`), so `/metrics`, the OpenMetrics format and the cluster aggregation read it
 * alike. prom-client's `observe` validates, sorts and hashes the labels on each call (about 1 µs); there are
 * one or two per request (the duration, a stream's time to first token).
 */
class DeferredHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly labelNames: readonly L[];
  readonly #bounds: readonly number[];
  readonly #series = new Map<
    string,
    { readonly labels: Record<L, string>; readonly counts: number[]; sum: number; count: number }
  >();

  constructor(configuration: {
    readonly name: string;
    readonly help: string;
    readonly labelNames: readonly L[];
    readonly buckets: readonly number[];
    readonly registers: readonly Registry[];
  }) {
    this.name = configuration.name;
    this.help = configuration.help;
    this.labelNames = configuration.labelNames;
    this.#bounds = [...configuration.buckets].sort((a, b) => a - b);
    for (const registry of configuration.registers) registry.registerMetric(this as never);
  }

  observe(labels: Record<L, string>, value: number): void {
    if (!Number.isFinite(value)) return;
    let key = '';
    for (const name of this.labelNames) key += `${labels[name]}\u0000`;
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels, counts: new Array<number>(this.#bounds.length).fill(0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    const bounds = this.#bounds;
    for (let index = 0; index < bounds.length; index++) {
      if (value <= (bounds[index] as number)) {
        (series.counts[index] as number)++;
        break;
      }
    }
    series.sum += value;
    series.count++;
  }

  /** prom-client's Histogram `get()` shape. */
  async get() {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const series of this.#series.values()) {
      let cumulative = 0;
      for (const [index, bound] of this.#bounds.entries()) {
        cumulative += series.counts[index] as number;
        values.push({
          labels: { le: bound, ...series.labels },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      }
      values.push(
        { labels: { le: '+Inf', ...series.labels }, value: series.count, metricName: `${this.name}_bucket` },
        { labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` },
        { labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.#series.clear();
  }
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly models: BoundedLabel;
  readonly #requests: DeferredCounter<'method' | 'route' | 'status_class'>;
  readonly #duration: DeferredHistogram<'method' | 'route' | 'status_class'>;
  readonly #tokens: DeferredCounter<'provider' | 'model' | 'type'>;
  readonly #costs: DeferredCounter<'provider' | 'model'>;
  readonly #cacheHits: DeferredCounter<'kind'>;
  readonly #cacheRequests: DeferredCounter<'result'>;
  readonly #cacheSavings: DeferredCounter<never>;
  readonly #providerErrors: DeferredCounter<'provider' | 'model' | 'code'>;
  readonly #ttft: DeferredHistogram<'provider' | 'model'>;
  readonly #attempts: DeferredCounter<'provider' | 'model' | 'verdict'>;
  readonly #limitDecisions: DeferredCounter<'decision' | 'limit'>;
  #sources: GaugeSources | undefined;
  #clustered = false;

  constructor(options: MetricsOptions) {
    this.models = new BoundedLabel(options.knownModels, options.extraModels ?? 100);
    const registers = [this.registry];
    this.#requests = new DeferredCounter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status class.',
      labelNames: ['method', 'route', 'status_class'],
      registers,
    });
    this.#duration = new DeferredHistogram({
      name: 'http_request_duration_seconds',
      help: 'Time from receiving a request to its last byte (a stream: its end), seconds.',
      labelNames: ['method', 'route', 'status_class'],
      buckets: durationBuckets,
      registers,
    });
    this.#tokens = new DeferredCounter({
      name: 'llm_tokens_total',
      help: 'Tokens the upstreams reported, by type (prompt includes cached_read and cache_write).',
      labelNames: ['provider', 'model', 'type'],
      registers,
    });
    this.#costs = new DeferredCounter({
      name: 'llm_costs_total',
      help: 'USD spent upstream, priced from reported usage and catalogue prices.',
      labelNames: ['provider', 'model'],
      registers,
    });
    this.#cacheHits = new DeferredCounter({
      name: 'cache_hit_total',
      help: 'Requests answered from the response cache (coalesced followers included), by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.#cacheRequests = new DeferredCounter({
      name: 'cache_requests_total',
      help: 'Cacheable requests by the cache verdict.',
      labelNames: ['result'],
      registers,
    });
    this.#cacheSavings = new DeferredCounter({
      name: 'cache_savings_usd_total',
      help: 'USD the cache saved: what the cached answers cost when they were made.',
      registers,
    });
    this.#providerErrors = new DeferredCounter({
      name: 'provider_errors_total',
      help: 'Upstream attempts that failed, by provider, model and Nexus error code.',
      labelNames: ['provider', 'model', 'code'],
      registers,
    });
    this.#ttft = new DeferredHistogram({
      name: 'llm_time_to_first_token_seconds',
      help: 'Streamed requests: time from sending to the first real event of the serving attempt, seconds.',
      labelNames: ['provider', 'model'],
      buckets: ttftBuckets,
      registers,
    });
    this.#attempts = new DeferredCounter({
      name: 'llm_upstream_attempts_total',
      help: 'Upstream attempts (retries, failovers, hedges, continuations) by verdict.',
      labelNames: ['provider', 'model', 'verdict'],
      registers,
    });
    this.#limitDecisions = new DeferredCounter({
      name: 'nexus_limit_decisions_total',
      help: 'Admissions of tenant-key requests: admitted, or refused by the named limit.',
      labelNames: ['decision', 'limit'],
      registers,
    });
    const self = this;
    new Gauge({
      name: 'nexus_requests_in_flight',
      help: 'Requests being answered now (streams included).',
      registers,
      collect() {
        this.set(self.#sources?.inFlight() ?? 0);
      },
    });
    new Gauge({
      name: 'nexus_workers',
      help: 'Gateway processes whose metrics this scrape adds up (WORKERS under node:cluster; else 1).',
      registers,
    }).set(1);
    new Gauge({
      name: 'nexus_active_streams',
      help: 'Event streams being written to clients now.',
      registers,
      collect() {
        this.set(self.#sources?.activeStreams() ?? 0);
      },
    });
    new Gauge({
      name: 'nexus_circuit_state',
      help: 'Circuit of each deployment (provider instance, model): 0 closed, 1 half-open, 2 open.',
      // Not `instance`: Prometheus keeps that label for the scraped replica.
      labelNames: ['provider_instance', 'model'],
      registers,
      // Across cluster workers a deployment's circuit is its worst worker's.
      aggregator: 'max',
      collect() {
        this.reset();
        const worst = new Map<string, { instance: string; model: string; state: number }>();
        for (const [instance, model, state] of self.#sources?.circuits() ?? []) {
          const label = self.models.of(model, false);
          const key = `${instance}\u0000${label}`;
          const seen = worst.get(key);
          if (seen === undefined || state > seen.state) worst.set(key, { instance, model: label, state });
        }
        for (const { instance, model, state } of worst.values()) {
          this.set({ provider_instance: instance, model }, state);
        }
      },
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Where the live gauges read from; set once the HTTP server exists. */
  gaugesFrom(sources: GaugeSources): void {
    this.#sources = sources;
  }

  request(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status_class: statusClass(status) };
    this.#requests.inc(labels);
    this.#duration.observe(labels, seconds);
  }

  /** One upstream attempt's verdict and, when it reported usage, its tokens and cost. */
  attempt(
    provider: string,
    rawModel: string,
    verdict: 'ok' | 'failed' | 'cancelled',
    errorCode: string | undefined,
  ): string {
    const model = this.models.of(rawModel, verdict === 'ok');
    this.#attempts.inc({ provider, model, verdict });
    if (verdict === 'failed') this.#providerErrors.inc({ provider, model, code: errorCode ?? 'unknown' });
    return model;
  }

  tokens(provider: string, model: string, type: TokenType, count: number): void {
    if (count > 0) this.#tokens.inc({ provider, model, type }, count);
  }

  cost(provider: string, model: string, usd: number): void {
    if (usd > 0) this.#costs.inc({ provider, model }, usd);
  }

  timeToFirstToken(provider: string, model: string, seconds: number): void {
    this.#ttft.observe({ provider, model }, seconds);
  }

  cache(result: CacheResultLabel, savingsUsd: number): void {
    this.#cacheRequests.inc({ result });
    if (result === 'hit') this.#cacheHits.inc({ kind: 'exact' });
    else if (result === 'hit_semantic') this.#cacheHits.inc({ kind: 'semantic' });
    if (savingsUsd > 0) this.#cacheSavings.inc({}, savingsUsd);
  }

  limitDecision(decision: LimitDecisionLabel, limit: string): void {
    this.#limitDecisions.inc({ decision, limit });
  }

  /** In a worker of `WORKERS` > 1: `/metrics` shows every worker's metrics added up (cluster-metrics.ts). */
  joinCluster(): void {
    offerToPrimary(this.registry);
    this.#clustered = true;
  }

  /** The text exposition format (`text/plain; version=0.0.4`). */
  async exposition(): Promise<{ readonly contentType: string; readonly body: string }> {
    if (this.#clustered) return askPrimary();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

function statusClass(status: number): string {
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  if (status >= 300) return '3xx';
  if (status >= 200) return '2xx';
  return '1xx';
}
