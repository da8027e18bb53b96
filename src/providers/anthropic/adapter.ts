import { NexusError } from '../../core/errors.ts';
import type { HttpClient, UpstreamResponse } from '../../transport/http-client.ts';
import { postJson } from '../shared/post-json.ts';
import { readReplyText, readTextCapped } from '../shared/read-body.ts';
import { upstreamError } from '../shared/upstream-errors.ts';
import type { CallContext, ChatResult, ChatStream, ProviderAdapter, UpstreamTarget } from '../types.ts';
import { defaultAnthropicVersion } from './api-version.ts';
import { toAnthropicRequest } from './convert-request.ts';
import { describeInvalidMessage, toChatCompletion } from './convert-response.ts';
import { errorMessageOf, errorMessageOfText } from './errors.ts';
import { createAnthropicNativeMessages } from './native-messages.ts';
import { readAnthropicStream } from './stream.ts';
import type { AnthropicRequest, AnthropicResponse } from './wire-types.ts';

/**
 * The native Anthropic adapter: canonical (OpenAI-shaped) chat requests are translated to the Messages API
 * (`POST {baseUrl}/messages`) and its replies and event streams back to OpenAI's shapes. Anthropic serves
 * no embeddings, so `embeddings` is absent and the pipeline answers `unsupported_capability`.
 */
export function createAnthropicAdapter(client: HttpClient): ProviderAdapter {
  return {
    // `/v1/messages` from an Anthropic client reaches an Anthropic upstream untranslated.
    nativeMessages: createAnthropicNativeMessages(client),

    async chat(target, request, context) {
      const body = toAnthropicRequest(target, request, context.warnings);
      const response = await post(client, target, body, 'application/json', context);
      const message = parseMessage(
        await readReplyText(response.body, target.instance.name, context.signal),
        target,
      );
      const completion = toChatCompletion(message, context.warnings);
      return { completion, raw: undefined } satisfies ChatResult;
    },

    async chatStream(target, request, context): Promise<ChatStream> {
      const body = { ...toAnthropicRequest(target, request, context.warnings), stream: true };
      const response = await post(client, target, body, 'text/event-stream', context);
      const contentType = String(response.headers['content-type'] ?? '');
      if (!contentType.includes('text/event-stream')) {
        const text = await readTextCapped(response.body).catch(() => '');
        const message = errorMessageOfText(text);
        throw unreadable(target, message === '' ? `'${contentType}' instead of an event stream` : message);
      }
      return readAnthropicStream(response.body, {
        providerName: target.instance.name,
        clientWantsUsage: request.stream_options?.include_usage === true,
        signal: context.signal,
        warnings: context.warnings,
      });
    },
  };
}

/** Headers for every call: catalogue and config extras, then the API version and the instance's key. */
export function buildHeaders(target: UpstreamTarget, accept: string): Record<string, string> {
  const headers: Record<string, string> = {
    ...target.instance.headers,
    'content-type': 'application/json',
    accept,
    'anthropic-version': target.instance.apiVersion ?? defaultAnthropicVersion,
  };
  if (target.instance.apiKey !== undefined) headers['x-api-key'] = target.instance.apiKey;
  return headers;
}

/** Sends one POST; a non-2xx reply is drained and thrown as a catalogue error before any byte reaches the client. */
async function post(
  client: HttpClient,
  target: UpstreamTarget,
  body: AnthropicRequest,
  accept: string,
  context: CallContext,
): Promise<UpstreamResponse> {
  const name = target.instance.name;
  return postJson(client, {
    url: `${target.instance.baseUrl}/messages`,
    headers: buildHeaders(target, accept),
    body,
    signal: context.signal,
    providerName: name,
    // 529 (overloaded) falls into upstreamError's 5xx branch: upstream_error, which the retry policy retries.
    failure: ({ status, headers, text }) =>
      upstreamError({ status, headers, message: errorMessageOfText(text), providerName: name }),
  });
}

/** A 2xx body must be a Message; an error object or anything else is the provider's failure. */
function parseMessage(text: string, target: UpstreamTarget): AnthropicResponse {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw unreadable(target, 'a body that is not JSON');
  }
  if ((parsed as { type?: unknown } | null)?.type === 'error')
    throw unreadable(target, errorMessageOf(parsed));
  const invalid = describeInvalidMessage(parsed);
  if (invalid !== undefined) throw unreadable(target, invalid);
  return parsed as AnthropicResponse;
}

function unreadable(target: UpstreamTarget, what: string): NexusError {
  return new NexusError('upstream_error', `${target.instance.name} returned ${what}.`);
}
