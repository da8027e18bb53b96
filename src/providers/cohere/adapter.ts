import { NexusError } from '../../core/errors.ts';
import type { HttpClient, UpstreamResponse } from '../../transport/http-client.ts';
import { errorMessageOfText } from '../shared/openai-error-message.ts';
import { postJson } from '../shared/post-json.ts';
import { readReplyText, readTextCapped } from '../shared/read-body.ts';
import { upstreamError } from '../shared/upstream-errors.ts';
import type {
  CallContext,
  ChatResult,
  ChatStream,
  EmbeddingsResult,
  ProviderAdapter,
  UpstreamTarget,
} from '../types.ts';
import { buildCohereEmbedBody, toEmbeddingsResponse } from './embed.ts';
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
  return {
    async chat(target, request, context) {
      const body = buildCohereChatBody(target, { ...request, stream: false }, context.warnings);
      const response = await post(client, target, '/chat', body, context);
      const reply = parseJson(
        await readReplyText(response.body, target.instance.name, context.signal),
        target,
      ) as CohereChatResponse;
      if (reply.message === undefined) throw unreadable(target, 'a reply without a message');
      const completion = toChatCompletion(reply, target.model, target.instance.name);
      return { completion, raw: undefined } satisfies ChatResult;
    },

    async chatStream(target, request, context): Promise<ChatStream> {
      const body = buildCohereChatBody(target, { ...request, stream: true }, context.warnings);
      const response = await post(client, target, '/chat', body, context);
      const contentType = String(response.headers['content-type'] ?? '');
      if (!contentType.includes('text/event-stream')) {
        const message = errorMessageOfText(await readTextCapped(response.body));
        throw unreadable(target, message === '' ? `'${contentType}' instead of an event stream` : message);
      }
      return readCohereStream(response.body, {
        providerName: target.instance.name,
        model: target.model,
        clientWantsUsage: request.stream_options?.include_usage === true,
        signal: context.signal,
      });
    },

    async embeddings(target, request, context) {
      const body = buildCohereEmbedBody(target, request, context.warnings);
      const response = await post(client, target, '/embed', body, context);
      const reply = parseJson(
        await readReplyText(response.body, target.instance.name, context.signal),
        target,
      ) as CohereEmbedResponse;
      const converted = toEmbeddingsResponse(reply, target.model, request.encoding_format);
      if (converted === undefined) throw unreadable(target, 'a reply without float embeddings');
      return { response: converted, raw: undefined } satisfies EmbeddingsResult;
    },
  };
}

/** Sends one POST; a non-2xx reply is drained and thrown as a catalogue error before any byte reaches the client. */
async function post(
  client: HttpClient,
  target: UpstreamTarget,
  path: string,
  body: object,
  context: CallContext,
): Promise<UpstreamResponse> {
  const name = target.instance.name;
  const headers: Record<string, string> = {
    ...target.instance.headers,
    'content-type': 'application/json',
    accept: 'stream' in body && body.stream === true ? 'text/event-stream' : 'application/json',
  };
  if (target.instance.apiKey !== undefined) headers.authorization = `Bearer ${target.instance.apiKey}`;
  return postJson(client, {
    url: target.instance.baseUrl + path,
    headers,
    body,
    signal: context.signal,
    providerName: name,
    failure: ({ status, headers: replyHeaders, text }) =>
      upstreamError({
        // Cohere answers 498 for an invalid token: the same operator problem as a 401.
        status: status === 498 ? 401 : status,
        headers: replyHeaders,
        // Cohere's error bodies are `{message}` or `{id, message}`, which the OpenAI reader also understands.
        message: errorMessageOfText(text),
        providerName: name,
      }),
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
  return parsed;
}

function unreadable(target: UpstreamTarget, what: string): NexusError {
  return new NexusError('upstream_error', `${target.instance.name} returned ${what}.`);
}
