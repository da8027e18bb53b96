import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadCatalog } from './catalog/load.ts';
import { ConfigError, loadConfig } from './config/load.ts';
import type { Config } from './config/schema.ts';
import type { Gateway } from './http/exchange.ts';
import { createHttpServer } from './http/server.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { GatewayMetrics, type GaugeSources } from './observability/metrics.ts';
import { startTracing, tracingSettings } from './observability/tracing.ts';
import { createPipelineStages } from './pipeline/chain.ts';
import type { PipelineDependencies } from './pipeline/dependencies.ts';
import { embedThroughGateway } from './pipeline/embed-through-gateway.ts';
import { createModelResolver } from './pipeline/resolve-model.ts';
import type { TenancyServices } from './pipeline/tenancy.ts';
import { createProviderRegistry } from './providers/registry.ts';
import { CircuitBreakers } from './resilience/circuit-breaker.ts';
import { InstanceStats } from './resilience/instance-stats.ts';
import { RejectedKeys } from './resilience/rejected-keys.ts';
import { TargetOrderer } from './resilience/routing.ts';
import { openServices } from './services/open-services.ts';
import { RedisBreakerStore } from './store/redis/breaker-store.ts';
import { JwtVerifier } from './tenancy/jwt-verifier.ts';
import { HttpClient } from './transport/http-client.ts';

export interface AppOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** YAML config file; default from `NEXUS_CONFIG` or `./nexus.yaml`. */
  readonly configFile?: string;
  /** Where JSON logs go; default stdout. */
  readonly logDestination?: NodeJS.WritableStream;
}

export interface App {
  readonly gateway: Gateway;
  /** Starts listening; resolves with the bound address. */
  listen(): Promise<AddressInfo>;
  /**
   * Stops accepting, waits up to `timeoutMs` (default `shutdown.timeoutMs`) for in-flight requests and
   * streams, then closes every connection and the upstream pools.
   */
  close(timeoutMs?: number): Promise<void>;
}

const loopbackHosts = new Set(['127.0.0.1', '::1', 'localhost']);

/** Boot: config → catalogue → providers → pipeline → HTTP server. Throws ConfigError on a bad setting. */
export function createApp(options: AppOptions = {}): App {
  const env = options.env ?? process.env;
  const baseCatalog = loadCatalog();
  const config = loadConfig({
    env,
    file: options.configFile,
    providerIds: [...baseCatalog.providers.keys()],
  });
  const catalog =
    config.catalog.providers.length + config.catalog.models.length === 0
      ? baseCatalog
      : loadCatalog({ overrides: { providers: config.catalog.providers, models: config.catalog.models } });
  const log = createLogger(config.log.level, options.logDestination);
  const host = bindHost(config);
  // Decided at boot from the OTEL_* variables; the SDK itself is loaded by listen(), and only when on.
  const tracing = tracingSettings(env);
  const client = new HttpClient({
    connectTimeoutMs: config.upstream.connectTimeoutMs,
    connectionsPerOrigin: config.upstream.connectionsPerOrigin,
  });
  const registry = createProviderRegistry({ config, catalog, client, env });
  const resolver = createModelResolver({ catalog, registry, aliases: config.aliases, groups: config.groups });
  const breakerStore =
    config.redis.url === undefined
      ? undefined
      : new RedisBreakerStore(config.redis.url, { keyPrefix: config.redis.keyPrefix });
  const breakers = new CircuitBreakers({
    breaker: config.routing.breaker,
    store: breakerStore,
    onStoreError: (error) => log.warn({ err: error }, 'redis unavailable: circuit breakers continue locally'),
  });
  const pipeline: PipelineDependencies = {
    resolver,
    registry,
    stats: new InstanceStats(),
    breakers,
    orderer: new TargetOrderer(),
    disabled: new Set(),
    rejectedKeys: new RejectedKeys(config.routing.rejectedKeyCooldownMs),
    settings: {
      mode: config.routing.mode,
      maxAttempts: config.routing.maxAttempts,
      firstTokenTimeoutMs: config.upstream.firstTokenTimeoutMs,
      streamStallTimeoutMs: config.upstream.streamStallTimeoutMs,
      responseTimeoutMs: config.upstream.responseTimeoutMs,
    },
  };
  const tenancy: TenancyServices = {
    keys: undefined,
    limiter: undefined,
    ledger: undefined,
    cache: undefined,
  };
  const metrics = config.metrics.enabled
    ? new GatewayMetrics({ knownModels: catalog.models.map((model) => model.id) })
    : undefined;
  const gateway: Gateway = {
    config,
    catalog,
    registry,
    pipeline,
    stages: createPipelineStages(pipeline, {
      masterKey: config.auth.masterKey,
      log,
      tenancy,
      metrics,
      jwt: config.auth.jwt === undefined ? undefined : new JwtVerifier(config.auth.jwt),
      traced: tracing === undefined ? undefined : ioStages(config),
    }),
    services: { current: undefined },
    tracing: { current: undefined },
    log,
    version: packageVersion(),
    startedAt: Date.now(),
    state: { shuttingDown: false, inFlight: 0, activeStreams: 0 },
    metrics,
  };
  metrics?.gaugesFrom(gaugeSources(gateway));
  const server = createHttpServer(gateway);

  return {
    gateway,
    async listen() {
      try {
        if (tracing !== undefined) {
          gateway.tracing.current = await startTracing(tracing, {
            serviceVersion: gateway.version,
            warn: (message) => log.warn({ component: 'opentelemetry' }, message),
          });
        }
        if (breakerStore !== undefined) {
          await breakerStore.ready();
          await breakers.attach();
        }
        const semantic = config.cache.semantic;
        gateway.services.current = await openServices(
          config,
          log,
          tenancy,
          semantic.embedder === 'local'
            ? undefined
            : embedThroughGateway(gateway.stages, semantic.embedder, semantic.dimensions ?? 0),
        );
      } catch (error) {
        await Promise.allSettled([
          breakerStore?.close(),
          client.close(),
          gateway.tracing.current?.shutdown(),
        ]);
        throw error;
      }
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.server.port, host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          announce(gateway, log, host, address);
          resolve(address);
        });
      });
    },
    async close(timeoutMs = config.shutdown.timeoutMs) {
      // Graceful: from now on every new request is answered 503 + Retry-After + `connection: close` (the
      // admit stage), so load balancers move on, while in-flight requests and streams finish, up to the
      // timeout. The listener stays open until then so that late clients get that 503, not a refused connection.
      gateway.state.shuttingDown = true;
      const deadline = Date.now() + timeoutMs;
      while (gateway.state.inFlight > 0 && Date.now() < deadline) {
        server.closeIdleConnections();
        await sleep(25);
      }
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      // Every request has ended, so the ledger holds all their records: written before the store closes.
      await gateway.services.current?.close(Math.max(1_000, deadline - Date.now()));
      // Every span has ended too: the last ones are exported before the process exits.
      await Promise.allSettled([client.close(), breakerStore?.close(), gateway.tracing.current?.shutdown()]);
      log.flush();
    },
  };
}

