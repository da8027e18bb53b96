import type { HttpClient } from '../../transport/http-client.ts';
import { readChunkStream } from '../shared/openai-chunk-stream.ts';
import { openAIChatResult, openAIEmbeddingsResult } from '../shared/openai-replies.ts';
import { requireEmbeddings } from '../shared/require-embeddings.ts';
import { createUpstreamExchange } from '../shared/upstream-exchange.ts';
import type { ChatStream, ProviderAdapter } from '../types.ts';
import { azureErrors } from './errors.ts';
import { azureEndpoint, azureHeaders, buildAzureChatBody, buildAzureEmbeddingsBody } from './request.ts';
import { normaliseAzureStream } from './stream.ts';

/**
 * The native Azure OpenAI adapter: OpenAI's wire format at Azure's deployment (or v1) URLs with the
 * `api-key` header (request.ts). Replies are OpenAI's and pass through as sent; streams go through the shared
 * OpenAI chunk reader, then drop Azure's content-filter annotations (stream.ts). A prompt Azure's content
 * filter rejects is a 400 `content_filter` error: `upstream_bad_request`, which routing does not retry
 * elsewhere; a completion it filters ends with `finish_reason: "content_filter"`, passed on as is.
 */
export function createAzureAdapter(client: HttpClient): ProviderAdapter {
  const exchange = createUpstreamExchange(client, azureErrors);
  return {
    async chat(target, request, context) {
      const endpoint = azureEndpoint(target, 'chat/completions');
      const body = buildAzureChatBody(target, { ...request, stream: false }, endpoint, context.warnings);
      const call = { url: endpoint.url, headers: azureHeaders(target), body };
      return openAIChatResult(target, await exchange.json(target, call, context));
    },

    async chatStream(target, request, context): Promise<ChatStream> {
      const endpoint = azureEndpoint(target, 'chat/completions');
      const body = buildAzureChatBody(target, { ...request, stream: true }, endpoint, context.warnings);
      const call = { url: endpoint.url, headers: azureHeaders(target), body };
      const chunks = readChunkStream(await exchange.events(target, call, context), {
        providerName: target.instance.name,
        clientWantsUsage: request.stream_options?.include_usage === true,
        signal: context.signal,
      });
      return normaliseAzureStream(chunks);
    },

    async embeddings(target, request, context) {
      requireEmbeddings(target);
      const endpoint = azureEndpoint(target, 'embeddings');
      const body = buildAzureEmbeddingsBody(target, request, endpoint);
      const call = { url: endpoint.url, headers: azureHeaders(target), body };
      return openAIEmbeddingsResult(target, await exchange.json(target, call, context));
    },
  };
}
