import { NexusError } from '../../core/errors.ts';

/**
 * Turns a non-2xx upstream reply into a catalogue error. Shared by every adapter: the statuses mean the
 * same thing whatever the wire format, only the place of the message in the body differs.
 */
export interface UpstreamFailure {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The provider's own error message, already extracted from its body; may be empty. */
  readonly message: string;
  readonly providerName: string;
}

export function upstreamError(failure: UpstreamFailure): NexusError {
  const { status, providerName } = failure;
  const detail = failure.message === '' ? `HTTP ${status}` : redactSecrets(failure.message);
  switch (true) {
    // The provider rejected Nexus's own credentials: that is an operator problem, never the client's key.
    case status === 401 || status === 403:
      return new NexusError(
        'upstream_auth_failed',
        `${providerName} rejected the credentials Nexus is configured with (HTTP ${status}).`,
      );
    case status === 404:
      return new NexusError('upstream_not_found', `${providerName}: ${detail}`);
    case status === 408 || status === 504:
      return new NexusError('upstream_timeout', `${providerName} timed out: ${detail}`);
    case status === 413:
      return new NexusError('body_too_large', `${providerName} rejected the request as too large: ${detail}`);
    case status === 429:
      return new NexusError('upstream_rate_limited', `${providerName} is rate limiting: ${detail}`, {
        retryAfterSeconds: retryAfterSeconds(failure.headers),
      });
    case status >= 400 && status < 500:
      return new NexusError('upstream_bad_request', `${providerName} rejected the request: ${detail}`, {
        status: status === 422 ? 422 : 400,
      });
    default:
      return new NexusError('upstream_error', `${providerName} failed with HTTP ${status}: ${detail}`);
  }
}

/** Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date); undefined when absent. */
export function retryAfterSeconds(
  headers: Record<string, string | string[] | undefined>,
): number | undefined {
  const milliseconds = Number(first(headers['retry-after-ms']));
  if (Number.isFinite(milliseconds) && milliseconds >= 0) return Math.ceil(milliseconds / 1000);
  const value = first(headers['retry-after']);
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Upstream messages sometimes quote the key they rejected; never pass one on. */
export function redactSecrets(text: string): string {
  return text.replace(/\b(sk|gsk|nk|xai|csk|AIza)[-_A-Za-z0-9]{8,}/g, '[redacted]').slice(0, 2000);
}
