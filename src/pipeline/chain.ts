import type { Logger } from '../observability/logger.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { JwtVerifier } from '../tenancy/jwt-verifier.ts';
import { createAdmitStage } from './admit.ts';
import { createCacheStage } from './cache.ts';
import type { Stage } from './compose.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { createDispatchStage } from './dispatch.ts';
import { createIdentifyStage } from './identify.ts';
import { createLogStage } from './log.ts';
import { meter } from './meter.ts';
import { createPlanStage } from './plan.ts';
import type { GatewayRequest } from './request.ts';
import type { TenancyServices } from './tenancy.ts';
import { traceStage } from './trace-stage.ts';

/** The stages a route's protocol brings (the HTTP edge): how to read its body, answer, and render errors. */
export interface ProtocolStages<R extends GatewayRequest> {
  /** Renders a failure in the route's error shape (OpenAI's, Anthropic's, a seed's); records status and code. */
  readonly answerErrors: Stage<R>;
  /** Reads and validates the body into `request.operation`. */
  readonly parse: Stage<R>;
  /** Writes `request.reply` (JSON or SSE) in the route's shape, on the way out. */
  readonly deliver: Stage<R>;
}

export interface PipelineStages {
  readonly log: Stage<GatewayRequest>;
  readonly identify: Stage<GatewayRequest>;
  readonly plan: Stage<GatewayRequest>;
  readonly admit: Stage<GatewayRequest>;
  readonly cache: Stage<GatewayRequest>;
  readonly meter: Stage<GatewayRequest>;
  readonly dispatch: Stage<GatewayRequest>;
}

/** The pipeline's own stages, built once at boot and shared by every route. */
export function createPipelineStages(
  dependencies: PipelineDependencies,
  options: {
    readonly masterKey: string | undefined;
    readonly log: Logger;
    readonly tenancy: TenancyServices;
    /** Prometheus metrics, when `metrics.enabled`. */
    readonly metrics?: GatewayMetrics | undefined;
    /** Verifies JSON Web Tokens when `auth.jwt` is configured. */
    readonly jwt?: JwtVerifier | undefined;
    /**
     * Tracing is on: the stages named here (those that do I/O in this configuration) get spans of their own
     * (`trace-stage.ts`); off (undefined), nothing changes.
     */
    readonly traced?: ReadonlySet<string> | undefined;
  },
): PipelineStages {
  const traced = (name: string, stage: Stage<GatewayRequest>) =>
    options.traced?.has(name) === true ? traceStage(name, stage) : stage;
  return {
    log: createLogStage(options.log, options.tenancy, options.metrics),
    identify: traced('identify', createIdentifyStage(options.masterKey, options.tenancy, options.jwt)),
    plan: createPlanStage(dependencies),
    admit: traced('admit', createAdmitStage(options.tenancy)),
    cache: traced('cache', createCacheStage(options.tenancy)),
    meter,
    dispatch: traced('dispatch', createDispatchStage(dependencies)),
  };
}

/**
 * The one chain every proxied route runs (`/v1/chat/completions`, `/v1/embeddings`, `/v1/messages` and its
 * pass-through, the seed aliases), in this order; docs/architecture.md has what each stage reads and writes.
 * Plan comes before admission because a budget reservation prices the request at the dearest target its plan
 * may reach; request limits and token limits and budgets are one stage, because the limiter checks all of a
 * key's limits in one atomic step (one Redis script), which two stages would split into two round trips.
 */
export function proxyChain<R extends GatewayRequest>(
  stages: PipelineStages,
  protocol: ProtocolStages<R>,
): Stage<R>[] {
  return [
    stages.log,
    protocol.answerErrors,
    stages.identify,
    protocol.parse,
    stages.plan,
    stages.admit,
    protocol.deliver,
    stages.cache,
    stages.meter,
    stages.dispatch,
  ];
}

/** The chain of a route that only reads or changes gateway state (`/v1/models`, the toggle, `/health`). */
export function plainChain<R extends GatewayRequest>(
  stages: PipelineStages,
  route: { readonly authenticated: boolean; readonly answerErrors: Stage<R>; readonly handle: Stage<R> },
): Stage<R>[] {
  return route.authenticated
    ? [stages.log, route.answerErrors, stages.identify, route.handle]
    : [stages.log, route.answerErrors, route.handle];
}
