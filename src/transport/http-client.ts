import { Agent, type Dispatcher, errors as undiciErrors } from 'undici';
import { type CallSignal, onAbort } from '../core/call-signal.ts';
import { NexusError } from '../core/errors.ts';

/**
 * The pooled keep-alive HTTP client every adapter sends through. One undici Agent keeps a pool of sockets
 * per upstream origin; bodies are streamed, never buffered here.
 */
export interface HttpClientOptions {
  /** TCP (and TLS) connect timeout, in milliseconds. */
  readonly connectTimeoutMs: number;
  /** Keep-alive sockets per origin. */
  readonly connectionsPerOrigin: number;
}

export interface UpstreamRequest {
  readonly url: string;
  readonly method: 'GET' | 'POST';
  readonly headers: Record<string, string>;
  readonly body?: string | undefined;
  readonly signal: CallSignal;
}

export interface UpstreamResponse {
  readonly statusCode: number;
  /** Lower-case names; a repeated header is an array. */
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: ResponseBody;
}

export class HttpClient {
  readonly #agent: Agent;

  constructor(options: HttpClientOptions) {
    this.#agent = new Agent({
      connect: { timeout: options.connectTimeoutMs },
      connections: options.connectionsPerOrigin,
      keepAliveTimeout: 30_000,
      // Time limits belong to the pipeline (first token, stall, total), which aborts through the signal.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  /**
   * Sends one request; resolves once the response headers have arrived. Transport failures become NexusErrors
   * naming the provider; an abort from the signal is rethrown as is so the caller can tell a client disconnect
   * from an upstream failure.
   *
   * Sent with undici's `dispatch` and a handler of our own rather than `request()`: `request()` wraps every
   * body in a Node Readable (and every call in an AsyncResource), and reading that Readable with `for await`
   * cost about twice the CPU of the whole exchange (measured: 49-77 µs against 32-40 µs per streamed reply at 64
   * in flight). The handler hands each read of the socket straight to `ResponseBody`.
   */
  send(request: UpstreamRequest, providerName: string): Promise<UpstreamResponse> {
    const { origin, path } = splitUrl(request.url);
    return new Promise<UpstreamResponse>((resolve, reject) => {
      const handler = new UpstreamHandler(request.signal, resolve, (error) =>
        reject(transportError(error, providerName, request.signal)),
      );
      try {
        this.#agent.dispatch(
          { origin, path, method: request.method, headers: request.headers, body: request.body ?? null },
          handler,
        );
      } catch (error) {
        handler.onResponseError(undefined, error as Error);
      }
    });
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

/** Paused above this many unread bytes, so a slow reader holds the upstream socket back (backpressure). */
const highWaterBytes = 64 * 1024;

type Controller = Dispatcher.DispatchController;

/** One request's undici handler: settles the response promise on the headers, then feeds the body. */
class UpstreamHandler implements Dispatcher.DispatchHandler {
  readonly #signal: CallSignal;
  #resolve: ((response: UpstreamResponse) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  #body: ResponseBody | undefined;
  #controller: Controller | undefined;
  #stopListening: (() => void) | undefined;

  constructor(
    signal: CallSignal,
    resolve: (response: UpstreamResponse) => void,
    reject: (error: unknown) => void,
  ) {
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    if (!signal.aborted) this.#stopListening = onAbort(signal, () => this.#abort());
  }

  #abort(): void {
    const reason = this.#signal.reason ?? new undiciErrors.RequestAbortedError();
    // Before the request is on a socket there is nothing to cut: onRequestStart aborts it.
    this.#controller?.abort(reason);
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller;
    if (this.#signal.aborted) controller.abort(this.#signal.reason ?? new undiciErrors.RequestAbortedError());
  }

  onResponseStart(
    controller: Controller,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // 1xx informational replies come before the real one.
    if (statusCode < 200) return;
    const body = new ResponseBody(controller);
    this.#body = body;
    const resolve = this.#resolve;
    this.#resolve = undefined;
    this.#reject = undefined;
    resolve?.({ statusCode, headers, body });
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    this.#body?.push(chunk);
  }

  onResponseEnd(): void {
    this.#finish();
    this.#body?.end(undefined);
  }

  onResponseError(_controller: Controller | undefined, error: Error): void {
    this.#finish();
    const reject = this.#reject;
    this.#resolve = undefined;
    this.#reject = undefined;
    if (reject !== undefined) reject(error);
    else this.#body?.end(error);
  }

  #finish(): void {
    this.#stopListening?.();
    this.#stopListening = undefined;
  }
}

/**
 * A response body as it arrives: read it once, either as an async iterable of the socket's reads (streams) or
 * whole with `text()`. Stopping early (`return()`, a `for await` left by `break` or a throw) aborts the
 * request, which closes the socket, as destroying a body stream does. Errors are the transport's (a reset, the
 * signal's reason), thrown from the read that finds them.
 */
export class ResponseBody implements AsyncIterableIterator<Uint8Array> {
  readonly #controller: Controller;
  #queue: Buffer[] = [];
  #head = 0;
  #queuedBytes = 0;
  #ended = false;
  #error: Error | undefined;
  #waiting:
    | { resolve: (result: IteratorResult<Uint8Array, undefined>) => void; reject: (error: unknown) => void }
    | undefined;

