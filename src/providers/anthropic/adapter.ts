import type { HttpClient } from '../../transport/http-client.ts';
import { createUpstreamExchange, type UpstreamCall, unreadableReply } from '../shared/upstream-exchange.ts';
import type { ChatResult, ChatStream, ProviderAdapter, UpstreamTarget } from '../types.ts';
import { anthropicHeaders } from './anthropic-headers.ts';
import { toAnthropicRequest } from './convert-request.ts';
import { describeInvalidMessage, toChatCompletion } from './convert-response.ts';
import { anthropicErrors } from './errors.ts';
import { createAnthropicNativeMessages } from './native-messages.ts';
import { readAnthropicStream } from './stream.ts';
import type { AnthropicRequest, AnthropicResponse } from './wire-types.ts';

/**
 * The native Anthropic adapter: canonical (OpenAI-shaped) chat requests are translated to the Messages API
 * (`POST {baseUrl}/messages`) and its replies and event streams back to OpenAI's shapes. Anthropic serves
 * no embeddings, so `embeddings` is absent and the pipeline answers `unsupported_capability`. A 529
 * (overloaded) is a 5xx like any other: `upstream_error`, which the retry policy retries.
 */
export function createAnthropicAdapter(client: HttpClient): ProviderAdapter {
  const exchange = createUpstreamExchange(client, anthropicErrors);
  return {
    // `/v1/messages` from an Anthropic client reaches an Anthropic upstream untranslated.
    nativeMessages: createAnthropicNativeMessages(client),

    async chat(target, request, context) {
      const body = toAnthropicRequest(target, request, context.warnings);
      const { value } = await exchange.json(target, messagesCall(target, body), context);
      const invalid = describeInvalidMessage(value);
      if (invalid !== undefined) throw unreadableReply(target, invalid);
      const completion = toChatCompletion(value as AnthropicResponse, context.warnings);
      return { completion, raw: undefined } satisfies ChatResult;
    },

    async chatStream(target, request, context): Promise<ChatStream> {
      const body = { ...toAnthropicRequest(target, request, context.warnings), stream: true };
      const events = await exchange.events(target, messagesCall(target, body), context);
      return readAnthropicStream(events, {
        providerName: target.instance.name,
        clientWantsUsage: request.stream_options?.include_usage === true,
        signal: context.signal,
        warnings: context.warnings,
      });
    },
  };
}

function messagesCall(target: UpstreamTarget, body: AnthropicRequest): UpstreamCall {
  return { url: `${target.instance.baseUrl}/messages`, headers: anthropicHeaders(target), body };
}
