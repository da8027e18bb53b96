import { NexusError } from '../../core/errors.ts';
import { offeredKey } from '../../pipeline/identify.ts';
import type { BreakerSnapshot, CircuitState } from '../../resilience/circuit-breaker.ts';
import { digestsEqual, hashApiKey, presentedKeyHash } from '../../tenancy/api-key.ts';
import type { Gateway, Route } from '../exchange.ts';
import { sendJson } from '../respond.ts';

const severity: Record<CircuitState, number> = { CLOSED: 0, HALF_OPEN: 1, OPEN: 2 };

/**
 * The circuits of each instance's deployments (one per model it has served), keyed by instance id. A circuit
 * belongs to a deployment, so an instance's own `circuitState` is its worst deployment's.
 */
function deploymentsByInstance(gateway: Gateway) {
  const found = new Map<string, Array<{ model: string } & BreakerSnapshot>>();
  for (const [deployment, snapshot] of gateway.pipeline.breakers.known()) {
    const slash = deployment.indexOf('/');
    const instanceId = deployment.slice(0, slash);
    const list = found.get(instanceId) ?? [];
    list.push({ model: deployment.slice(slash + 1), ...snapshot });
    found.set(instanceId, list);
  }
  return found;
}

/**
 * `/health` answers in seed 001's shape (a superset): overall status, in-flight count and one entry per
 * provider instance with its counters, its deployments' circuits and whether the provider refused its key.
 * It stays open without a key, like a load balancer expects.
 */
function health(gateway: Gateway) {
  const circuits = deploymentsByInstance(gateway);
  const providers = gateway.registry.instances.map((instance) => {
    const stats = gateway.pipeline.stats.snapshot(instance.id);
    const deployments = circuits.get(instance.id) ?? [];
    const worst = deployments.reduce<{ state: CircuitState; consecutiveFailures: number }>(
      (current, deployment) =>
        severity[deployment.state] > severity[current.state] ||
        (deployment.state === current.state && deployment.consecutiveFailures > current.consecutiveFailures)
          ? deployment
          : current,
      { state: 'CLOSED', consecutiveFailures: 0 },
    );
    const refused = gateway.pipeline.rejectedKeys.status(instance.id);
    const successRate = stats.totalRequests === 0 ? 1 : 1 - stats.failures / stats.totalRequests;
    return {
      name: instance.name,
      id: instance.id,
      provider: instance.provider.id,
      circuitState: worst.state,
      consecutiveFailures: worst.consecutiveFailures,
      enabled: !gateway.pipeline.disabled.has(instance.id),
      key:
        refused === undefined
          ? { status: 'ok' }
          : { status: 'refused', reason: refused.reason, until: new Date(refused.until).toISOString() },
      deployments: deployments.map((deployment) => ({
        model: deployment.model,
        circuitState: deployment.state,
        consecutiveFailures: deployment.consecutiveFailures,
        ...(deployment.openedAt === 0 ? {} : { openedAt: new Date(deployment.openedAt).toISOString() }),
      })),
      metrics: {
        totalRequests: stats.totalRequests,
        failures: stats.failures,
        recentErrors: stats.recentErrors,
        inFlight: stats.inFlight,
        successRate: `${(successRate * 100).toFixed(1)}%`,
        avgLatencyMs: Math.round(stats.latencyEwmaMs),
        ttftMs: Math.round(stats.ttftEwmaMs),
        ttftP95Ms: stats.ttftP95Ms === undefined ? null : Math.round(stats.ttftP95Ms),
        healthScore: `${(stats.healthScore * 100).toFixed(1)}%`,
      },
    };
  });
  return {
    status: gateway.state.shuttingDown ? 'shutting_down' : 'healthy',
    version: gateway.version,
    uptimeSeconds: Math.round((Date.now() - gateway.startedAt) / 1000),
    inFlightRequests: gateway.state.inFlight,
    providers,
    unavailableProviders: Object.fromEntries(gateway.registry.unavailable),
  };
}

function ready(gateway: Gateway) {
  const checks = { providers: gateway.registry.instances.length > 0, accepting: !gateway.state.shuttingDown };
  const dependencies = gateway.services.current?.dependencies();
  return {
    ok: checks.providers && checks.accepting,
    body: {
      status: checks.providers && checks.accepting ? 'ready' : 'not_ready',
      checks,
      ...(dependencies === undefined ? {} : { dependencies }),
    },
  };
}

/**
 * Who may read `/metrics`: the master key or `metrics.token` (a scraper need not hold an admin key); anyone
 * when neither is set (the gateway then serves loopback only, unless explicitly made public).
 */
function metricsReaders(gateway: Gateway): (offered: string | undefined) => boolean {
  const secrets = [gateway.config.auth.masterKey, gateway.config.metrics.token]
    .filter((secret): secret is string => secret !== undefined)
    .map(hashApiKey);
  if (secrets.length === 0) return () => true;
  return (offered) => {
    if (offered === undefined || offered === '') return false;
    const presented = presentedKeyHash(offered);
    // Every secret is compared, so the time taken does not tell which one matched.
    return secrets.reduce((found, secret) => digestsEqual(presented, secret) || found, false);
  };
}

export const opsRoutes: readonly Route[] = [
  {
    kind: 'plain',
    method: 'GET',
    path: '/metrics',
    authenticated: false,
    errorShape: 'openai',
    handle: (gateway) => {
      const mayRead = metricsReaders(gateway);
      return async function prometheusMetrics(exchange) {
        const metrics = gateway.metrics;
        if (metrics === undefined) {
          throw new NexusError('route_not_found', 'Metrics are off (metrics.enabled: false).');
        }
        if (!mayRead(offeredKey(exchange.headers))) {
          throw new NexusError(
            'invalid_api_key',
            'GET /metrics needs the master key or the metrics token: Authorization: Bearer <token>.',
          );
        }
        const { contentType, body } = await metrics.exposition();
        exchange.response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
        exchange.response.end(body);
      };
    },
  },
  {
    kind: 'plain',
    method: 'GET',
    path: '/health',
    authenticated: false,
    errorShape: 'openai',
    handle: (gateway) =>
      async function healthCheck(exchange) {
        sendJson(exchange.response, 200, health(gateway));
      },
  },
  ...['/ready', '/health/ready'].map(
    (path): Route => ({
      kind: 'plain',
      method: 'GET',
      path,
      authenticated: false,
      errorShape: 'openai',
      handle: (gateway) =>
        async function readiness(exchange) {
          const { ok, body } = ready(gateway);
          sendJson(exchange.response, ok ? 200 : 503, body);
        },
    }),
  ),
];
