/**
 * The `anthropic-version` header pins the shape of the Messages API. Nexus sends 2023-06-01 unless config
 * sets `providers.anthropic.apiVersion` (`ANTHROPIC_API_VERSION`).
 */
export const defaultAnthropicVersion = '2023-06-01';

/**
 * API version 2026-10-21 removed the sampling parameters: `temperature`, `top_p` and `top_k` are a 400 there,
 * even at their default values. Versions are dates, so they compare as strings.
 */
const samplingRemovedIn = '2026-10-21';

export function acceptsSamplingParameters(version: string | undefined): boolean {
  return (version ?? defaultAnthropicVersion) < samplingRemovedIn;
}
