import type { ChatRequest } from '../../core/openai-types.ts';
import type { UpstreamTarget, Warning } from '../types.ts';

/**
 * Builds the chat body sent to an upstream that speaks OpenAI's wire format (the OpenAI-compatible providers
 * and Azure OpenAI): the client's request with the provider's own model id, minus the fields this provider is
 * known to reject (each one reported as a warning, never dropped in silence). Fields Nexus does not know are
 * passed on untouched.
 */
export function openAIChatBody(
  target: UpstreamTarget,
  request: ChatRequest,
  warnings: Warning[],
): ChatRequest {
  const { quirks, name } = target.instance.provider;
  const body: ChatRequest = { ...request, model: target.model };
  for (const param of quirks.unsupportedParams) {
    if (body[param] !== undefined) {
      delete body[param];
      warnings.push({ param, message: `${name} does not support '${param}'; it was not sent.` });
    }
  }
  if (
    quirks.maxTokensField === 'max_tokens' &&
    body.max_completion_tokens != null &&
    body.max_tokens == null
  ) {
    body.max_tokens = body.max_completion_tokens;
    delete body.max_completion_tokens;
    warnings.push({ param: 'max_completion_tokens', message: `Sent to ${name} as 'max_tokens'.` });
  }
  if (body.stream === true) {
    if (quirks.supportsStreamUsage) {
      // Always ask for the usage chunk: accounting needs real token counts even when the client did not ask.
      body.stream_options = { ...body.stream_options, include_usage: true };
    } else if (body.stream_options != null) {
      delete body.stream_options;
      warnings.push({
        param: 'stream_options',
        message: `${name} does not support 'stream_options'; no usage chunk.`,
      });
    }
  }
  return body;
}
