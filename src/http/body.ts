import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { type CallSignal, onAbort as onSignalAbort } from '../core/call-signal.ts';
import { NexusError } from '../core/errors.ts';
import type { Exchange, Gateway } from './exchange.ts';

/** Content types accepted as a JSON body. curl's default form type is tolerated because `curl -d` sends it. */
const acceptedTypes = /^(application\/(json|[\w.+-]+\+json|x-www-form-urlencoded)|text\/plain)\s*(;|$)/i;

/** Deepest nesting of arrays and objects accepted; deeper JSON could overflow the stack when re-serialised. */
export const maxJsonDepth = 128;

/** The UTF-8 byte order mark; RFC 8259 §8.1 lets a parser ignore it, and Windows tools write it. */
const byteOrderMark = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Most bytes read for a refused oversize body: the limit again past the limit (at least 1 MiB past it), all
 * discarded as they arrive. Reading the rest of a body that is somewhat too large lets the client finish
 * sending and read its 413; closing on a client that is still sending makes the kernel reset the connection,
 * and the reset discards the unread reply. A body larger than this is answered at once and the connection cut.
 */
export function discardCapBytes(limitBytes: number): number {
  return limitBytes + Math.max(limitBytes, 1024 * 1024);
}

/**
 * The body stage: reads the whole request body up to `limitBytes` and parses it as JSON. An oversize body is
 * read to its end and discarded (up to `discardCapBytes`) before the 413, so the client can read it; a body
 * declared larger than that cap is refused from `content-length` before reading. A body that is not valid
 * UTF-8 is a 400 (a leading byte order mark is ignored); malformed JSON names the position. A client that
 * stops sending mid-body is cut off when `signal` aborts (the request deadline).
 */
export async function readJsonBody(
  request: IncomingMessage,
  limitBytes: number,
  signal: CallSignal,
): Promise<unknown> {
  const type = request.headers['content-type'];
  if (type !== undefined && !acceptedTypes.test(type)) {
    throw new NexusError(
      'unsupported_media_type',
      `Content-Type '${type.slice(0, 100)}' is not supported; send application/json.`,
    );
  }
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > discardCapBytes(limitBytes)) throw tooLarge(limitBytes);
  const { pieces, size } = await collect(request, { limitBytes, signal, oversize: declared > limitBytes });
  if (size === 0) throw new NexusError('invalid_json', 'The request body is empty; send a JSON object.');
  const bytes = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, size);
  // Decoding would silently turn bad bytes into U+FFFD and send the altered text upstream.
  if (!isUtf8(bytes))
    throw new NexusError('invalid_json', 'The request body is not valid UTF-8; send JSON encoded as UTF-8.');
  const start = bytes.subarray(0, 3).equals(byteOrderMark) ? 3 : 0;
  const text = bytes.toString('utf8', start);
  if (mayNestDeeperThan(text, maxJsonDepth) && nestingDepth(text) > maxJsonDepth) {
    throw new NexusError('invalid_json', `The request body is nested deeper than ${maxJsonDepth} levels.`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new NexusError('invalid_json', `The request body is not valid JSON: ${(error as Error).message}`);
  }
}

function tooLarge(limitBytes: number): NexusError {
  return new NexusError('body_too_large', `The request body exceeds the limit of ${limitBytes} bytes.`);
}

/**
 * The whole request body as bytes, under the same limit, deadline and oversize handling as `readJsonBody`, for
 * a route that must see exactly what was sent (a signed webhook: the signature covers the raw bytes).
 */
export async function readRawBody(exchange: Exchange, limitBytes: number): Promise<Buffer> {
  const declared = Number(exchange.request.headers['content-length'] ?? 0);
  if (declared > discardCapBytes(limitBytes)) throw tooLarge(limitBytes);
  const { pieces, size } = await collect(exchange.request, {
    limitBytes,
    signal: exchange.signal,
    oversize: declared > limitBytes,
  });
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, size);
}

/** The body stage as routes call it: the exchange's body under the configured limit and deadline. */
export function readExchangeJson(gateway: Gateway, exchange: Exchange): Promise<unknown> {
  return readJsonBody(exchange.request, gateway.config.server.bodyLimitBytes, exchange.signal);
}

interface CollectOptions {
  limitBytes: number;
  signal: CallSignal;
  /** Already known to exceed the limit (from `content-length`): discard from the first byte. */
  oversize: boolean;
}

/**
 * Collects the body bytes. Past the limit it stops keeping them but reads on to the end of the body and then
 * rejects with 413, so the client has finished sending when the reply goes out. It rejects at once, leaving
 * the rest unread for the edge to close on: past `discardCapBytes`; on the deadline (413 while discarding, else
 * 408); and on a client that hangs up mid-upload (flagged `clientClosed`, so it is logged, not answered).
 */
function collect(request: IncomingMessage, { limitBytes, signal, oversize }: CollectOptions) {
  const capBytes = discardCapBytes(limitBytes);
  return new Promise<{ pieces: Buffer[]; size: number }>((resolve, reject) => {
    const pieces: Buffer[] = [];
    let size = 0;
    let discarding = oversize;
    let stopListening: (() => void) | undefined;
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onGone);
      request.off('aborted', onGone);
      stopListening?.();
    };
    const onData = (piece: Buffer) => {
      size += piece.length;
      if (size > capBytes) {
        cleanup();
        request.pause();
        reject(tooLarge(limitBytes));
        return;
      }
      if (size > limitBytes && !discarding) {
        discarding = true;
        pieces.length = 0;
      }
      if (!discarding) pieces.push(piece);
    };
    const onEnd = () => {
      cleanup();
      if (discarding) reject(tooLarge(limitBytes));
      else resolve({ pieces, size });
    };
    const onGone = () => {
      cleanup();
      reject(Object.assign(new Error('client aborted the upload'), { clientClosed: true }));
    };
    const onAbort = () => {
      cleanup();
      request.pause();
      const deadline = signal.reason instanceof NexusError && signal.reason.code === 'upstream_timeout';
      reject(deadline ? deadlineError() : signal.reason);
    };
    const deadlineError = () =>
      discarding
        ? tooLarge(limitBytes)
        : new NexusError('request_timeout', 'The request body did not arrive in time.');
    if (signal.aborted) {
      onAbort();
      return;
    }
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onGone);
    request.on('aborted', onGone);
    stopListening = onSignalAbort(signal, onAbort);
  });
}

/** False when `text` has too few opening brackets to nest `limit` deep: the common case, found by native search. */
function mayNestDeeperThan(text: string, limit: number): boolean {
  let openers = 0;
  for (const bracket of ['{', '[']) {
    for (let at = text.indexOf(bracket); at !== -1; at = text.indexOf(bracket, at + 1)) {
      if (++openers > limit) return true;
    }
  }
  return false;
}

/** Maximum bracket depth outside strings; a linear scan, cheaper than the parse it guards. */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === 0x5c) index++;
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x5b || code === 0x7b) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (code === 0x5d || code === 0x7d) depth--;
  }
  return deepest;
}
