/**
 * The machinery shared by the fake provider servers (fake-openai, fake-anthropic, fake-gemini, fake-cohere,
 * fake-azure): a real HTTP server on 127.0.0.1 and a random port, call recording with outcomes, the fault
 * queue, the generic faults (`reset`, `hang`, `delay`, `status`), the half-body stream faults on a JSON
 * reply, and a `close()` that also destroys hung and stalled connections. Everything wire-format specific
 * (routes, validation, reply bodies, event sequences, error envelopes) stays in each fake.
 */

import { setMaxListeners } from 'node:events';
import type { OutgoingHttpHeaders } from 'node:http';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How a recorded call ended, as seen by the fake. */
export type CallOutcome =
  | 'pending'
  | 'completed'
  /** The client closed the connection before the response finished (timeout, abort, cancelled stream). */
  | 'client-aborted'
  /** A `reset` or `cut` fault destroyed the socket. */
  | 'server-destroyed'
  /** `close()` destroyed the connection while the response was unfinished (e.g. a `hang` or `stall`). */
  | 'server-closed';

/** The fields every fake records for a call; each fake adds its own (query, model, deployment...). */
export interface BaseRecordedCall<F> {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, the raw string when it is not JSON, or `undefined` when empty. */
  body: unknown;
  /** The fault applied to this call, or `null`. */
  fault: F | null;
  /** Updated in place when the exchange ends. */
  outcome: CallOutcome;
  /** Resolves with the final outcome once the connection for this call is finished or torn down. */
  settled: Promise<CallOutcome>;
}

/** The faults every fake understands, with the same shapes. */
export type GenericFault =
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'delay'; ms: number }
  | { kind: 'reset' }
  | { kind: 'hang' };

export type StatusFault = Extract<GenericFault, { kind: 'status' }>;

/** Any fault union with a `kind` discriminant. */
interface FaultLike {
  kind: string;
}

export interface Exchange<C> {
  request: IncomingMessage;
  response: ServerResponse;
  call: C;
  /** Aborted when the connection closes or the fake shuts down, to stop any pending write or wait. */
  signal: AbortSignal;
  /** Set before the fake destroys the socket itself, so the outcome says who ended it. */
  markDestroyed(): void;
}

export interface FakeServerOptions<F extends FaultLike, C extends BaseRecordedCall<F>> {
  /** The fake's own call fields, from the request URL and the parsed body. */
  describe(url: URL, body: unknown): Omit<C, keyof BaseRecordedCall<F>>;
  /** Answers one request; `isJson` says whether `body` was parsed from JSON. */
  respond(exchange: Exchange<C>, body: unknown, isJson: boolean): Promise<void>;
  /** The 500 body sent when `respond` throws before the headers went out. */
  internalErrorBody(error: unknown): unknown;
}

export interface FakeServer<F extends FaultLike, C extends BaseRecordedCall<F>> {
  /** `http://127.0.0.1:PORT`. */
  origin: string;
  /** Every request received, in arrival order. */
  calls: C[];
  /** Queue faults applied to the next calls in order (one per call); after the queue drains, behave normally. */
  enqueue(...faults: F[]): void;
  /** Apply this fault to every call (after the queue is drained) until cleared with `null`. */
  setPersistentFault(fault: F | null): void;
  /**
   * Apply this fault, until cleared with `null`, to the calls for one model (the body's `model`) or carrying
   * one key (`Authorization: Bearer`, `x-api-key`, `api-key`); queued faults still come first.
   */
  setScopedFault(scope: FaultScope, fault: F | null): void;
  /** Forget calls, queued, scoped and persistent faults. */
  reset(): void;
  /** Stop listening and destroy every open connection, including stalled and hung ones. */
  close(): Promise<void>;
}

/** Which calls a scoped fault applies to; both given means both must match. */
export interface FaultScope {
  readonly model?: string | undefined;
  readonly key?: string | undefined;
}