  constructor(controller: Controller) {
    this.#controller = controller;
  }

  /** The whole body as UTF-8 text. */
  async text(): Promise<string> {
    const pieces: Buffer[] = [];
    let size = 0;
    for await (const piece of this) {
      pieces.push(piece as Buffer);
      size += piece.byteLength;
    }
    return pieces.length === 1 ? pieces[0]!.toString('utf8') : Buffer.concat(pieces, size).toString('utf8');
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Uint8Array, undefined>> {
    if (this.#head < this.#queue.length) return Promise.resolve({ done: false, value: this.#take() });
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  /** The reader stopped: an unfinished body is cut (its socket cannot be reused mid-body anyway). */
  return(): Promise<IteratorResult<Uint8Array, undefined>> {
    if (!this.#ended) {
      this.#ended = true;
      this.#queue = [];
      this.#head = 0;
      this.#controller.abort(
        new undiciErrors.RequestAbortedError('the response body was not read to its end'),
      );
    }
    return Promise.resolve({ done: true, value: undefined });
  }

  /** From the handler: one read of the socket. */
  push(chunk: Buffer): void {
    if (this.#ended) return;
    const waiting = this.#waiting;
    if (waiting !== undefined) {
      this.#waiting = undefined;
      waiting.resolve({ done: false, value: chunk });
      return;
    }
    this.#queue.push(chunk);
    this.#queuedBytes += chunk.byteLength;
    if (this.#queuedBytes > highWaterBytes) this.#controller.pause();
  }

  /** From the handler: the body is complete (no error) or broke. */
  end(error: Error | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    const waiting = this.#waiting;
    if (waiting === undefined) return;
    this.#waiting = undefined;
    if (error === undefined) waiting.resolve({ done: true, value: undefined });
    else waiting.reject(error);
  }

  #take(): Buffer {
    const chunk = this.#queue[this.#head]!;
    this.#head++;
    this.#queuedBytes -= chunk.byteLength;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    }
    if (this.#controller.paused && this.#queuedBytes <= highWaterBytes / 2) this.#controller.resume();
    return chunk;
  }
}

/**
 * Origin and path of an upstream URL, remembered: the URLs are the instances' endpoints (a handful per
 * provider), and parsing one with WHATWG `URL` on every request cost about 1% of a streamed request's CPU.
 * Forgotten all at once past `splitUrlMemoSize` (a URL with a per-request part, such as a Gemini model path,
 * cannot grow it without bound).
 */
function splitUrl(url: string): { readonly origin: string; readonly path: string } {
  let split = splitUrls.get(url);
  if (split === undefined) {
    const parsed = new URL(url);
    split = { origin: parsed.origin, path: parsed.pathname + parsed.search };
    if (splitUrls.size >= splitUrlMemoSize) splitUrls.clear();
    splitUrls.set(url, split);
  }
  return split;
}

const splitUrlMemoSize = 1024;
const splitUrls = new Map<string, { readonly origin: string; readonly path: string }>();

/** Maps an undici/socket failure to the catalogue; aborts pass through untouched. */
export function transportError(error: unknown, providerName: string, signal: CallSignal): unknown {
  if (signal.aborted) return signal.reason ?? error;
  if (error instanceof NexusError) return error;
  if (error instanceof undiciErrors.ConnectTimeoutError) {
    return new NexusError('upstream_timeout', `Timed out connecting to ${providerName}.`, { cause: error });
  }
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
    return new NexusError('upstream_timeout', `${providerName} did not answer in time.`, { cause: error });
  }
  const code = (error as { code?: string }).code ?? 'unknown';
  return new NexusError('upstream_unavailable', `The connection to ${providerName} failed (${code}).`, {
    cause: error,
  });
}
