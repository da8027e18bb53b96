import type { NexusError } from '../../core/errors.ts';
import { redactSecrets, upstreamError } from '../shared/upstream-errors.ts';

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

export interface GeminiFailure {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The error body text, possibly empty or not JSON. */
  readonly text: string;
  readonly providerName: string;
}

export function geminiUpstreamError(failure: GeminiFailure): NexusError {
  const error = googleStatusOf(failure.text);
  const headers = { ...failure.headers };
  const delay = error === undefined ? undefined : retryDelaySeconds(error);
  if (headers['retry-after'] === undefined && delay !== undefined) headers['retry-after'] = String(delay);
  // Google says "bad key" with a 400; it is still Nexus's credential that failed, not the client's request.
  const status = error !== undefined && isKeyRejection(error) ? 401 : failure.status;
  return upstreamError({
    status,
    headers,
    message: error === undefined ? redactSecrets(failure.text.trim()) : describeStatus(error),
    providerName: failure.providerName,
  });
}

/** The human message of a Google error body (`STATUS: message`), or '' when there is none. */
export function describeStatus(error: GoogleStatus): string {
  const message = typeof error.message === 'string' ? error.message.trim() : '';
  const status = typeof error.status === 'string' ? error.status : '';
  return redactSecrets(status !== '' && message !== '' ? `${status}: ${message}` : message || status);
}

/** The `error` object of a Google error body (also inside the one-element array a stream request gets). */
export function googleStatusOf(text: string): GoogleStatus | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
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