function inScope(scope: FaultScope, request: IncomingMessage, body: unknown): boolean {
  if (scope.model !== undefined && (body as { model?: unknown } | undefined)?.model !== scope.model)
    return false;
  if (scope.key === undefined) return true;
  const bearer = String(request.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
  return [bearer, request.headers['x-api-key'], request.headers['api-key']].includes(scope.key);
}

/** Resolves `true` after `ms`, or `false` as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function waitForAbort(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Writes and waits until the bytes reach the socket, so a following destroy cannot discard them. */
export function write(response: ServerResponse, text: string): Promise<boolean> {
  if (response.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => response.write(text, (error) => resolve(!error)));
}

/** Destroys the socket mid-response (a `cut` fault), recording that the fake ended it. */
export function cut(exchange: Exchange<unknown>): void {
  exchange.markDestroyed();
  exchange.response.socket?.destroy();
}

/**
 * Plays the generic faults of this call: `reset` destroys the socket, `hang` waits for the connection to
 * end, `delay` waits `ms`, `status` is answered by `answerStatus`. Resolves `true` when the exchange is
 * over (the caller must not answer), `false` when the caller should answer normally.
 */
export async function playGenericFault(
  exchange: Exchange<{ fault: FaultLike | null }>,
  answerStatus: (fault: StatusFault) => Promise<void>,
): Promise<boolean> {
  const { request, signal } = exchange;
  const fault = exchange.call.fault as GenericFault | null;
  if (fault?.kind === 'reset') {
    exchange.markDestroyed();
    request.socket.resetAndDestroy();
    return true;
  }
  if (fault?.kind === 'hang') {
    await waitForAbort(signal);
    return true;
  }
  if (fault?.kind === 'delay' && !(await sleep(fault.ms, signal))) return true;
  if (fault?.kind === 'status') {
    await answerStatus(fault);
    return true;
  }
  return false;
}

/**
 * The text and `content-type`/`content-length` headers of a whole reply: a string body is sent raw as
 * `textType`, anything else as JSON (`jsonType`, indented by `indent`); `malformed` sends `{not json`.
 */
export function jsonPayload(
  body: unknown,
  malformed: boolean,
  textType: string,
  jsonType: string,
  indent?: number,
): { text: string; headers: { 'content-type': string; 'content-length': number } } {
  const isRawText = typeof body === 'string';
  const text = malformed ? '{not json' : isRawText ? body : JSON.stringify(body, null, indent);
  return {
    text,
    headers: { 'content-type': isRawText ? textType : jsonType, 'content-length': Buffer.byteLength(text) },
  };
}

/**
 * Sends a whole (non-streamed) body, shaped by the call's stream fault: `slow-first-byte` sends the headers
 * first and the body after `ms`; `stall` and `cut` send half of the body, then hang or destroy the socket.
 */
export async function sendBody(
  exchange: Exchange<{ fault: FaultLike | null }>,
  status: number,
  headers: OutgoingHttpHeaders,
  text: string,
): Promise<void> {
  const { response, signal } = exchange;
  const fault = exchange.call.fault as
    | { kind: 'slow-first-byte'; ms: number }
    | { kind: 'stall' | 'cut' }
    | FaultLike
    | null;
  response.writeHead(status, headers);
  if (fault?.kind === 'slow-first-byte') {
    response.flushHeaders();
    if (!(await sleep((fault as { ms: number }).ms, signal))) return;
  }
  if (fault?.kind === 'stall' || fault?.kind === 'cut') {
    if (!(await write(response, text.slice(0, Math.floor(text.length / 2))))) return;
    if (fault.kind === 'stall') return waitForAbort(signal);
    cut(exchange);
    return;
  }
  response.end(text);
}

/** Starts a fake on 127.0.0.1 and a random port. */
export async function startFakeServer<F extends FaultLike, C extends BaseRecordedCall<F>>(
  options: FakeServerOptions<F, C>,
): Promise<FakeServer<F, C>> {
  const lifetime = new AbortController();
  // One listener per call in flight: tests with dozens of concurrent calls are not a leak.
  setMaxListeners(0, lifetime.signal);
  const calls: C[] = [];
  let queue: F[] = [];
  let persistentFault: F | null = null;
  let scoped: Array<{ scope: FaultScope; fault: F }> = [];

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const part of request) parts.push(part as Buffer);
    const raw = Buffer.concat(parts).toString('utf8');
    let body: unknown = raw === '' ? undefined : raw;
    let isJson = false;
    try {
      body = JSON.parse(raw);
      isJson = true;
    } catch {
      // Kept as the raw string: the fake's route answers 400 like the provider does.
    }
    const url = new URL(request.url ?? '/', 'http://fake.invalid');
    const fault =
      queue.shift() ?? scoped.find((entry) => inScope(entry.scope, request, body))?.fault ?? persistentFault;
    const connection = new AbortController();
    let destroyedByFake = false;
    let settle: (outcome: CallOutcome) => void = () => {};
    const call = {
      method: request.method ?? 'GET',
      path: url.pathname,
      ...options.describe(url, body),
      headers: request.headers,
      body,
      fault,
      outcome: 'pending',
      settled: new Promise<CallOutcome>((resolve) => {
        settle = resolve;
      }),
    } as C;
    calls.push(call);
    const finish = (outcome: CallOutcome): void => {
      if (call.outcome !== 'pending') return;
      call.outcome = outcome;
      settle(outcome);
      connection.abort();
    };
    response.on('close', () => {
      if (response.writableFinished) finish('completed');
      else if (destroyedByFake) finish('server-destroyed');
      else if (lifetime.signal.aborted) finish('server-closed');
      else finish('client-aborted');
    });
    lifetime.signal.addEventListener('abort', () => connection.abort(), {
      once: true,
      signal: connection.signal,
    });
    const exchange: Exchange<C> = {
      request,
      response,
      call,
      signal: connection.signal,
      markDestroyed: () => {
        destroyedByFake = true;
      },
    };
    await options.respond(exchange, body, isJson);
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (response.headersSent) response.destroy();
      else {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify(options.internalErrorBody(error)));
      }
    });
  });
  // A client that vanishes mid-request must not crash the test process.
  server.on('clientError', (_error, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    origin: `http://127.0.0.1:${port}`,
    calls,
    enqueue: (...faults) => {
      queue.push(...faults);
    },
    setPersistentFault: (fault) => {
      persistentFault = fault;
    },
    setScopedFault: (scope, fault) => {
      const same = (entry: { scope: FaultScope }) =>
        entry.scope.model === scope.model && entry.scope.key === scope.key;
      scoped = scoped.filter((entry) => !same(entry));
      if (fault !== null) scoped.push({ scope, fault });
    },
    reset: () => {
      calls.length = 0;
      queue = [];
      persistentFault = null;
      scoped = [];
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        lifetime.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
