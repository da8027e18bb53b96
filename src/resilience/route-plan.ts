import type { GroupConfig } from '../config/schema.ts';
import type { UpstreamTarget } from '../providers/types.ts';

/**
 * What the plan stage (`pipeline/resolve-model.ts`) hands to the attempt loop: steps tried in order, each
 * routed within itself. The types live here, with their consumer, so that resilience never imports the
 * pipeline above it.
 */

/** One way to serve a step of a plan, with its weight for weighted routing (default 1). */
export interface WeightedTarget {
  readonly target: UpstreamTarget;
  readonly weight: number;
}

/** Targets that serve the same logical model: a key pool, or a group's weighted targets. */
export interface PlanStep {
  /** The model name this step came from, for logs and errors. */
  readonly label: string;
  readonly targets: readonly WeightedTarget[];
}

export interface RoutePlan {
  /** `steps[0]` is the request's own model; later steps are fallbacks, in order. */
  readonly steps: readonly PlanStep[];
  /** The model group's settings when the model named a group. */
  readonly group: GroupConfig | undefined;
  /** Where a context-length refusal goes (the group's larger-context model). */
  readonly contextFallback: PlanStep | undefined;
}
