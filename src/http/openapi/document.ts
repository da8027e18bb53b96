import { STATUS_CODES } from 'node:http';
import type { Route } from '../exchange.ts';
import { adminOperations } from './admin-operations.ts';
import {
  type JsonSchema,
  type RequestHeaderName,
  type ResponseHeaderName,
  requestHeaders,
  responseHeaders,
  SchemaRegistry,
  securitySchemes,
  toJsonSchema,
} from './components.ts';
import { type OperationDoc, routeKey, tags } from './operation-doc.ts';
import { plainOperations } from './plain-operations.ts';
import { proxiedOperations } from './proxied-operations.ts';
import { seed004Operations } from './seed004-operations.ts';

/** Every route's description, keyed by `METHOD path` as the route table registers it. */
export const operationDocs: Readonly<Record<string, OperationDoc>> = {
  ...proxiedOperations,
  ...plainOperations,
  ...seed004Operations,
  ...adminOperations,
};

/** What each error status means on Nexus (the catalogue codes behind it are in `OpenAIError`). */
const errorMeaning: Record<number, string> = {
  400: 'The request is invalid: not JSON, a field missing or wrong (`param` names it), or not possible here.',
  401: 'No key, or a wrong, revoked or expired one (`invalid_api_key`).',
  402: "The plan's monthly request quota is spent (`insufficient_quota` on `/api/*`).",
  403: 'The key may not do this (`permission_denied`, `model_not_allowed`).',
  404: "Not found, or outside the caller's reach (`not_found`, `model_not_found`).",
  409: 'Conflicts with what exists (`conflict`: a registered email).',
  413: 'The body is larger than `server.bodyLimitBytes` (`body_too_large`).',
  415: 'The body is not `application/json` (`unsupported_media_type`).',
  429: 'A rate limit, token limit, budget or quota refused the request; see `Retry-After` and `X-RateLimit-*`.',
  500: 'A failure of Nexus itself (`internal_error`); the log has the details.',
  502: 'The provider (or Stripe) failed (`upstream_error`, `upstream_auth_failed`, ...).',
  503: 'Shutting down, no route open, or a store away (`shutting_down`, `upstream_unavailable`, ...); see `Retry-After`.',
  504: 'The provider did not answer in time (`upstream_timeout`).',
};

/** The statuses an operation can fail with: those of its kind, and its own. */
function errorStatuses(route: Route, doc: OperationDoc): number[] {
  const statuses = new Set(doc.errors ?? []);
  if (route.authenticated) for (const status of [401, 503]) statuses.add(status);
  if (doc.admin) statuses.add(403);
  if (doc.body !== undefined || doc.query !== undefined) statuses.add(400);
  if (doc.body !== undefined) for (const status of [413, 415]) statuses.add(status);
  if (route.kind === 'proxy') {
    for (const status of [400, 403, 404, 429, 502, 503, 504]) statuses.add(status);
    if (route.path.startsWith('/api/')) statuses.add(402);
  }
  return [...statuses].sort((a, b) => a - b);
}

const headerRefs = (names: readonly ResponseHeaderName[]) =>
  Object.fromEntries(names.map((name) => [name, { $ref: `#/components/headers/${name}` }]));
const parameterRef = (name: RequestHeaderName) => ({ $ref: `#/components/parameters/${name}` });

const servedHeaders: readonly ResponseHeaderName[] = [
  'x-request-id',
  'x-nexus-provider',
  'x-nexus-model',
  'x-nexus-cost-usd',
  'x-nexus-latency-ms',
  'x-nexus-warnings',
  'x-nexus-cache',
  'x-nexus-cache-similarity',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
];

const eventStream = (kind: 'openai' | 'anthropic') => ({
  schema: {
    type: 'string',
    description:
      kind === 'openai'
        ? 'Server-sent events: `data: {chat.completion.chunk}` lines, then `data: [DONE]`.'
        : "Server-sent events in Anthropic's sequence (`message_start` … `message_stop`).",
  },
});

function capitalized(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
}

/** A query string's schema as OpenAPI parameters, one per field. */
function queryParameters(doc: OperationDoc): object[] {
  if (doc.query === undefined) return [];
  const schema = toJsonSchema(doc.query, 'input');
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: 'query',
    required: required.has(name),
    schema: property,
  }));
}

function parameters(route: Route, doc: OperationDoc): object[] {
  const found: object[] = [];
  if (doc.pathParameter !== undefined) {
    const { name, description, example } = doc.pathParameter;
    found.push({ name, in: 'path', required: true, description, schema: { type: 'string' }, example });
  }
  found.push(...queryParameters(doc), parameterRef('RequestId'));
  if (route.kind === 'proxy') {
    for (const name of ['RoutingMode', 'CacheControl', 'NexusCache', 'NexusCacheTtl'] as const)
      found.push(parameterRef(name));
  }
  if (doc.headers?.includes('anthropic'))
    found.push(parameterRef('AnthropicVersion'), parameterRef('AnthropicBeta'));
  if (doc.headers?.includes('stripe-signature')) found.push(parameterRef('StripeSignature'));
  return found;
}

