import { redactSecrets } from '../shared/upstream-errors.ts';
import type { ErrorFormat } from '../shared/upstream-exchange.ts';

/**
 * Google's error envelope: `{error: {code, message, status, details}}` (google.rpc.Status). Two Gemini
 * habits need care: a wrong API key is a 400 INVALID_ARGUMENT with reason API_KEY_INVALID (not a 401), and
 * a 429 carries its wait in a RetryInfo detail (`"retryDelay": "34.4s"`) rather than a Retry-After header.
 */
interface GoogleStatus {
  code?: unknown;
  message?: unknown;
  status?: unknown;
  details?: unknown;
}

/**
 * Google's error format for the exchange. The message is `STATUS: message`; a key rejection becomes a 401
 * and a RetryInfo delay a `Retry-After` (unless the reply has one) before the status is classified. A 2xx
 * body with an `error` object is the provider's failure.
 */
export const geminiErrors: ErrorFormat = {
  messageOf(body) {
    const error = googleStatusIn(body);
    return error === undefined ? '' : describeStatus(error);
  },
  errorInReply(body) {
    const error = (body as { error?: unknown }).error;
    return error !== null && typeof error === 'object' ? `an error: ${describeStatus(error)}` : undefined;
  },
  correct(reply) {
    const error = googleStatusOf(reply.text);
    if (error === undefined) return reply;
    const headers = { ...reply.headers };
    const delay = retryDelaySeconds(error);
    if (headers['retry-after'] === undefined && delay !== undefined) headers['retry-after'] = String(delay);
    // Google says "bad key" with a 400; it is still Nexus's credential that failed, not the client's request.
    return { status: isKeyRejection(error) ? 401 : reply.status, headers, text: reply.text };
  },
};

/** The human message of a Google error body (`STATUS: message`), or '' when there is none. */
export function describeStatus(error: GoogleStatus): string {
  const message = typeof error.message === 'string' ? error.message.trim() : '';
  const status = typeof error.status === 'string' ? error.status : '';
  return redactSecrets(status !== '' && message !== '' ? `${status}: ${message}` : message || status);
}

/** The `error` object of a Google error body text (also inside the one-element array a stream request gets). */
function googleStatusOf(text: string): GoogleStatus | undefined {
  try {
    return googleStatusIn(JSON.parse(text));
  } catch {
    return undefined;
  }
}

function googleStatusIn(parsed: unknown): GoogleStatus | undefined {
  const body = Array.isArray(parsed) ? parsed[0] : parsed;
  const error = (body as { error?: unknown } | null | undefined)?.error;
  return error !== null && typeof error === 'object' ? (error as GoogleStatus) : undefined;
}

function details(error: GoogleStatus): Array<Record<string, unknown>> {
  return Array.isArray(error.details)
    ? error.details.filter(
        (item): item is Record<string, unknown> => item !== null && typeof item === 'object',
      )
    : [];
}

function isKeyRejection(error: GoogleStatus): boolean {
  if (error.status === 'UNAUTHENTICATED') return true;
  return details(error).some((detail) => detail.reason === 'API_KEY_INVALID');
}

/** Seconds from a `google.rpc.RetryInfo` detail, rounded up; undefined when absent or unreadable. */
function retryDelaySeconds(error: GoogleStatus): number | undefined {
  for (const detail of details(error)) {
    const delay = detail.retryDelay;
    if (typeof delay !== 'string') continue;
    const seconds = Number.parseFloat(delay);
    if (delay.endsWith('s') && Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  }
  return undefined;
}
