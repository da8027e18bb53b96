import type { UpstreamTarget } from '../providers/types.ts';
import type { BreakerSnapshot } from './circuit-breaker.ts';
import type { WeightedTarget } from './route-plan.ts';

export const routingModes = [
  'smart',
  'fastest',
  'round-robin',
  'weighted',
  'least-latency',
  'cheapest',
] as const;
export type RoutingMode = (typeof routingModes)[number];

export function isRoutingMode(value: string): value is RoutingMode {
  return (routingModes as readonly string[]).includes(value);
}

export interface RoutingView {
  /** Health score, 0..1 (resilience/instance-stats.ts). */
  score(instanceId: string): number;
  /** Latency EWMA in milliseconds; 0 when unmeasured. */
  latency(instanceId: string): number;
  /** The circuit of one deployment (`UpstreamTarget.deployment`). */
  breaker(deployment: string): BreakerSnapshot;
  /** Instances switched off at runtime (`POST /v1/providers/toggle`), or whose key the provider refused. */
  isDisabled(instanceId: string): boolean;
}

/**
 * Orders the targets of one plan step for trying, best first. Disabled instances, refused keys and OPEN
 * circuits are left out (the attempt loop keeps them as a last resort); HALF_OPEN ones go first (each is granted at most its probe). The mode decides the order of the rest:
 *  - smart: weighted random, weight × health score (seed 001's default);
 *  - fastest: highest health score first;
 *  - round-robin: rotates over the available targets, one step per call;
 *  - weighted: weighted random by configured weight alone;
 *  - least-latency: lowest latency EWMA first (unmeasured instances first, to measure them);
 *  - cheapest: lowest catalogue price (input + output per million) first, uncatalogued last.
 */
export class TargetOrderer {
  readonly #rotation = new Map<string, number>();
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  order(targets: readonly WeightedTarget[], mode: RoutingMode, view: RoutingView): UpstreamTarget[] {
    if (targets.length === 1) {
      // One target (most plans): no order to decide, only whether it may be tried at all.
      const { target } = targets[0]!;
      return view.isDisabled(target.instance.id) || view.breaker(target.deployment).state === 'OPEN'
        ? []
        : [target];
    }
    const usable = targets.filter(({ target }) => !view.isDisabled(target.instance.id));
    const closed = usable.filter(({ target }) => view.breaker(target.deployment).state === 'CLOSED');
    const halfOpen = usable.filter(({ target }) => view.breaker(target.deployment).state === 'HALF_OPEN');
    // Half-open first: `allow` grants only the probe, and a failed probe fails over before the first byte.
    // Last, they would never be probed while a pool-mate keeps succeeding.
    return [...halfOpen.map(({ target }) => target), ...this.#orderAvailable(closed, mode, view)];
  }

  #orderAvailable(
    targets: readonly WeightedTarget[],
    mode: RoutingMode,
    view: RoutingView,
  ): UpstreamTarget[] {
    if (targets.length <= 1) return targets.map((entry) => entry.target);
    const score = (entry: WeightedTarget) => view.score(entry.target.instance.id);
    switch (mode) {
      case 'smart':
        return this.#weightedShuffle(targets, (entry) => entry.weight * Math.max(score(entry), 0.001));
      case 'weighted':
        return this.#weightedShuffle(targets, (entry) => entry.weight);
      case 'fastest':
        return sortBy(targets, (entry) => -score(entry));
      case 'least-latency':
        return sortBy(targets, (entry) => view.latency(entry.target.instance.id));
      case 'cheapest':
        return sortBy(targets, (entry) => price(entry.target));
      case 'round-robin': {
        if (targets.length === 0) return [];
        const key = targets.map((entry) => entry.target.instance.id).join('|');
        const start = (this.#rotation.get(key) ?? 0) % targets.length;
        this.#rotation.set(key, start + 1);
        return [...targets.slice(start), ...targets.slice(0, start)].map((entry) => entry.target);
      }
    }
  }

  /** Weighted random order without replacement (Efraimidis–Spirakis keys). */
  #weightedShuffle(
    targets: readonly WeightedTarget[],
    weight: (entry: WeightedTarget) => number,
  ): UpstreamTarget[] {
    return targets
      .map((entry) => ({ entry, key: this.#random() ** (1 / Math.max(weight(entry), 1e-9)) }))
      .sort((a, b) => b.key - a.key)
      .map(({ entry }) => entry.target);
  }
}

function sortBy(
  targets: readonly WeightedTarget[],
  key: (entry: WeightedTarget) => number,
): UpstreamTarget[] {
  return targets
    .map((entry, index) => ({ entry, index, key: key(entry) }))
    .sort((a, b) => a.key - b.key || a.index - b.index)
    .map(({ entry }) => entry.target);
}

function price(target: UpstreamTarget): number {
  const pricing = target.modelSpec?.pricing;
  return pricing === undefined
    ? Number.POSITIVE_INFINITY
    : pricing.inputPerMillion + pricing.outputPerMillion;
}
