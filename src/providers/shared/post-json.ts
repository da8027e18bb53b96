import type { CallSignal } from '../../core/call-signal.ts';
import type { NexusError } from '../../core/errors.ts';
import type { HttpClient, UpstreamResponse } from '../../transport/http-client.ts';
import { readTextCapped } from './read-body.ts';

/** A non-2xx reply, as an adapter's error mapper sees it: status, headers and the first 64 KiB of the body. */
export interface FailedReply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

export interface JsonPost {
  readonly url: string;
  readonly headers: Record<string, string>;
  /** Serialised as JSON. */
  readonly body: unknown;
  readonly signal: CallSignal;
  readonly providerName: string;
  /** Turns a non-2xx reply into the catalogue error to throw (each wire format puts its message elsewhere). */
  readonly failure: (reply: FailedReply) => NexusError;
}

/**
 * The one HTTP exchange every adapter makes: POST a JSON body; a 2xx reply is returned with its body unread
 * (JSON or an event stream), anything else is drained and thrown as a catalogue error before any byte
 * reaches the client.
 */
export async function postJson(client: HttpClient, post: JsonPost): Promise<UpstreamResponse> {
  const response = await client.send(
    {
      url: post.url,
      method: 'POST',
      headers: post.headers,
      body: JSON.stringify(post.body),
      signal: post.signal,
    },
    post.providerName,
  );
  if (response.statusCode >= 200 && response.statusCode < 300) return response;
  const text = await readTextCapped(response.body).catch(() => '');
  throw post.failure({ status: response.statusCode, headers: response.headers, text });
}
