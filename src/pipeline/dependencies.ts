import type { ProviderRegistry } from '../providers/registry.ts';
import type { LoopDependencies } from '../resilience/attempt-loop.ts';
import type { CircuitBreakers } from '../resilience/circuit-breaker.ts';
import type { InstanceStats } from '../resilience/instance-stats.ts';
import type { RejectedKeys } from '../resilience/rejected-keys.ts';
import type { RoutingMode, TargetOrderer } from '../resilience/routing.ts';
import type { ModelResolver } from './resolve-model.ts';

export interface PipelineSettings {
  readonly mode: RoutingMode;
  readonly maxAttempts: number;
  /** Milliseconds; 0 disables. */
  readonly firstTokenTimeoutMs: number;
  /** Milliseconds; 0 disables. */
  readonly streamStallTimeoutMs: number;
  /** Longest wait for one non-stream attempt's whole response, in milliseconds; 0 disables. */
  readonly responseTimeoutMs: number;
}

/** The parts the pipeline's stages share, built once at boot (`app.ts`). */
export interface PipelineDependencies {
  readonly resolver: ModelResolver;
  readonly registry: ProviderRegistry;
  readonly stats: InstanceStats;
  readonly breakers: CircuitBreakers;
  readonly orderer: TargetOrderer;
  /** Instance ids switched off at runtime (`POST /v1/providers/toggle`). */
  readonly disabled: Set<string>;
  /** Keys a provider refused (401/403), out of rotation for `routing.rejectedKeyCooldownMs`. */
  readonly rejectedKeys: RejectedKeys;
  readonly settings: PipelineSettings;
}

const loopViews = new WeakMap<PipelineDependencies, LoopDependencies>();

/** The attempt loop's view of the pipeline's parts, built once per pipeline rather than once per request. */
export function loopDependencies(dependencies: PipelineDependencies): LoopDependencies {
  let view = loopViews.get(dependencies);
  if (view === undefined) {
    view = {
      stats: dependencies.stats,
      breakers: dependencies.breakers,
      orderer: dependencies.orderer,
      disabled: dependencies.disabled,
      rejectedKeys: dependencies.rejectedKeys,
      maxAttempts: dependencies.settings.maxAttempts,
    };
    loopViews.set(dependencies, view);
  }
  return view;
}
