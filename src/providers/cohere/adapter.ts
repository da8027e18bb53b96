import type { HttpClient } from '../../transport/http-client.ts';
import { requireEmbeddings } from '../shared/require-embeddings.ts';
import { bearerCall, createUpstreamExchange, unreadableReply } from '../shared/upstream-exchange.ts';
import type { ChatResult, ChatStream, EmbeddingsResult, ProviderAdapter } from '../types.ts';
import { buildCohereEmbedBody, toEmbeddingsResponse } from './embed.ts';
import { cohereErrors } from './errors.ts';
import { buildCohereChatBody } from './request.ts';
import { toChatCompletion } from './response.ts';
import { readCohereStream } from './stream.ts';
import type { CohereChatResponse, CohereEmbedResponse } from './wire.ts';

/**
 * The native Cohere v2 adapter: `POST {baseUrl}/chat` (JSON or SSE) and `POST {baseUrl}/embed`, with the
 * instance key as a Bearer token. Requests and replies are translated to and from OpenAI's shapes in
 * request.ts, response.ts, stream.ts and embed.ts.
 */
export function createCohereAdapter(client: HttpClient): ProviderAdapter {
  const exchange = createUpstreamExchange(client, cohereErrors);
  return {
    async chat(target, request, context) {
      const body = buildCohereChatBody(target, { ...request, stream: false }, context.warnings);
      const { value } = await exchange.json(target, bearerCall(target, '/chat', body), context);
      const reply = value as CohereChatResponse;
      if (reply.message === undefined) throw unreadableReply(target, 'a reply without a message');
      const completion = toChatCompletion(reply, target.model, target.instance.name);
      return { completion, raw: undefined } satisfies ChatResult;
    },

    async chatStream(target, request, context): Promise<ChatStream> {
      const body = buildCohereChatBody(target, { ...request, stream: true }, context.warnings);
      const events = await exchange.events(target, bearerCall(target, '/chat', body), context);
      return readCohereStream(events, {
        providerName: target.instance.name,
        model: target.model,
        clientWantsUsage: request.stream_options?.include_usage === true,
        signal: context.signal,
      });
    },

    async embeddings(target, request, context) {
      requireEmbeddings(target);
      const body = buildCohereEmbedBody(target, request, context.warnings);
      const { value } = await exchange.json(target, bearerCall(target, '/embed', body), context);
      const converted = toEmbeddingsResponse(
        value as CohereEmbedResponse,
        target.model,
        request.encoding_format,
      );
      if (converted === undefined) throw unreadableReply(target, 'a reply without float embeddings');
      return { response: converted, raw: undefined } satisfies EmbeddingsResult;
    },
  };
}
