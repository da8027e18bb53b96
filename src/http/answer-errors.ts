import { ClientClosedError } from '../core/call-signal.ts';
import { isNexusError, NexusError } from '../core/errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { EdgeStage, Exchange } from './exchange.ts';
import { addRateLimitHeaders, addWarnings, drainAndSend, type ErrorShape } from './respond.ts';

/**
 * The edge stage that renders every failure once, in the route's shape (OpenAI's, Anthropic's, seed 004's),
 * and records its status and code for the log stage above it. A client that left is logged as `client_closed`
 * and gets nothing. Anything that is not a NexusError is a bug: logged with its stack, answered as
 * `internal_error` without details.
 */
export function createAnswerErrors(shape: ErrorShape, log: Logger): EdgeStage {
  return async function answerErrors(exchange, next) {
    try {
      await next();
    } catch (error) {
      fail(exchange, shape, log, error);
    }
  };
}

function fail(exchange: Exchange, shape: ErrorShape, log: Logger, error: unknown): void {
  const { response, request } = exchange;
  if (
    error instanceof ClientClosedError ||
    (error as { clientClosed?: boolean } | null)?.clientClosed === true ||
    (exchange.signal.aborted && exchange.signal.reason instanceof ClientClosedError)
  ) {
    exchange.errorCode = 'client_closed';
    return;
  }
  const failure = isNexusError(error)
    ? error
    : new NexusError('internal_error', 'Internal error.', { cause: error });
  exchange.errorCode = failure.code;
  if (failure.code === 'internal_error') {
    log.error({ requestId: exchange.id, err: error }, 'unhandled error');
  }
  if (response.headersSent) {
    response.destroy();
    return;
  }
  addWarnings(response, exchange.warnings);
  addRateLimitHeaders(response, exchange.rateLimit);
  // Seed 000 and 004 clients expect 402 Payment Required for a spent quota on their /api routes (SPEC §3.4).
  const answered =
    failure.code === 'insufficient_quota' && exchange.path.startsWith('/api/')
      ? new NexusError(failure.code, failure.message, {
          status: 402,
          retryAfterSeconds: failure.retryAfterSeconds,
        })
      : failure;
  drainAndSend(request, response, answered, shape);
}
