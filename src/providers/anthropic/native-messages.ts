import { NexusError } from '../../core/errors.ts';
import type { HttpClient } from '../../transport/http-client.ts';
import { readReplyText, readTextCapped } from '../shared/read-body.ts';
import { readServerSentEvents } from '../shared/sse.ts';
import { upstreamError } from '../shared/upstream-errors.ts';
import type {
  CallContext,
  NativeEvent,
  NativeMessagesReply,
  NativeMessagesRequest,
  ProviderAdapter,
  UpstreamTarget,
} from '../types.ts';
import { defaultAnthropicVersion } from './api-version.ts';
import { errorMessageOfText } from './errors.ts';

/** The API version sent when neither the client nor the config names one (as in adapter.ts). */

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
  return async function nativeMessages(target, request, context): Promise<NativeMessagesReply> {
    const name = target.instance.name;
    const streamed = request.endpoint === 'messages' && request.body.stream === true;
    const path = request.endpoint === 'count_tokens' ? '/messages/count_tokens' : '/messages';
    const response = await client.send(
      {
        url: target.instance.baseUrl + path,
        method: 'POST',
        headers: headersFor(target, request, streamed),
        body: JSON.stringify({ ...request.body, model: target.model }),
        signal: context.signal,
      },
      name,
    );
    if (response.statusCode < 200 || response.statusCode >= 300) {
      const text = await readTextCapped(response.body).catch(() => '');
      throw upstreamError({
        status: response.statusCode,
        headers: response.headers,
        message: errorMessageOfText(text),
        providerName: name,
      });
    }
    const contentType = String(response.headers['content-type'] ?? '');
    if (!streamed)
      return { kind: 'json', body: await readReplyText(response.body, target.instance.name, context.signal) };
    if (!contentType.includes('text/event-stream')) {
      const text = await readTextCapped(response.body).catch(() => '');
      const message = errorMessageOfText(text);
      throw new NexusError(
        'upstream_error',
        `${name} returned ${message === '' ? `'${contentType}' instead of an event stream` : message}.`,
      );
    }
    return { kind: 'events', events: forwardEvents(response.body, name, context) };
  };
}

function headersFor(
  target: UpstreamTarget,
  request: NativeMessagesRequest,
  streamed: boolean,
): Record<string, string> {
  const headers: Record<string, string> = {
    ...target.instance.headers,
    'content-type': 'application/json',
    accept: streamed ? 'text/event-stream' : 'application/json',
    'anthropic-version':
      request.headers['anthropic-version'] ?? target.instance.apiVersion ?? defaultAnthropicVersion,
  };
  const beta = request.headers['anthropic-beta'];
  if (beta !== undefined) headers['anthropic-beta'] = beta;
  if (target.instance.apiKey !== undefined) headers['x-api-key'] = target.instance.apiKey;
  return headers;
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
