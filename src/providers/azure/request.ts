import { NexusError } from '../../core/errors.ts';
import type { ChatRequest, EmbeddingsRequest } from '../../core/openai-types.ts';
import { openAIChatBody } from '../shared/openai-chat-body.ts';
import type { UpstreamTarget, Warning } from '../types.ts';

/**
 * Where and how to call Azure OpenAI. Two endpoint forms, told apart by the configured base URL:
 *
 * - Deployments (the classic form): `AZURE_BASE_URL=https://<resource>.openai.azure.com` (a trailing
 *   `/openai` is accepted too). Nexus calls
 *   `{base}/openai/deployments/{deployment}/{operation}?api-version={version}`, where the deployment is the
 *   requested model (`azure/<deployment>`) and the version is `AZURE_API_VERSION` or `2024-10-21` (the GA
 *   version that understands `stream_options.include_usage`). Azure takes the model from the deployment, so
 *   `model` is left out of the body.
 * - v1 (learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle): a base URL ending in
 *   `/openai/v1`. Nexus calls `{base}/{operation}` with no api-version and keeps `model` (the deployment name)
 *   in the body, as with OpenAI itself.
 *
 * Both forms authenticate with the `api-key` header, never a Bearer token.
 */
export const defaultAzureApiVersion = '2024-10-21';

export type AzureOperation = 'chat/completions' | 'embeddings';

export interface AzureEndpoint {
  readonly url: string;
  /** True for the v1 form, whose body names the model. */
  readonly v1: boolean;
}

const v1Suffix = /\/openai\/v1$/;

export function azureEndpoint(target: UpstreamTarget, operation: AzureOperation): AzureEndpoint {
  const base = target.instance.baseUrl.replace(/\/+$/, '');
  if (base === '') {
    throw new NexusError(
      'provider_not_configured',
      `${target.instance.name} has no endpoint: set AZURE_BASE_URL to https://<resource>.openai.azure.com.`,
      { param: 'model' },
    );
  }
  if (v1Suffix.test(base)) return { url: `${base}/${operation}`, v1: true };
  const root = base.endsWith('/openai') ? base : `${base}/openai`;
  const version = target.instance.apiVersion ?? defaultAzureApiVersion;
  const deployment = encodeURIComponent(target.model);
  return {
    url: `${root}/deployments/${deployment}/${operation}?api-version=${encodeURIComponent(version)}`,
    v1: false,
  };
}

/** Azure's own header: the instance's key as `api-key`, never a Bearer token. */
export function azureHeaders(target: UpstreamTarget): Record<string, string> {
  return target.instance.apiKey === undefined ? {} : { 'api-key': target.instance.apiKey };
}

/**
 * The OpenAI-compatible body (catalogue quirks applied with warnings, the usage chunk always requested on
 * streams), with `model` removed for deployment URLs, where Azure takes it from the deployment.
 */
export function buildAzureChatBody(
  target: UpstreamTarget,
  request: ChatRequest,
  endpoint: AzureEndpoint,
  warnings: Warning[],
): Record<string, unknown> {
  const body: Record<string, unknown> = openAIChatBody(target, request, warnings);
  if (!endpoint.v1) delete body.model;
  return body;
}

/** The OpenAI embeddings body, with `model` only for the v1 form. */
export function buildAzureEmbeddingsBody(
  target: UpstreamTarget,
  request: EmbeddingsRequest,
  endpoint: AzureEndpoint,
): Record<string, unknown> {
  const body: Record<string, unknown> = { ...request };
  if (endpoint.v1) body.model = target.model;
  else delete body.model;
  return body;
}
