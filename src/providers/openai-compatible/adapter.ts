import type { HttpClient } from '../../transport/http-client.ts';
import { openAIChatBody } from '../shared/openai-chat-body.ts';
import { readChunkStream } from '../shared/openai-chunk-stream.ts';
import { openAIErrors } from '../shared/openai-error-message.ts';
import { openAIChatResult, openAIEmbeddingsResult } from '../shared/openai-replies.ts';
import { requireEmbeddings } from '../shared/require-embeddings.ts';
import { bearerCall, createUpstreamExchange } from '../shared/upstream-exchange.ts';
import type { ChatStream, ProviderAdapter } from '../types.ts';

/**
 * The shared adapter for every provider that speaks OpenAI's wire format (OpenAI itself, Groq, OpenRouter,
 * Cerebras, Mistral, Together, DeepSeek, Fireworks, xAI, vLLM, Ollama, custom base URLs). Per-provider
 * differences are catalogue data (ProviderQuirks), not code.
 */
export function createOpenAICompatibleAdapter(client: HttpClient): ProviderAdapter {
  const exchange = createUpstreamExchange(client, openAIErrors);
  return {
    async chat(target, request, context) {
      const body = openAIChatBody(target, { ...request, stream: false }, context.warnings);
      const reply = await exchange.json(target, bearerCall(target, '/chat/completions', body), context);
      return openAIChatResult(target, reply);
    },

    async chatStream(target, request, context): Promise<ChatStream> {
      const body = openAIChatBody(target, { ...request, stream: true }, context.warnings);
      const events = await exchange.events(target, bearerCall(target, '/chat/completions', body), context);
      return readChunkStream(events, {
        providerName: target.instance.name,
        clientWantsUsage: request.stream_options?.include_usage === true,
        signal: context.signal,
      });
    },

    async embeddings(target, request, context) {
      requireEmbeddings(target);
      const body = { ...request, model: target.model };
      const reply = await exchange.json(target, bearerCall(target, '/embeddings', body), context);
      return openAIEmbeddingsResult(target, reply);
    },
  };
}
