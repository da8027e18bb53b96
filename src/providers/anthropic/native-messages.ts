import { NexusError } from '../../core/errors.ts';
import type { HttpClient } from '../../transport/http-client.ts';
import { readServerSentEvents } from '../shared/sse.ts';
import { createUpstreamExchange } from '../shared/upstream-exchange.ts';
import type { CallContext, NativeEvent, NativeMessagesReply, ProviderAdapter } from '../types.ts';
import { anthropicHeaders } from './anthropic-headers.ts';
import { anthropicErrors } from './errors.ts';

/**
 * Anthropic Messages pass-through (`ProviderAdapter.nativeMessages`): the client's body goes to
 * `${baseUrl}/messages` (or `/messages/count_tokens`) with only `model` replaced by the target's, under the
 * instance's own key. `anthropic-version` is the client's, else the configured API version, else
 * 2023-06-01; `anthropic-beta` is passed on. Non-2xx replies become catalogue errors before any byte reaches
 * the client. Event streams are forwarded event by event as received, never re-serialised; a stream that
 * breaks or ends before `message_stop` throws `stream_interrupted` so the client gets an `error` event.
 */
export function createAnthropicNativeMessages(
  client: HttpClient,
): NonNullable<ProviderAdapter['nativeMessages']> {
  const exchange = createUpstreamExchange(client, anthropicErrors);
  return async function nativeMessages(target, request, context): Promise<NativeMessagesReply> {
    const path = request.endpoint === 'count_tokens' ? '/messages/count_tokens' : '/messages';
    const call = {
      url: target.instance.baseUrl + path,
      headers: anthropicHeaders(target, request.headers),
      body: { ...request.body, model: target.model },
    };
    // The JSON reply is passed on as received, error-shaped or not: the client speaks this protocol itself.
    if (request.endpoint !== 'messages' || request.body.stream !== true) {
      return { kind: 'json', body: await exchange.text(target, call, context) };
    }
    const events = await exchange.events(target, call, context);
    return { kind: 'events', events: forwardEvents(events, target.instance.name, context) };
  };
}

/**
 * Yields the upstream's events in the batches they arrived in. Ends normally after `message_stop` (the rest
 * of the body is still read, so the connection can be reused) or after forwarding an upstream `error` event;
 * anything else is `stream_interrupted`.
 */
async function* forwardEvents(
  body: AsyncIterable<Uint8Array>,
  providerName: string,
  context: CallContext,
): AsyncGenerator<NativeEvent[], void, undefined> {
  let ended = false;
  try {
    for await (const events of readServerSentEvents(body)) {
      const batch: NativeEvent[] = [];
      for (const event of events) {
        if (ended) break;
        batch.push({ event: event.event, data: event.data });
        ended = event.event === 'message_stop' || event.event === 'error';
      }
      if (batch.length > 0) yield batch;
    }
  } catch (error) {
    if (context.signal.aborted) throw context.signal.reason ?? error;
    if (error instanceof NexusError) throw error;
    throw new NexusError('stream_interrupted', `${providerName} stream broke: ${describe(error)}`, {
      cause: error,
    });
  }
  if (!ended) {
    throw new NexusError('stream_interrupted', `${providerName} stream ended before message_stop.`);
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : 'unknown error';
}
