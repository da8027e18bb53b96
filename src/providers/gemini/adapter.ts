import type { HttpClient } from '../../transport/http-client.ts';
import { requireEmbeddings } from '../shared/require-embeddings.ts';
import { createUpstreamExchange, type UpstreamCall, unreadableReply } from '../shared/upstream-exchange.ts';
import type { ChatStream, ProviderAdapter, UpstreamTarget } from '../types.ts';
import { buildEmbedRequest, toEmbeddingsResponse } from './embeddings.ts';
import { geminiErrors } from './errors.ts';
import { buildGeminiRequest } from './request.ts';
import { toChatCompletion } from './response.ts';
import { readGeminiStream } from './stream.ts';
import type { GeminiEmbedResponse, GeminiResponse } from './wire.ts';

/**
 * The native Google Gemini adapter (Generative Language API, `{baseUrl}/models/{model}:<method>`). The key
 * travels in the `x-goog-api-key` header, never in the `?key=` query string, so it cannot leak through a
 * logged URL.
 */
export function createGeminiAdapter(client: HttpClient): ProviderAdapter {
  const exchange = createUpstreamExchange(client, geminiErrors);
  return {
    async chat(target, request, context) {
      const body = buildGeminiRequest(target, request, context.warnings);
      const { value } = await exchange.json(target, modelCall(target, 'generateContent', body), context);
      const completion = toChatCompletion(value as GeminiResponse, target.model, target.instance.name);
      return { completion, raw: undefined };
    },

    async chatStream(target, request, context): Promise<ChatStream> {
      const body = buildGeminiRequest(target, request, context.warnings);
      const call = modelCall(target, 'streamGenerateContent?alt=sse', body);
      return readGeminiStream(await exchange.events(target, call, context), {
        providerName: target.instance.name,
        model: target.model,
        clientWantsUsage: request.stream_options?.include_usage === true,
        candidates: request.n ?? 1,
        signal: context.signal,
      });
    },

    async embeddings(target, request, context) {
      requireEmbeddings(target);
      const body = buildEmbedRequest(target.model, request, context.warnings);
      const { value } = await exchange.json(target, modelCall(target, 'batchEmbedContents', body), context);
      const converted = toEmbeddingsResponse(
        value as GeminiEmbedResponse,
        request,
        target.model,
        context.warnings,
      );
      if (converted === undefined) throw unreadableReply(target, 'a reply without embeddings');
      return { response: converted, raw: undefined };
    },
  };
}

/** `models/{model}:{method}` with the instance's key in `x-goog-api-key`. */
function modelCall(target: UpstreamTarget, method: string, body: unknown): UpstreamCall {
  const { baseUrl, apiKey } = target.instance;
  const model = target.model.replace(/^models\//, '');
  return {
    url: `${baseUrl}/models/${encodeURIComponent(model)}:${method}`,
    headers: apiKey === undefined ? {} : { 'x-goog-api-key': apiKey },
    body,
  };
}
