import { NexusError } from '../../core/errors.ts';
import type { ChatCompletion, EmbeddingsResponse } from '../../core/openai-types.ts';
import type { HttpClient, UpstreamResponse } from '../../transport/http-client.ts';
import { readChunkStream } from '../shared/openai-chunk-stream.ts';
import { errorMessageOf } from '../shared/openai-error-message.ts';
import { postJson } from '../shared/post-json.ts';
import { readReplyText, readTextCapped } from '../shared/read-body.ts';
import { redactSecrets, upstreamError } from '../shared/upstream-errors.ts';
import type {
  CallContext,
  ChatResult,
  ChatStream,
  EmbeddingsResult,
  ProviderAdapter,
  UpstreamTarget,
} from '../types.ts';
import {
  type AzureEndpoint,
  azureEndpoint,
  buildAzureChatBody,
  buildAzureEmbeddingsBody,
  buildAzureHeaders,
} from './request.ts';
import { normaliseAzureStream } from './stream.ts';

/**
 * The native Azure OpenAI adapter: OpenAI's wire format at Azure's deployment (or v1) URLs with the
 * `api-key` header (request.ts). Replies are OpenAI's and pass through as sent; streams go through the shared
 * OpenAI chunk reader, then drop Azure's content-filter annotations (stream.ts). A prompt Azure's content
 * filter rejects is a 400 `content_filter` error: `upstream_bad_request`, which routing does not retry
 * elsewhere; a completion it filters ends with `finish_reason: "content_filter"`, passed on as is.
 */
export function createAzureAdapter(client: HttpClient): ProviderAdapter {
  return {
    async chat(target, request, context) {
      const endpoint = azureEndpoint(target, 'chat/completions');
      const body = buildAzureChatBody(target, { ...request, stream: false }, endpoint, context.warnings);
      const response = await post(client, target, endpoint, body, 'application/json', context);
      const raw = await readReplyText(response.body, target.instance.name, context.signal);
      const completion = parseJson(raw, target) as ChatCompletion;
      if (!Array.isArray(completion.choices)) throw unreadable(target, 'a reply without choices');
      return { completion, raw } satisfies ChatResult;
    },

    async chatStream(target, request, context): Promise<ChatStream> {
      const endpoint = azureEndpoint(target, 'chat/completions');
      const body = buildAzureChatBody(target, { ...request, stream: true }, endpoint, context.warnings);
      const response = await post(client, target, endpoint, body, 'text/event-stream', context);
      const contentType = String(response.headers['content-type'] ?? '');
      if (!contentType.includes('text/event-stream')) {
        const message = azureErrorMessage(await readTextCapped(response.body));
        throw unreadable(target, message === '' ? `'${contentType}' instead of an event stream` : message);
      }
      const chunks = readChunkStream(response.body, {
        providerName: target.instance.name,
        clientWantsUsage: request.stream_options?.include_usage === true,
        signal: context.signal,
      });
      return normaliseAzureStream(chunks);
    },

    async embeddings(target, request, context) {
      if (!target.instance.provider.quirks.supportsEmbeddings) {
        throw new NexusError(
          'unsupported_capability',
          `${target.instance.provider.name} does not serve embeddings.`,
          { param: 'model' },
        );
      }
      const endpoint = azureEndpoint(target, 'embeddings');
      const body = buildAzureEmbeddingsBody(target, request, endpoint);
      const response = await post(client, target, endpoint, body, 'application/json', context);
      const raw = await readReplyText(response.body, target.instance.name, context.signal);
      const parsed = parseJson(raw, target) as EmbeddingsResponse;
      if (!Array.isArray(parsed.data)) throw unreadable(target, 'a reply without data');
      return { response: parsed, raw } satisfies EmbeddingsResult;
    },
  };
}

/** Sends one POST; a non-2xx reply is drained and thrown as a catalogue error before any byte reaches the client. */
async function post(
  client: HttpClient,
  target: UpstreamTarget,
  endpoint: AzureEndpoint,
  body: Record<string, unknown>,
  accept: string,
  context: CallContext,
): Promise<UpstreamResponse> {
  const name = target.instance.name;
  return postJson(client, {
    url: endpoint.url,
    headers: buildAzureHeaders(target, accept),
    body,
    signal: context.signal,
    providerName: name,
    failure: ({ status, headers, text }) =>
      upstreamError({ status, headers, message: azureErrorMessage(text), providerName: name }),
  });
}

/**
 * The message of an Azure error body (`{error:{code, message, innererror}}`). A content-filter rejection
 * keeps its code in the message so that the client can tell it from other bad requests.
 */
export function azureErrorMessage(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return redactSecrets(text.trim());
  }
  const message = errorMessageOf(parsed);
  const code = (parsed as { error?: { code?: unknown } } | null)?.error?.code;
  return code === 'content_filter' ? `${message} (content_filter)` : message;
}

function parseJson(raw: string, target: UpstreamTarget): object {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw unreadable(target, 'a body that is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object') throw unreadable(target, 'a body that is not an object');
  if ((parsed as { error?: unknown }).error !== undefined) throw unreadable(target, errorMessageOf(parsed));
  return parsed;
}

function unreadable(target: UpstreamTarget, what: string): NexusError {
  return new NexusError('upstream_error', `${target.instance.name} returned ${what}.`);
}
