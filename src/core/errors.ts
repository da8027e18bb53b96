import { z } from 'zod';

/**
 * The one error catalogue. Every failure Nexus reports has a stable `code` from this table; the HTTP edge
 * renders it as an OpenAI error object (or another protocol's shape on its aliases). Metrics and logs label
 * by code, never by message. docs/errors.md lists the same table, and a test keeps the two in sync.
 */

/** OpenAI `error.type` values that the official SDKs understand. */
const errorTypes = [
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'not_found_error',
  'rate_limit_error',
  'insufficient_quota',
  'api_error',
  'timeout_error',
  'service_unavailable',
] as const;
export type ErrorType = (typeof errorTypes)[number];

interface ErrorSpec {
  readonly status: number;
  readonly type: ErrorType;
  readonly summary: string;
}

export const errorCatalog = {
  invalid_json: {
    status: 400,
    type: 'invalid_request_error',
    summary: 'The request body is not valid JSON.',
  },
  invalid_request: {
    status: 400,
    type: 'invalid_request_error',
    summary: 'A field is missing, has the wrong type or an invalid value.',
  },
  unsupported_media_type: {
    status: 415,
    type: 'invalid_request_error',
    summary: 'The request body must be application/json.',
  },
  body_too_large: {
    status: 413,
    type: 'invalid_request_error',
    summary: 'The request body exceeds the configured limit.',
  },
  model_not_found: {
    status: 404,
    type: 'invalid_request_error',
    summary: 'The model is not in the catalogue and matches no provider or alias.',
  },
  unknown_provider: {
    status: 400,
    type: 'invalid_request_error',
    summary: 'The `provider/` prefix of the model names no known provider.',
  },
  provider_not_configured: {
    status: 400,
    type: 'invalid_request_error',
    summary: 'The provider is known but has no API key or base URL configured.',
  },
  unsupported_capability: {
    status: 400,
    type: 'invalid_request_error',
    summary: 'The chosen provider cannot serve this kind of request (for example embeddings).',
  },
  request_timeout: {
    status: 408,
    type: 'invalid_request_error',
    summary: 'The client did not send the whole request in time.',
  },
  headers_too_large: {
    status: 431,
    type: 'invalid_request_error',
    summary: 'The request headers exceed the server limit.',
  },
  bad_http_request: {
    status: 400,
    type: 'invalid_request_error',
    summary: 'The request is not valid HTTP/1.1 (bad framing or header syntax).',
  },
  route_not_found: { status: 404, type: 'not_found_error', summary: 'No such route.' },
  method_not_allowed: {
    status: 405,
    type: 'invalid_request_error',
    summary: 'The route exists for another method.',
  },
  invalid_api_key: {
    status: 401,
    type: 'authentication_error',
    summary: 'Missing or wrong Nexus API key (Authorization: Bearer or X-API-Key).',
  },
  model_not_allowed: {
    status: 403,
    type: 'permission_error',
    summary: 'The key may not use this model (its `models` list does not name it).',
  },
  permission_denied: {
    status: 403,
    type: 'permission_error',
    summary: 'The key is valid but may not use this route (an admin route needs the master key).',
  },
  not_found: {
    status: 404,
    type: 'not_found_error',
    summary:
      "The organization, project, user or key does not exist, or is outside what the caller may see (another tenant's ids are never revealed).",
  },
  billing_not_configured: {
    status: 400,
    type: 'invalid_request_error',
    summary:
      'Plan upgrades need Stripe: set STRIPE_SECRET_KEY and STRIPE_PRICE_ID (and STRIPE_WEBHOOK_SECRET for the webhook).',
  },
  invalid_signature: {
    status: 400,
    type: 'invalid_request_error',
    summary:
      'A Stripe webhook whose Stripe-Signature header is missing or does not match the payload and the webhook secret.',
  },
  signup_disabled: {
    status: 403,
    type: 'permission_error',
    summary:
      'Self-service signup (POST /api/register) is off on this gateway; NEXUS_SIGNUP=true turns it on.',
  },
  conflict: {
    status: 409,
    type: 'invalid_request_error',
    summary: "A value that must be unique is taken (a user's email).",
  },
  encryption_not_configured: {
    status: 400,
    type: 'invalid_request_error',
    summary:
      'Provider keys were sent, but NEXUS_ENCRYPTION_KEY is not set, so they cannot be stored encrypted; set it (32 bytes, base64) and restart.',
  },
  rate_limited: {
    status: 429,
    type: 'rate_limit_error',
    summary:
      'A rate limit of the key, its project or its organization is reached (requests or tokens per minute or hour, or a token budget); see Retry-After and X-RateLimit-*.',
  },
  insufficient_quota: {
    status: 429,
    type: 'insufficient_quota',
    summary:
      "A USD budget (daily or monthly) of the key, its project or its organization, or the user's monthly request quota (its plan), is spent; 402 on /api/* routes.",
  },
  auth_unavailable: {
    status: 503,
    type: 'service_unavailable',
    summary:
      "A JSON Web Token could not be verified because the identity provider's JWKS is unreachable; retry shortly.",
  },
  limits_unavailable: {
    status: 503,
    type: 'service_unavailable',
    summary: 'The shared limit store is unreachable and this kind of limit fails closed; retry shortly.',
  },
  upstream_auth_failed: {
    status: 502,
    type: 'api_error',
    summary: "The provider rejected Nexus's credentials for it (an operator problem, not the client's key).",
  },
  upstream_bad_request: {
    status: 400,
    type: 'invalid_request_error',
    summary: 'The provider rejected the request as invalid; its message is passed on.',
  },
  upstream_not_found: {
    status: 404,
    type: 'invalid_request_error',
    summary: 'The provider does not know the model or route.',
  },
  upstream_rate_limited: {
    status: 429,
    type: 'rate_limit_error',
    summary: 'The provider is rate limiting Nexus; retry after the given delay.',
  },
  upstream_error: {
    status: 502,
    type: 'api_error',
    summary: 'The provider failed (5xx or an unreadable reply).',
  },
  upstream_unavailable: {
    status: 503,
    type: 'service_unavailable',
    summary: 'The provider could not be reached (connection refused, reset or DNS failure).',
  },
  upstream_timeout: { status: 504, type: 'timeout_error', summary: 'The provider did not answer in time.' },
  stream_interrupted: {
    status: 502,
    type: 'api_error',
    summary: 'The provider stream broke after the first byte; the answer is incomplete.',
  },
  shutting_down: {
    status: 503,
    type: 'service_unavailable',
    summary: 'Nexus is shutting down; retry elsewhere.',
  },
  internal_error: {
    status: 500,
    type: 'api_error',
    summary: 'A bug in Nexus. The request id is in the log.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCatalog;

export interface NexusErrorOptions {
  /** The request field at fault, as a dotted path (`messages.0.content`). */
  readonly param?: string | undefined;
  /** Seconds the client should wait before retrying; rendered as `Retry-After`. */
  readonly retryAfterSeconds?: number | undefined;
  /** Status to use instead of the catalogue's (for pass-through of upstream 4xx). */
  readonly status?: number | undefined;
  readonly cause?: unknown;
}

/** An error the client is meant to see. Anything else that escapes a handler is an `internal_error`. */
export class NexusError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: ErrorType;
  readonly param: string | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: NexusErrorOptions = {}) {
    // A NexusError is an answer (a 401, a 404, a 429, an upstream's failure), not a bug: it carries no stack
    // trace, whose capture, async frames included, cost more than the rest of refusing a request, which made a
    // flood of refused requests (a wrong key, a tenant over its rate limit) dearer than serving them. Its
    // `cause`, when it has one, keeps its own trace; bugs are plain Errors and keep theirs.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(message, options.cause === undefined ? undefined : { cause: options.cause });
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    this.name = 'NexusError';
    this.code = code;
    this.status = options.status ?? errorCatalog[code].status;
    this.type = errorCatalog[code].type;
    this.param = options.param;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isNexusError(error: unknown): error is NexusError {
  return error instanceof NexusError;
}

/**
 * The OpenAI wire shape of an error, `{error: {message, type, param, code}}`: the reply body of every failure on
 * the OpenAI-shaped routes, and the data of a stream's error event (described in /openapi.json from here).
 */
export const openAIErrorBodySchema = z.strictObject({
  error: z.strictObject({
    message: z.string(),
    type: z.enum(errorTypes),
    /** The request field at fault (`messages[0].content`), or null. */
    param: z.string().nullable(),
    code: z.enum(Object.keys(errorCatalog) as [ErrorCode, ...ErrorCode[]]),
  }),
});

export type OpenAIErrorBody = z.output<typeof openAIErrorBodySchema>;

export function toOpenAIErrorBody(error: NexusError): OpenAIErrorBody {
  return {
    error: { message: error.message, type: error.type, param: error.param ?? null, code: error.code },
  };
}
