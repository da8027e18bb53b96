import type { Gateway, Route } from '../exchange.ts';
import { sendJson } from '../respond.ts';

/**
 * `/health` answers in seed 001's shape (a superset): overall status, in-flight count and one entry per
 * provider instance with its counters. It stays open without a key, like a load balancer expects.
 */
function health(gateway: Gateway) {
  const providers = gateway.registry.instances.map((instance) => {
    const stats = gateway.pipeline.stats.snapshot(instance.id);
    const breaker = gateway.pipeline.breakers.snapshot(instance.id);
    const successRate = stats.totalRequests === 0 ? 1 : 1 - stats.failures / stats.totalRequests;
    return {
      name: instance.name,
      id: instance.id,
      provider: instance.provider.id,
      circuitState: breaker.state,
      consecutiveFailures: breaker.consecutiveFailures,
      enabled: !gateway.pipeline.disabled.has(instance.id),
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
  return {
    ok: checks.providers && checks.accepting,
    body: { status: checks.providers && checks.accepting ? 'ready' : 'not_ready', checks },
  };
}

export const opsRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/health',
    authenticated: false,
    errorShape: 'openai',
    async handler(gateway, exchange) {
      sendJson(exchange.response, 200, health(gateway));
    },
  },
  ...['/ready', '/health/ready'].map(
    (path): Route => ({
      method: 'GET',
      path,
      authenticated: false,
      errorShape: 'openai',
      async handler(gateway, exchange) {
        const { ok, body } = ready(gateway);
        sendJson(exchange.response, ok ? 200 : 503, body);
      },
    }),
  ),
];
