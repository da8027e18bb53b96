import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { type NexusError, toOpenAIErrorBody } from '../core/errors.ts';
import type { Headroom } from '../limits/limit-decision.ts';
import { nanosToUsd } from '../limits/usd-nanos.ts';
import { toAnthropicErrorBody } from '../protocols/anthropic/errors.ts';

/** The error shape a route answers in: OpenAI's, Anthropic's (`/v1/messages`), or a seed alias's own. */
export type ErrorShape = 'openai' | 'anthropic' | 'seed-004';

/** Seed 004's error envelope, `{success: false, error: {code, message}}`, with the catalogue's codes. */
export const seed004ErrorBodySchema = z.strictObject({
  success: z.literal(false),
  error: z.strictObject({ code: z.string(), message: z.string() }),
});

/** Seed 004's success envelope around a reply's `data`. */
export function seed004Envelope<T extends z.ZodType>(data: T) {
  return z.strictObject({ success: z.literal(true), data });
}

export function sendJson(response: ServerResponse, status: number, body: unknown | string): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

/** Renders a NexusError in the route's shape. Headers already sent means the caller must use the stream's own error event. */
export function sendError(response: ServerResponse, error: NexusError, shape: ErrorShape): void {
  if (error.retryAfterSeconds !== undefined)
    response.setHeader('retry-after', String(error.retryAfterSeconds));
  const body =
    shape === 'seed-004'
      ? ({ success: false, error: { code: error.code, message: error.message } } satisfies z.output<
          typeof seed004ErrorBodySchema
        >)
      : shape === 'anthropic'
        ? toAnthropicErrorBody(error, requestIdOf(response))
        : toOpenAIErrorBody(error);
  sendJson(response, error.status, body);
}

function requestIdOf(response: ServerResponse): string | undefined {
  const id = response.getHeader('x-request-id');
  return typeof id === 'string' ? id : undefined;
}

/** Header-safe text: printable ASCII only, bounded, so an upstream message can never break the header block. */
export function headerText(text: string, max = 512): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
}

/** Adds adapter warnings to `x-nexus-warnings`, keeping any the edge set earlier (an unknown X-Routing-Mode). */
export function addWarnings(response: ServerResponse, warnings: readonly { message: string }[]): void {
  if (warnings.length === 0) return;
  const earlier = response.getHeader('x-nexus-warnings');
  const messages = [
    ...(typeof earlier === 'string' ? [earlier] : []),
    ...warnings.map((warning) => warning.message),
  ];
  response.setHeader('x-nexus-warnings', headerText(messages.join(' | '), 2048));
}

/**
 * Sends an error. When the request body was not read to its end (refused early, past the oversize discard
 * cap, cut by the deadline) the rest is discarded until the connection closes after the reply, so unread bytes
 * cannot be mistaken for the next request. A 413 always closes the connection, read to its end or not, so
 * clients see one behaviour and a keep-alive connection cannot make Nexus discard oversize bodies in a loop.
 */
export function drainAndSend(
  request: IncomingMessage,
  response: ServerResponse,
  error: NexusError,
  shape: ErrorShape,
): void {
  if (!request.complete || error.code === 'body_too_large') response.setHeader('connection', 'close');
  if (!request.complete) request.resume();
  sendError(response, error, shape);
}

/**
 * `X-RateLimit-Limit`, `-Remaining` and `-Reset` (seconds until the window resets) from the tightest limit of
 * the request's key, project and org; USD budgets in dollars. Nothing for requests no limit applies to.
 */
export function addRateLimitHeaders(response: ServerResponse, headroom: Headroom | undefined): void {
  if (headroom === undefined || response.headersSent) return;
  const usd = headroom.limit === 'daily_usd' || headroom.limit === 'monthly_usd';
  response.setHeader('x-ratelimit-limit', usd ? nanosToUsd(headroom.max) : String(headroom.max));
  response.setHeader(
    'x-ratelimit-remaining',
    usd ? nanosToUsd(headroom.remaining) : String(headroom.remaining),
  );
  if (headroom.resetSeconds !== undefined)
    response.setHeader('x-ratelimit-reset', String(headroom.resetSeconds));
}
