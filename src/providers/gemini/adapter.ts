import { NexusError } from '../../core/errors.ts';
import type { HttpClient, UpstreamResponse } from '../../transport/http-client.ts';
import { postJson } from '../shared/post-json.ts';
import { readReplyText, readTextCapped } from '../shared/read-body.ts';
import type { CallContext, ChatStream, ProviderAdapter, UpstreamTarget } from '../types.ts';
import { buildEmbedRequest, toEmbeddingsResponse } from './embeddings.ts';
import { describeStatus, geminiUpstreamError, googleStatusOf } from './errors.ts';
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
  return {
    async chat(target, request, context) {
      const body = buildGeminiRequest(target, request, context.warnings);
      const response = await post(client, target, 'generateContent', body, context);
      const parsed = parseJson(
        await readReplyText(response.body, target.instance.name, context.signal),
        target,
      ) as GeminiResponse;
      return { completion: toChatCompletion(parsed, target.model, target.instance.name), raw: undefined };
    },

    async chatStream(target, request, context): Promise<ChatStream> {
      const body = buildGeminiRequest(target, request, context.warnings);
      const response = await post(client, target, 'streamGenerateContent?alt=sse', body, context);
      const contentType = String(response.headers['content-type'] ?? '');
      if (!contentType.includes('text/event-stream')) {
        const text = await readTextCapped(response.body);
        const error = googleStatusOf(text);
        throw unreadable(
          target,
          error ? describeStatus(error) : `'${contentType}' instead of an event stream`,
        );
      }
      return readGeminiStream(response.body, {
        providerName: target.instance.name,
        model: target.model,
        clientWantsUsage: request.stream_options?.include_usage === true,
        candidates: request.n ?? 1,
        signal: context.signal,
      });
    },

    async embeddings(target, request, context) {
      if (!target.instance.provider.quirks.supportsEmbeddings) {
        throw new NexusError(
          'unsupported_capability',
          `${target.instance.provider.name} does not serve embeddings.`,
          { param: 'model' },
        );
      }
      const body = buildEmbedRequest(target.model, request, context.warnings);
      const response = await post(client, target, 'batchEmbedContents', body, context);
      const parsed = parseJson(
        await readReplyText(response.body, target.instance.name, context.signal),
        target,
      ) as GeminiEmbedResponse;
      const converted = toEmbeddingsResponse(parsed, request, target.model, context.warnings);
      if (converted === undefined) throw unreadable(target, 'a reply without embeddings');
      return { response: converted, raw: undefined };
    },
  };
}

/** POSTs to `models/{model}:{method}`; a non-2xx reply is drained and thrown as a catalogue error. */
async function post(
  client: HttpClient,
  target: UpstreamTarget,
  method: string,
  body: unknown,
  context: CallContext,
): Promise<UpstreamResponse> {
  const name = target.instance.name;
  const model = target.model.replace(/^models\//, '');
  const headers: Record<string, string> = {
    ...target.instance.headers,
    'content-type': 'application/json',
    accept: method.includes('alt=sse') ? 'text/event-stream' : 'application/json',
  };
  if (target.instance.apiKey !== undefined) headers['x-goog-api-key'] = target.instance.apiKey;
  return postJson(client, {
    url: `${target.instance.baseUrl}/models/${encodeURIComponent(model)}:${method}`,
    headers,
    body,
    signal: context.signal,
    providerName: name,
    failure: (reply) => geminiUpstreamError({ ...reply, providerName: name }),
  });
}

function parseJson(raw: string, target: UpstreamTarget): object {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw unreadable(target, 'a body that is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object') throw unreadable(target, 'a body that is not an object');
  const error = (parsed as { error?: unknown }).error;
  if (error !== null && typeof error === 'object') {
    throw unreadable(target, `an error: ${describeStatus(error)}`);
  }
  return parsed;
}

function unreadable(target: UpstreamTarget, what: string): NexusError {
  return new NexusError('upstream_error', `${target.instance.name} returned ${what}.`);
}
