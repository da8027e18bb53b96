import { NexusError } from '../../core/errors.ts';
import type { HttpClient, UpstreamResponse } from '../../transport/http-client.ts';
import type { CallContext, UpstreamTarget } from '../types.ts';
import { readReplyText, readTextCapped } from './read-body.ts';
import { redactSecrets, upstreamError } from './upstream-errors.ts';

/** A non-2xx reply, as a wire format's error rules see it: status, headers and the first 64 KiB of the body. */
export interface FailedReply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

/**
 * How one wire format reports errors: the only error handling an adapter keeps. The exchange does the rest
 * (draining the body, reading it leniently, mapping the status to a catalogue code in upstream-errors.ts).
 */
export interface ErrorFormat {
  /** The human message in a parsed error body of this format, secrets redacted; '' when it has none. */
  readonly messageOf: (body: unknown) => string;
  /**
   * What a 2xx JSON body that carries an error instead of an answer says (it completes "<instance> returned
   * ..."), or undefined when the body is an answer. Absent for formats that never send an error with a 2xx.
   */
  readonly errorInReply?: (body: object) => string | undefined;
  /**
   * Corrects a failed reply before its status is classified, for formats whose status misleads (a rejected
   * key answered with 400 or 498, a wait given in the body instead of a `Retry-After` header).
   */
  readonly correct?: (reply: FailedReply) => FailedReply;
}

/** One upstream call, as an adapter describes it. */
export interface UpstreamCall {
  readonly url: string;
  /** The wire format's own headers (key, API version); `upstreamHeaders` adds the rest. */
  readonly headers: Readonly<Record<string, string>>;
  /** Serialised as JSON. */
  readonly body: unknown;
}

/** A 2xx JSON reply: the parsed body (an object or an array) and its text as received. */
export interface JsonReply {
  readonly value: object;
  readonly raw: string;
}

/**
 * The one HTTP exchange every adapter makes: POST a JSON body, then read the 2xx reply the caller asked for.
 * Anything else (a non-2xx status, a body that is not what was asked for) is thrown as a catalogue error
 * before any byte reaches the client.
 */
export interface UpstreamExchange {
  /** A JSON reply, parsed; throws `upstream_error` when it is not a JSON object or carries an error. */
  json(target: UpstreamTarget, call: UpstreamCall, context: CallContext): Promise<JsonReply>;
  /** A JSON reply as text, unparsed (for pass-through). */
  text(target: UpstreamTarget, call: UpstreamCall, context: CallContext): Promise<string>;
  /** The body of an event stream; throws `upstream_error` with the upstream's message for any other reply. */
  events(
    target: UpstreamTarget,
    call: UpstreamCall,
    context: CallContext,
  ): Promise<AsyncIterable<Uint8Array>>;
}

/** The reply type asked for: `json` and `text` ask for JSON, `events` for an event stream. */
export type Accept = 'application/json' | 'text/event-stream';

/** The exchange for one wire format, whose errors read as `errors` says. */
export function createUpstreamExchange(client: HttpClient, errors: ErrorFormat): UpstreamExchange {
  async function post(
    target: UpstreamTarget,
    call: UpstreamCall,
    context: CallContext,
    accept: Accept,
  ): Promise<UpstreamResponse> {
    const name = target.instance.name;
    const response = await client.send(
      {
        url: call.url,
        method: 'POST',
        headers: upstreamHeaders(target, accept, call.headers, context.traceHeaders),
        body: JSON.stringify(call.body),
        signal: context.signal,
      },
      name,
    );
    if (response.statusCode >= 200 && response.statusCode < 300) return response;
    const text = await readTextCapped(response.body).catch(() => '');
    throw failedReplyError(errors, { status: response.statusCode, headers: response.headers, text }, name);
  }

  async function text(target: UpstreamTarget, call: UpstreamCall, context: CallContext): Promise<string> {
    const response = await post(target, call, context, 'application/json');
    return readReplyText(response.body, target.instance.name, context.signal);
  }

  return {
    text,

    async json(target, call, context) {
      const raw = await text(target, call, context);
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        throw unreadableReply(target, 'a body that is not JSON');
      }
      if (value === null || typeof value !== 'object')
        throw unreadableReply(target, 'a body that is not an object');
      const error = errors.errorInReply?.(value);
      if (error !== undefined) throw unreadableReply(target, error);
      return { value, raw };
    },

    async events(target, call, context) {
      const response = await post(target, call, context, 'text/event-stream');
      const contentType = String(response.headers['content-type'] ?? '');
      if (contentType.includes('text/event-stream')) return response.body;
      // Some providers answer a streamed request with a JSON error and status 200.
      const message = errorMessageOfText(errors, await readTextCapped(response.body).catch(() => ''));
      throw unreadableReply(target, message === '' ? `'${contentType}' instead of an event stream` : message);
    },
  };
}

/**
 * Headers of every call: catalogue and config extras, the attempt's trace context when it is traced, the JSON
 * content type and `accept`, then the wire format's own (its key and version), which win.
 */
export function upstreamHeaders(
  target: UpstreamTarget,
  accept: Accept,
  own: Readonly<Record<string, string>>,
  trace?: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  return { ...target.instance.headers, ...trace, 'content-type': 'application/json', accept, ...own };
}

/** `{baseUrl}{path}` with the instance's key, when it has one, as a Bearer token (OpenAI's and Cohere's way). */
export function bearerCall(target: UpstreamTarget, path: string, body: unknown): UpstreamCall {
  const { baseUrl, apiKey } = target.instance;
  return {
    url: baseUrl + path,
    headers: apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` },
    body,
  };
}

/** The catalogue error for a non-2xx reply: its (corrected) status, and the message where `errors` finds it. */
export function failedReplyError(errors: ErrorFormat, reply: FailedReply, providerName: string): NexusError {
  const { status, headers, text } = errors.correct?.(reply) ?? reply;
  return upstreamError({ status, headers, message: errorMessageOfText(errors, text), providerName });
}

/** The message of an error body read leniently: the format's when the body is JSON, else the text itself. */
export function errorMessageOfText(errors: ErrorFormat, text: string): string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return redactSecrets(text.trim());
  }
  return errors.messageOf(body);
}

/** `upstream_error` "<instance> returned <what>.": a 2xx reply the adapter cannot use. */
export function unreadableReply(target: UpstreamTarget, what: string): NexusError {
  return new NexusError('upstream_error', `${target.instance.name} returned ${what}.`);
}
