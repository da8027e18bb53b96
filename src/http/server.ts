import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Duplex } from 'node:stream';
import { AttemptAbort, ClientClosedError } from '../core/call-signal.ts';
import { NexusError, toOpenAIErrorBody } from '../core/errors.ts';
import { plainChain, proxyChain } from '../pipeline/chain.ts';
import { compose } from '../pipeline/compose.ts';
import { createAnswerErrors } from './answer-errors.ts';
import { RequestDeadlines } from './deadlines.ts';
import { type EdgeStage, Exchange, type Gateway, type Route } from './exchange.ts';
import { documentationRoutes } from './openapi/docs-routes.ts';
import { drainAndSend } from './respond.ts';
import { type RouteEntry, Router } from './router.ts';
import { adminRoutes } from './routes/admin.ts';
import { adminCacheRoutes } from './routes/admin-cache.ts';
import { adminUsageRoutes } from './routes/admin-usage.ts';
import { anthropicRoutes } from './routes/anthropic-messages.ts';
import { openAIRoutes } from './routes/openai.ts';
import { opsRoutes } from './routes/ops.ts';
import { providerAdminRoutes } from './routes/providers-admin.ts';
import { seedRoutes } from './routes/seed-aliases.ts';
import { seedBillingRoutes } from './routes/seed-billing.ts';
import { seedProjectKeyRoutes } from './routes/seed-project-keys.ts';
import { seedProjectRoutes } from './routes/seed-projects.ts';
import { seedRegisterRoutes } from './routes/seed-register.ts';
import { seedUsageRoutes } from './routes/seed-usage.ts';
import { usageRoutes } from './routes/usage.ts';

const requestIdPattern = /^[\w.:-]{1,128}$/;

/**
 * The HTTP edge on node:http (chosen by measurement, docs/decisions/http-framework.md). The receive stage lives
 * here: request id, CORS, routing (404/405), shutdown refusal, the request deadline and client-disconnect
 * abort, and, when tracing is on, the request's span (under the client's `traceparent`), ended once the
 * chain is over. Then each route runs its chain of stages (pipeline/chain.ts), composed once here at boot: the log and
 * error stages, identify, and for proxied routes the protocol's parse and deliver around the pipeline's plan,
 * meter and dispatch.
 */
export function createHttpServer(gateway: Gateway): Server {
  const router = new Router<ComposedRoute>();
  const routes = [
    ...opsRoutes,
    ...openAIRoutes,
    ...anthropicRoutes,
    ...seedRoutes,
    ...providerAdminRoutes,
    ...adminRoutes,
    ...adminUsageRoutes,
    ...adminCacheRoutes,
    ...usageRoutes,
    ...seedUsageRoutes,
    ...seedProjectRoutes,
    ...seedProjectKeyRoutes,
    ...seedRegisterRoutes,
    ...seedBillingRoutes,
  ];
  // /openapi.json is generated from this same table, so a route cannot be served without being described.
  for (const route of [...routes, ...documentationRoutes(routes)]) {
    router.add({
      method: route.method,
      path: route.path,
      authenticated: route.authenticated,
      errorShape: route.errorShape,
      run: compose(chainOf(gateway, route)),
    });
  }
  const cors = corsPolicy(gateway.config.server.corsOrigins);
  const metrics = gateway.metrics;

  // Node's own requestTimeout would cut long streams; the per-request deadline (`RequestDeadlines`) bounds them instead.
  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (request, response) => {
    void handle(request, response);
  });
  server.on('clientError', answerMalformedRequest);
  const deadlines = new RequestDeadlines(gateway.config.upstream.requestTimeoutMs);
  server.on('close', () => deadlines.stop());

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const receivedAt = performance.now();
    const offered = request.headers['x-request-id'];
    const requestId = typeof offered === 'string' && requestIdPattern.test(offered) ? offered : randomUUID();
    response.setHeader('x-request-id', requestId);
    cors(request, response);

    const path = (request.url ?? '/').split('?', 1)[0] ?? '/';
    const method = request.method ?? 'GET';
    const match = router.find(method === 'OPTIONS' ? 'GET' : method, path);
    if (method === 'OPTIONS') {
      response.writeHead(match.kind === 'none' ? 404 : 204).end();
      return;
    }
    if (match.kind !== 'found') {
      const error =
        match.kind === 'none'
          ? new NexusError('route_not_found', `No route for ${method} ${path.slice(0, 200)}.`)
          : new NexusError(
              'method_not_allowed',
              `${method} is not allowed on ${path}; use ${match.allowed.join(', ')}.`,
            );
      if (match.kind === 'wrong-method') response.setHeader('allow', match.allowed.join(', '));
      drainAndSend(request, response, error, match.kind === 'wrong-method' ? match.errorShape : 'openai');
      metrics?.request(method, unrouted, response.statusCode, (performance.now() - receivedAt) / 1000);
      return;
    }
    const route = match.route;
    if (gateway.state.shuttingDown) response.setHeader('connection', 'close');
    if (gateway.state.shuttingDown && route.authenticated) {
      response.setHeader('retry-after', '1');
      drainAndSend(
        request,
        response,
        new NexusError('shutting_down', 'Nexus is shutting down.'),
        route.errorShape,
      );
      metrics?.request(method, route.path, response.statusCode, (performance.now() - receivedAt) / 1000);
      return;
    }

    // The request's signal: an EventEmitter-based AttemptAbort without a parent, not an AbortController, whose
    // EventTarget signal costs several microseconds to create and to add or remove each listener on.
    const controller = new AttemptAbort();
    deadlines.track(controller);
    const onClose = () => {
      if (!response.writableFinished) controller.abort(new ClientClosedError('client closed the connection'));
    };
    response.once('close', onClose);
    const exchange = new Exchange({
      id: requestId,
      receivedAt,
      method,
      path,
      headers: request.headers,
      signal: controller,
      request,
      response,
      state: gateway.state,
    });
    const tracing = gateway.tracing.current;
    if (tracing !== undefined) {
      exchange.trace = tracing.startRequest({
        method,
        path,
        route: route.path,
        requestId,
        headers: request.headers,
      });
    }
    gateway.state.inFlight++;
    try {
      await route.run(exchange);
    } catch (error) {
      // The error stage answers every failure; only a bug in answering itself lands here.
      gateway.log.error({ requestId, err: error }, 'unhandled error while answering');
      response.destroy();
    } finally {
      deadlines.settle(controller);
      gateway.state.inFlight--;
      metrics?.request(method, route.path, response.statusCode, (performance.now() - receivedAt) / 1000);
      const trace = exchange.trace;
      if (trace !== undefined) {
        // An attempt still without a verdict (a hedge racer whose cancellation is still on its way) ends with
        // the request, as `pending`, rather than never reaching the trace.
        for (const attempt of exchange.attempts) attempt.endSpan();
        trace.end(exchange);
      }
    }
  }

  return server;
}

