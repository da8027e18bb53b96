import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Catalog } from '../catalog/types.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { Tracing } from '../observability/tracing.ts';
import type { PipelineStages } from '../pipeline/chain.ts';
import type { Stage } from '../pipeline/compose.ts';
import type { PipelineDependencies } from '../pipeline/dependencies.ts';
import { GatewayRequest, type GatewayRequestInit } from '../pipeline/request.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { Services } from '../services/open-services.ts';
import type { ErrorShape } from './respond.ts';

/** Everything built once at boot that stages read. Nothing here changes per request except `state`. */
export interface Gateway {
  readonly config: Config;
  readonly catalog: Catalog;
  readonly registry: ProviderRegistry;
  readonly pipeline: PipelineDependencies;
  readonly stages: PipelineStages;
  /** The state layers (store, keys, limiter, ledger), opened by `listen()`. */
  readonly services: { current: Services | undefined };
  /** OpenTelemetry tracing, started by `listen()` when an OTLP endpoint is configured; else undefined. */
  readonly tracing: { current: Tracing | undefined };
  readonly log: Logger;
  readonly version: string;
  /** Wall-clock start, in milliseconds since the epoch. */
  readonly startedAt: number;
  readonly state: GatewayState;
  /** Prometheus metrics (`GET /metrics`); undefined when `metrics.enabled` is false. */
  readonly metrics: GatewayMetrics | undefined;
}

/** What changes while the gateway runs: draining, and how many requests and event streams are open. */
export interface GatewayState {
  shuttingDown: boolean;
  inFlight: number;
  activeStreams: number;
}

/**
 * The request object as the HTTP edge holds it: the pipeline's GatewayRequest plus the node:http pair, which
 * only the edge's own stages (parse, deliver, answer errors) touch.
 */
export class Exchange extends GatewayRequest {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  /** The gateway's running state (the SSE writer counts its open streams there). */
  readonly state: GatewayState;

  constructor(
    init: GatewayRequestInit & { request: IncomingMessage; response: ServerResponse; state: GatewayState },
  ) {
    super(init);
    this.request = init.request;
    this.response = init.response;
    this.state = init.state;
  }

  override get status(): number {
    return this.response.statusCode;
  }

  override set status(value: number) {
    this.response.statusCode = value;
  }
}

/** An edge stage: it may read the node:http pair and the gateway's settings. */
export type EdgeStage = Stage<Exchange>;

interface RouteBase {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly path: string;
  /** Whether the identify stage runs (the master key, when configured, is required). */
  readonly authenticated: boolean;
  readonly errorShape: ErrorShape;
}

/** A route whose requests go upstream: the protocol's parse and deliver around the pipeline's stages. */
export interface ProxyRoute extends RouteBase {
  readonly kind: 'proxy';
  readonly parse: (gateway: Gateway) => EdgeStage;
  readonly deliver: (gateway: Gateway) => EdgeStage;
}

/** A route answered by Nexus itself (models, health, the toggle, the admin API, usage). */
export interface PlainRoute extends RouteBase {
  readonly kind: 'plain';
  readonly handle: (gateway: Gateway) => EdgeStage;
}

export type Route = ProxyRoute | PlainRoute;
