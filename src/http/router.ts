import type { Route } from './exchange.ts';

export type RouteMatch =
  | { kind: 'found'; route: Route }
  | { kind: 'wrong-method'; allowed: string[]; errorShape: Route['errorShape'] }
  | { kind: 'none' };

/**
 * Exact-path routing over a Map: the route table is small and static, and a Map lookup is the cheapest
 * dispatch there is (docs/decisions/http-framework.md). Prefix routes serve ids that contain `/`
 * (`GET /v1/models/groq/llama-3.1-8b-instant`).
 */
export class Router {
  readonly #exact = new Map<string, Map<string, Route>>();
  readonly #prefixes: Array<{ prefix: string; routes: Map<string, Route> }> = [];

  add(route: Route): this {
    if (route.path.endsWith('/*')) {
      const prefix = route.path.slice(0, -1);
      let entry = this.#prefixes.find((candidate) => candidate.prefix === prefix);
      if (entry === undefined) {
        entry = { prefix, routes: new Map() };
        this.#prefixes.push(entry);
      }
      entry.routes.set(route.method, route);
      return this;
    }
    let byMethod = this.#exact.get(route.path);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.#exact.set(route.path, byMethod);
    }
    byMethod.set(route.method, route);
    return this;
  }

  find(method: string, path: string): RouteMatch {
    const normalized = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    const byMethod =
      this.#exact.get(normalized) ??
      this.#prefixes.find(
        (entry) => normalized.startsWith(entry.prefix) && normalized.length > entry.prefix.length,
      )?.routes;
    if (byMethod === undefined) return { kind: 'none' };
    const route = byMethod.get(method === 'HEAD' ? 'GET' : method);
    if (route !== undefined) return { kind: 'found', route };
    const [sibling] = byMethod.values();
    return {
      kind: 'wrong-method',
      allowed: [...byMethod.keys()],
      errorShape: sibling?.errorShape ?? 'openai',
    };
  }
}
