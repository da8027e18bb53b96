/**
 * The chain of stages, composed as hono's `compose` does it (honojs/hono:src/compose.ts): each stage gets the
 * request and `next`, does its work on the way in, awaits `next()`, and does the rest on the way out (a
 * reservation settled, a line logged). A stage that answers by itself (an error, later a cache hit) simply
 * does not call `next`. Chains are composed once per route at boot; running one allocates only the `next`
 * closures.
 */
export type Next = () => Promise<void>;

export type Stage<R> = (request: R, next: Next) => Promise<void>;

export function compose<R>(stages: readonly Stage<R>[]): (request: R) => Promise<void> {
  return function runChain(request: R): Promise<void> {
    let called = -1;
    const run = (index: number): Promise<void> => {
      if (index <= called) return Promise.reject(new Error('a stage called next() twice'));
      called = index;
      const stage = stages[index];
      if (stage === undefined) return Promise.resolve();
      try {
        return stage(request, () => run(index + 1));
      } catch (error) {
        return Promise.reject(error);
      }
    };
    return run(0);
  };
}
