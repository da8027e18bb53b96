import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Duplex } from 'node:stream';
import { isNexusError, NexusError, toOpenAIErrorBody } from '../core/errors.ts';
import type { Exchange, Gateway, Route } from './exchange.ts';
import { sendError } from './respond.ts';
import { Router } from './router.ts';
import { anthropicRoutes } from './routes/anthropic-messages.ts';
import { openAIRoutes } from './routes/openai.ts';
import { opsRoutes } from './routes/ops.ts';
import { providerAdminRoutes } from './routes/providers-admin.ts';
import { seedRoutes } from './routes/seed-aliases.ts';

/** Thrown into the pipeline's signal when the client goes away; never rendered, only logged. */
export class ClientClosedError extends Error {
  override readonly name = 'ClientClosedError';
}

const requestIdPattern = /^[\w.:-]{1,128}$/;

/**
 * The HTTP edge on node:http (chosen by measurement, docs/decisions/http-framework.md). The receive stage
 * lives here: request id, CORS, routing (404/405), shutdown refusal, authentication, the request deadline and
 * client-disconnect abort, error rendering and the access log. Handlers do the rest.
 */
export function createHttpServer(gateway: Gateway): Server {
  const router = new Router();
  const routes = [...opsRoutes, ...openAIRoutes, ...anthropicRoutes, ...seedRoutes, ...providerAdminRoutes];
  for (const route of routes) router.add(route);
  const masterKeyHash =
    gateway.config.auth.masterKey === undefined ? undefined : digest(gateway.config.auth.masterKey);
  const cors = corsPolicy(gateway.config.server.corsOrigins);

  // Node's own requestTimeout would cut long streams; the per-request deadline below bounds them instead.
  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (request, response) => {
    void handle(request, response);
  });
  server.on('clientError', answerMalformedRequest);

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const startedAt = performance.now();
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
      return;
    }
    if (route.authenticated && masterKeyHash !== undefined && !authorized(request, masterKeyHash)) {
      drainAndSend(
        request,
        response,
        new NexusError(
          'invalid_api_key',
          'Missing or invalid API key. Send it as Authorization: Bearer <key> or X-API-Key.',
        ),
        route.errorShape,
      );
      return;
    }

    const controller = new AbortController();
    const deadline = setTimeout(
      () => controller.abort(new NexusError('upstream_timeout', 'The request exceeded its time limit.')),
      gateway.config.upstream.requestTimeoutMs,
    );
    const onClose = () => {
      if (!response.writableFinished) controller.abort(new ClientClosedError('client closed the connection'));
    };
    response.once('close', onClose);
    const exchange: Exchange = {
      request,
      response,
      requestId,
      startedAt,
      signal: controller.signal,
      record: {},
    };
    gateway.state.inFlight++;
    try {
      await route.handler(gateway, exchange);
    } catch (error) {
      fail(exchange, route, error);
    } finally {
      clearTimeout(deadline);
      gateway.state.inFlight--;
      accessLog(exchange, method, path);
    }
  }

  function fail(exchange: Exchange, route: Route, error: unknown) {
    const { response, request, record } = exchange;
    if (
      error instanceof ClientClosedError ||
      (error as { clientClosed?: boolean }).clientClosed === true ||
      (exchange.signal.aborted && exchange.signal.reason instanceof ClientClosedError)
    ) {
      record.errorCode = 'client_closed';
      return;
    }
    const failure = isNexusError(error)
      ? error
      : new NexusError('internal_error', 'Internal error.', { cause: error });
    record.errorCode = failure.code;
    if (failure.code === 'internal_error') {
      gateway.log.error({ requestId: exchange.requestId, err: error }, 'unhandled error');
    }
    if (response.headersSent) {
      response.destroy();
      return;
    }
    drainAndSend(request, response, failure, route.errorShape);
  }

  function accessLog(exchange: Exchange, method: string, path: string) {
    const { record, response } = exchange;
    gateway.log.info(
      {
        requestId: exchange.requestId,
        method,
        path,
        status: response.statusCode,
        durationMs: Math.round((performance.now() - exchange.startedAt) * 100) / 100,
        ...record,
      },
      'request',
    );
  }

  return server;
}

/**
 * Sends an error. When the request body was not read to its end (refused early, past the oversize discard
 * cap, cut by the deadline) the rest is discarded until the connection closes after the reply, so unread bytes
 * cannot be mistaken for the next request. A 413 always closes the connection, read to its end or not, so
 * clients see one behaviour and a keep-alive connection cannot make Nexus discard oversize bodies in a loop.
 */
function drainAndSend(
  request: IncomingMessage,
  response: ServerResponse,
  error: NexusError,
  shape: Route['errorShape'],
) {
  if (!request.complete || error.code === 'body_too_large') response.setHeader('connection', 'close');
  if (!request.complete) request.resume();
  sendError(response, error, shape);
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

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function authorized(request: IncomingMessage, expected: Buffer): boolean {
  const header = request.headers.authorization;
  const bearer =
    typeof header === 'string' && /^Bearer\s+/i.test(header)
      ? header.replace(/^Bearer\s+/i, '').trim()
      : undefined;
  const apiKey = request.headers['x-api-key'];
  const offered = bearer ?? (typeof apiKey === 'string' ? apiKey.trim() : undefined);
  return offered !== undefined && offered !== '' && timingSafeEqual(digest(offered), expected);
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
      response.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS');
      response.setHeader(
        'access-control-allow-headers',
        request.headers['access-control-request-headers'] ??
          'authorization, content-type, x-api-key, x-request-id',
      );
      response.setHeader('access-control-max-age', '600');
    }
  };
}