function successResponse(route: Route, doc: OperationDoc, registry: SchemaRegistry): object {
  const { reply } = doc;
  const headers = headerRefs(route.kind === 'proxy' ? servedHeaders : ['x-request-id']);
  if (reply.status === 204) return { description: reply.description, headers };
  const content: Record<string, object> = {};
  if (reply.schema !== undefined) {
    content['application/json'] = {
      schema: registry.ref(reply.schema, reply.name ?? `${capitalized(doc.operationId)}Reply`, 'output'),
    };
  }
  if (reply.stream === 'openai' || reply.stream === 'openai-only')
    content['text/event-stream'] = eventStream('openai');
  if (reply.stream === 'anthropic') content['text/event-stream'] = eventStream('anthropic');
  if (reply.text !== undefined) content[reply.text] = { schema: { type: 'string' } };
  return { description: reply.description, headers, content };
}

function operation(route: Route, doc: OperationDoc, registry: SchemaRegistry): object {
  const success = successResponse(route, doc, registry);
  const responses: Record<string, object> = { [String(doc.reply.status)]: success };
  for (const status of doc.reply.alsoFor ?? []) responses[String(status)] = success;
  const errorBody = { 'application/json': { schema: registry.error(route.errorShape) } };
  for (const status of errorStatuses(route, doc)) {
    const names: ResponseHeaderName[] = ['x-request-id'];
    if (status === 429 || status === 503) names.push('retry-after');
    if (status === 429) names.push('x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset');
    responses[String(status)] = {
      description: errorMeaning[status] ?? STATUS_CODES[status] ?? 'An error.',
      headers: headerRefs(names),
      content: errorBody,
    };
  }
  responses.default = { description: 'Any other failure, in the same shape.', content: errorBody };
  return {
    operationId: doc.operationId,
    summary: doc.summary,
    ...(doc.description === undefined ? {} : { description: doc.description }),
    tags: [doc.tag],
    // A route that checks its own secret (`/metrics`) is not `authenticated` for the router but still `admin`.
    security: doc.admin
      ? [{ masterKey: [] }]
      : !route.authenticated
        ? []
        : [{ bearerKey: [] }, { apiKeyHeader: [] }],
    parameters: parameters(route, doc),
    ...(doc.body === undefined
      ? {}
      : {
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: registry.ref(
                  doc.body.schema,
                  doc.body.name ?? `${capitalized(doc.operationId)}Request`,
                  'input',
                ),
                example: doc.body.example,
              },
            },
          },
        }),
    responses,
  };
}

/** `/v1/admin/orgs/*` → `/v1/admin/orgs/{id}`. */
function documentedPath(route: Route, doc: OperationDoc): string {
  if (!route.path.endsWith('/*')) return route.path;
  if (doc.pathParameter === undefined)
    throw new Error(`${routeKey(route)} needs a pathParameter in its description`);
  return `${route.path.slice(0, -1)}{${doc.pathParameter.name}}`;
}

/**
 * The OpenAPI 3.1 document of the given routes, built from the route table and the schemas that validate each
 * route's body and query (and describe its reply). A route without a description, or a description of a route
 * that is not in the table, is a bug this refuses to paper over.
 */
export function openApiDocument(routes: readonly Route[], version: string): Record<string, unknown> {
  const registry = new SchemaRegistry();
  const paths: Record<string, Record<string, object>> = {};
  const described = new Set<string>();
  for (const route of routes) {
    const key = routeKey(route);
    const doc = operationDocs[key];
    if (doc === undefined) throw new Error(`${key} has no description: add one in src/http/openapi/`);
    described.add(key);
    const path = documentedPath(route, doc);
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation(route, doc, registry) };
  }
  const stale = Object.keys(operationDocs).filter((key) => !described.has(key));
  if (stale.length > 0) throw new Error(`descriptions of routes that do not exist: ${stale.join(', ')}`);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Nexus',
      version,
      summary: 'An OpenAI-compatible AI gateway in front of every LLM provider.',
      description:
        'One endpoint for every provider, with failover, caching, virtual keys, limits, budgets and cost ' +
        "analytics. Errors keep each route's own shape: OpenAI's `{error: {message, type, param, code}}` (with " +
        "a stable catalogue `code`), Anthropic's on `/v1/messages`, and `{success: false, error}` on seed 004's " +
        'routes.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/', description: 'This gateway' }],
    tags,
    paths,
    components: {
      schemas: registry.schemas,
      parameters: requestHeaders,
      headers: responseHeaders,
      securitySchemes,
    },
  };
}
