import { z } from 'zod';
import type { NexusError } from '../../core/errors.ts';

/** Anthropic's `error.type` values (https://docs.anthropic.com/en/api/errors). */
const anthropicErrorTypes = [
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'not_found_error',
  'request_too_large',
  'rate_limit_error',
  'api_error',
  'timeout_error',
  'overloaded_error',
] as const;
export type AnthropicErrorType = (typeof anthropicErrorTypes)[number];

/** The Anthropic wire shape of an error, as a JSON body and as the data of an `error` SSE event. */
export const anthropicErrorBodySchema = z.strictObject({
  type: z.literal('error'),
  error: z.strictObject({ type: z.enum(anthropicErrorTypes), message: z.string() }),
  /** The request's `x-request-id`. */
  request_id: z.string().nullable(),
});

export type AnthropicErrorBody = z.output<typeof anthropicErrorBodySchema>;

/**
 * A catalogue error's Anthropic type, chosen by status as Anthropic does: the official SDK picks its error
 * class from the status (BadRequestError, AuthenticationError, NotFoundError, RateLimitError, ...) and
 * reports the type. A 503 (shutting down, provider unreachable) is `overloaded_error`: retry later.
 */
export function anthropicErrorType(status: number): AnthropicErrorType {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 503:
    case 529:
      return 'overloaded_error';
    case 504:
      return 'timeout_error';
    default:
      return status >= 400 && status < 500 ? 'invalid_request_error' : 'api_error';
  }
}

/** NexusError → `{type: 'error', error: {type, message}, request_id}`; the Nexus code stays in the log. */
export function toAnthropicErrorBody(error: NexusError, requestId?: string): AnthropicErrorBody {
  return {
    type: 'error',
    error: { type: anthropicErrorType(error.status), message: error.message },
    request_id: requestId ?? null,
  };
}

/**
 * The `event: error` SSE event that ends a stream broken after its first byte (never `message_stop`); the
 * official SDK raises it as an APIError. A mid-stream failure has no status of its own, so its type follows
 * the catalogue status (`stream_interrupted` is a 502: `api_error`).
 */
export function anthropicErrorEvent(error: NexusError, requestId?: string): string {
  return `event: error\ndata: ${JSON.stringify(toAnthropicErrorBody(error, requestId))}\n\n`;
}