/**
 * Secure by default: without a master key Nexus binds to loopback, and refuses a public address unless
 * `NEXUS_ALLOW_PUBLIC=true` says the operator means it.
 */
function bindHost(config: Config): string {
  const requested = config.server.host;
  if (config.auth.masterKey !== undefined) return requested ?? '0.0.0.0';
  if (requested === undefined) return '127.0.0.1';
  if (loopbackHosts.has(requested) || config.server.allowUnauthenticatedPublic) return requested;
  throw new ConfigError(
    `server.host: refusing to serve /v1 without a key on non-loopback address ${requested}; set NEXUS_MASTER_KEY, or NEXUS_ALLOW_PUBLIC=true to accept the risk`,
  );
}

function announce(gateway: Gateway, log: Logger, host: string, address: AddressInfo) {
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const providers = gateway.registry.instances.map((instance) => instance.name);
  log.info({ url, providers, version: gateway.version }, `Nexus listening on ${url}`);
  if (gateway.config.auth.masterKey === undefined) {
    log.warn(
      { host },
      loopbackHosts.has(host)
        ? 'No NEXUS_MASTER_KEY set: /v1 and /api are open, so Nexus listens on loopback only. Set NEXUS_MASTER_KEY (and HOST) to serve other machines.'
        : 'No NEXUS_MASTER_KEY set and NEXUS_ALLOW_PUBLIC=true: /v1 and /api are open to anyone who can reach this address.',
    );
  }
  if (providers.length === 1 && gateway.registry.instances[0]?.provider.id === 'nexus-demo') {
    log.warn(
      'No provider key found: only the built-in nexus-demo provider is enabled (model "nexus-demo/echo").',
    );
  }
  for (const [provider, reason] of gateway.registry.unavailable)
    log.warn({ provider }, `Provider ${provider} skipped: ${reason}`);
  // The log is buffered; whoever waits for the "listening" line should not wait for the periodic flush.
  log.flush();
}

function packageVersion(): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    return (JSON.parse(text) as { version: string }).version;
  } catch {
    try {
      const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
      return (JSON.parse(text) as { version: string }).version;
    } catch {
      return '0.0.0';
    }
  }
}

const circuitValues = { CLOSED: 0, HALF_OPEN: 1, OPEN: 2 } as const;

/**
 * What the live gauges read at scrape time: in-flight requests, open streams, and the circuit of each
 * deployment of the configured instances (a project's own-key instances are left out: one per project would
 * make the label unbounded).
 */
function gaugeSources(gateway: Gateway): GaugeSources {
  const configured = new Set(gateway.registry.instances.map((instance) => instance.id));
  return {
    inFlight: () => gateway.state.inFlight,
    activeStreams: () => gateway.state.activeStreams,
    *circuits() {
      for (const [deployment, snapshot] of gateway.pipeline.breakers.known()) {
        const slash = deployment.indexOf('/');
        const instance = deployment.slice(0, slash);
        if (configured.has(instance)) {
          yield [instance, deployment.slice(slash + 1), circuitValues[snapshot.state]] as const;
        }
      }
    },
  };
}

/**
 * The stages that do I/O with this configuration, which get spans of their own when tracing is on: dispatch
 * always (the upstream calls); identify when JWTs are checked against a JWKS it fetches; admit when limits are
 * counted on Redis; the cache when its answers live on Redis or the semantic cache embeds prompts (on its worker
 * thread or through a provider). A stage working in memory gets no span: it would cost more than it shows.
 */
function ioStages(config: Config): ReadonlySet<string> {
  const stages = new Set(['dispatch']);
  if (config.auth.jwt?.jwksUrl !== undefined) stages.add('identify');
  if (config.redis.url !== undefined) stages.add('admit');
  const cache = config.cache;
  const shared = cache.store === 'redis' || (cache.store === 'auto' && config.redis.url !== undefined);
  const semantic = cache.semantic.enabled || Object.values(cache.routes).includes('semantic');
  if (cache.enabled && (shared || semantic)) stages.add('cache');
  return stages;
}