interface ComposedRoute extends RouteEntry {
  readonly authenticated: boolean;
  readonly run: (exchange: Exchange) => Promise<void>;
}

/** The `route` label of requests no route took (404, 405): never the raw path, which would be unbounded. */
const unrouted = 'unrouted';

/** The stages of one route, in order (pipeline/chain.ts). */
function chainOf(gateway: Gateway, route: Route): EdgeStage[] {
  const answerErrors = createAnswerErrors(route.errorShape, gateway.log);
  if (route.kind === 'plain') {
    return plainChain(gateway.stages, {
      authenticated: route.authenticated,
      answerErrors,
      handle: route.handle(gateway),
    });
  }
  return proxyChain(gateway.stages, {
    answerErrors,
    parse: route.parse(gateway),
    deliver: route.deliver(gateway),
  });
}

/**
 * Node's parser rejected the request before any route saw it (oversized headers, bad framing). Answer with a
 * JSON error like every other path, then close: the connection's framing can no longer be trusted.
 */
function answerMalformedRequest(error: NodeJS.ErrnoException, socket: Duplex) {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const failure =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new NexusError('headers_too_large', 'The request headers are too large.')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || error.code === 'HPE_HEADERS_TIMEOUT'
        ? new NexusError('request_timeout', 'The request headers did not arrive in time.')
        : new NexusError('bad_http_request', 'The request is not valid HTTP/1.1.');
  const body = JSON.stringify(toOpenAIErrorBody(failure));
  const head = `HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status] ?? 'Error'}`;
  socket.end(
    `${head}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

function corsPolicy(origins: readonly string[]) {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  return (request: IncomingMessage, response: ServerResponse) => {
    const origin = request.headers.origin;
    if (origins.length === 0 || origin === undefined) return;
    if (!any && !allowed.has(origin)) return;
    response.setHeader('access-control-allow-origin', any ? '*' : origin);
    if (!any) response.setHeader('vary', 'Origin');
    response.setHeader(
      'access-control-expose-headers',
      'x-request-id, x-nexus-provider, x-nexus-model, x-nexus-cost-usd, x-nexus-latency-ms, x-nexus-warnings, retry-after',
    );
    if (request.method === 'OPTIONS') {
      response.setHeader('access-control-allow-methods', 'GET, POST, PATCH, DELETE, OPTIONS');
      response.setHeader(
        'access-control-allow-headers',
        request.headers['access-control-request-headers'] ??
          'authorization, content-type, x-api-key, x-request-id',
      );
      response.setHeader('access-control-max-age', '600');
    }
  };
}
