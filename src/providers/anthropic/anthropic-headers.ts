import type { UpstreamTarget } from '../types.ts';
import { defaultAnthropicVersion } from './api-version.ts';

/**
 * Anthropic's own headers: `anthropic-version` (the client's on a pass-through, else the configured API
 * version, else 2023-06-01), the client's `anthropic-beta` when it sent one, and the instance's key as
 * `x-api-key`. `client` holds the lower-case protocol headers of a pass-through request.
 */
export function anthropicHeaders(
  target: UpstreamTarget,
  client: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const headers: Record<string, string> = {
    'anthropic-version': client['anthropic-version'] ?? target.instance.apiVersion ?? defaultAnthropicVersion,
  };
  const beta = client['anthropic-beta'];
  if (beta !== undefined) headers['anthropic-beta'] = beta;
  if (target.instance.apiKey !== undefined) headers['x-api-key'] = target.instance.apiKey;
  return headers;
}
