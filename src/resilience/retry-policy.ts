import { isNexusError } from '../core/errors.ts';

/**
 * The one retry and failover policy. Every failed upstream attempt is classified here, and nowhere else:
 *  - `retry-same`: a transient fault of this instance before any byte reached the client (connection reset or
 *    refused, 5xx, an overloaded provider). Retried on the same instance after a backoff, then moved on.
 *  - `next-instance`: this instance cannot serve now but another may (429 rate limit: rotate keys; a first-token
 *    or connect timeout: do not wait on the same slow instance twice; a key the provider refused, 401/403:
 *    the key's failure, so the next key of the pool gets the request).
 *  - `fail`: the request itself is the problem (400/404/413/422, content policy) or the client is gone.
 *    Routing around it would only repeat the refusal, or bill a different model for a request that was wrong.
 */
export type FailureDecision = 'retry-same' | 'next-instance' | 'fail';

/** Defaults, in one place. Times in milliseconds. */
export const retryDefaults = {
  /** Extra attempts on the same instance for `retry-same` failures. */
  sameInstanceRetries: 1,
  baseBackoffMs: 100,
  maxBackoffMs: 2000,
  /** The longest `Retry-After` Nexus will wait for instead of moving on or failing. */
  maxRetryAfterMs: 10_000,
} as const;

export function classifyFailure(error: unknown): FailureDecision {
  if (!isNexusError(error)) return 'fail';
  switch (error.code) {
    case 'upstream_unavailable':
    case 'upstream_error':
    case 'stream_interrupted':
      return 'retry-same';
    case 'upstream_rate_limited':
    case 'upstream_timeout':
    case 'upstream_auth_failed':
      return 'next-instance';
    default:
      return 'fail';
  }
}

/** Whether the failure says something about the instance's health (feeds breakers and health scores). */
export function countsAgainstInstance(error: unknown): boolean {
  if (!isNexusError(error)) return false;
  return (
    error.code === 'upstream_unavailable' ||
    error.code === 'upstream_error' ||
    error.code === 'upstream_timeout' ||
    error.code === 'stream_interrupted'
  );
}

/**
 * Delay before retry number `attempt` (0-based): exponential from 100 ms, doubling, capped at 2000 ms, with
 * "equal jitter" (half fixed, half random) so that replicas retrying together spread out. A provider's
 * `Retry-After` wins when it is longer.
 */
export function backoffMs(
  attempt: number,
  retryAfterSeconds?: number,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(retryDefaults.maxBackoffMs, retryDefaults.baseBackoffMs * 2 ** attempt);
  const jittered = exponential / 2 + random() * (exponential / 2);
  const asked = retryAfterSeconds === undefined ? 0 : retryAfterSeconds * 1000;
  return Math.max(jittered, Math.min(asked, retryDefaults.maxRetryAfterMs));
}

/** Context-length refusals: they fail fast unless a larger-context fallback is configured. */
export function isContextLengthError(error: unknown): boolean {
  return (
    isNexusError(error) &&
    error.code === 'upstream_bad_request' &&
    /context[_ ]length|maximum context|too many tokens|context window|prompt is too long/i.test(error.message)
  );
}
