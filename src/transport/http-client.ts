import { Agent, type Dispatcher, errors as undiciErrors } from 'undici';
import type { CallSignal } from '../core/call-signal.ts';
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

export type UpstreamResponse = Dispatcher.ResponseData;

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
   * Sends one request. Transport failures become NexusErrors naming the provider; an abort from the signal is
   * rethrown as is so the caller can tell a client disconnect from an upstream failure.
   */
  async send(request: UpstreamRequest, providerName: string): Promise<UpstreamResponse> {
    try {
      return await this.#agent.request({
        origin: new URL(request.url).origin,
        path: pathOf(request.url),
        method: request.method,
        headers: request.headers,
        body: request.body ?? null,
        signal: request.signal,
      });
    } catch (error) {
      throw transportError(error, providerName, request.signal);
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

function pathOf(url: string): string {
  const parsed = new URL(url);
  return parsed.pathname + parsed.search;
}

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
