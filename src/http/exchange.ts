import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Catalog } from '../catalog/types.ts';
import type { Config } from '../config/schema.ts';
import type { PipelineDependencies } from '../core/pipeline.ts';
import type { Logger } from '../observability/logger.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { Warning } from '../providers/types.ts';
import type { AttemptRecord } from '../resilience/attempt-loop.ts';
import type { ErrorShape } from './respond.ts';

/** Everything built once at boot that handlers read. Nothing here changes per request except `state`. */
export interface Gateway {
  readonly config: Config;
  readonly catalog: Catalog;
  readonly registry: ProviderRegistry;
  readonly pipeline: PipelineDependencies;
  readonly log: Logger;
  readonly version: string;
  /** Wall-clock start, in milliseconds since the epoch. */
  readonly startedAt: number;
  readonly state: { shuttingDown: boolean; inFlight: number };
}

/** What the access log line says about a request; stages fill it in as they learn things. */
export interface AccessRecord {
  provider?: string;
  model?: string;
  errorCode?: string;
  warnings?: readonly Warning[];
  stream?: boolean;
  costUsd?: number | undefined;
  /** One entry per upstream attempt (retries, failover, hedges), in order. */
  attempts?: readonly AttemptRecord[];
}

/** One request in flight: the receive stage creates it, every later stage reads it. */
export interface Exchange {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  /** `x-request-id` as received (when well-formed) or generated. */
  readonly requestId: string;
  /** `performance.now()` when the request arrived. */
  readonly startedAt: number;
  /** Aborted when the client disconnects or the request deadline passes. */
  readonly signal: AbortSignal;
  readonly record: AccessRecord;
}

export type RouteHandler = (gateway: Gateway, exchange: Exchange) => Promise<void>;

export interface Route {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly handler: RouteHandler;
  /** Whether the master key (when configured) is required. */
  readonly authenticated: boolean;
  readonly errorShape: ErrorShape;
}
