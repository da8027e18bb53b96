import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProviderSpec } from '../../src/catalog/types.ts';
import type { BreakerSnapshot } from '../../src/resilience/circuit-breaker.ts';
import type { WeightedTarget } from '../../src/resilience/route-plan.ts';
import { TargetOrderer } from '../../src/resilience/routing.ts';

const provider = { id: 'p', name: 'P' } as ProviderSpec;
function target(id: string, price?: number): WeightedTarget {
  return {
    weight: 1,
    target: {
      instance: {
        id,
        name: id,
        provider,
        baseUrl: '',
        apiKey: undefined,
        apiVersion: undefined,
        headers: {},
      },
      model: 'm',
      deployment: id,
      modelSpec:
        price === undefined
          ? undefined
          : ({
              pricing: { inputPerMillion: price, outputPerMillion: price, cachedInputPerMillion: null },
            } as never),
    },
  };
}

function view(
  options: {
    open?: string[];
    halfOpen?: string[];
    disabled?: string[];
    latency?: Record<string, number>;
    score?: Record<string, number>;
  } = {},
) {
  return {
    score: (id: string) => options.score?.[id] ?? 1,
    latency: (id: string) => options.latency?.[id] ?? 0,
    breaker: (id: string): BreakerSnapshot => ({
      state: options.open?.includes(id) ? 'OPEN' : options.halfOpen?.includes(id) ? 'HALF_OPEN' : 'CLOSED',
      consecutiveFailures: 0,
      openedAt: 0,
    }),
    isDisabled: (id: string) => options.disabled?.includes(id) === true,
  };
}

const ids = (targets: { instance: { id: string } }[]) => targets.map((entry) => entry.instance.id);

describe('target ordering', () => {
  it('leaves out disabled instances and open circuits, and puts half-open ones first (for their probe)', () => {
    const orderer = new TargetOrderer(() => 0.5);
    const ordered = orderer.order(
      [target('a'), target('b'), target('c'), target('d')],
      'fastest',
      view({ open: ['a'], halfOpen: ['b'], disabled: ['c'] }),
    );
    assert.deepEqual(ids(ordered), ['b', 'd']);
  });

  it('round-robin rotates over the available targets', () => {
    const orderer = new TargetOrderer();
    const targets = [target('a'), target('b'), target('c')];
    const firsts = [0, 1, 2, 3].map(() => ids(orderer.order(targets, 'round-robin', view()))[0]);
    assert.deepEqual(firsts, ['a', 'b', 'c', 'a']);
  });

  it('cheapest orders by catalogue price, uncatalogued last; least-latency by latency', () => {
    const orderer = new TargetOrderer();
    assert.deepEqual(ids(orderer.order([target('x'), target('b', 5), target('a', 1)], 'cheapest', view())), [
      'a',
      'b',
      'x',
    ]);
    assert.deepEqual(
      ids(
        orderer.order(
          [target('a'), target('b'), target('c')],
          'least-latency',
          view({ latency: { a: 300, b: 100, c: 200 } }),
        ),
      ),
      ['b', 'c', 'a'],
    );
  });

  it('fastest puts the highest health score first', () => {
    const orderer = new TargetOrderer();
    assert.deepEqual(
      ids(orderer.order([target('a'), target('b')], 'fastest', view({ score: { a: 0.2, b: 0.9 } }))),
      ['b', 'a'],
    );
  });

  it('smart is weighted random by weight × health: a healthier instance is first more often', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const orderer = new TargetOrderer(random);
    let healthyFirst = 0;
    for (let i = 0; i < 2000; i++) {
      const [first] = orderer.order(
        [target('sick'), target('healthy')],
        'smart',
        view({ score: { sick: 0.1, healthy: 0.9 } }),
      );
      if (first?.instance.id === 'healthy') healthyFirst++;
    }
    // Efraimidis–Spirakis with weights 0.9 vs 0.1 puts the heavier first with probability 0.9.
    assert.ok(healthyFirst > 1700 && healthyFirst < 1900, `healthy first ${healthyFirst} of 2000`);
  });
});
