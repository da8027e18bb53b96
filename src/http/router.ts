import type { ErrorShape } from './respond.ts';

/** What the router needs of a route. */
export interface RouteEntry {
  readonly method: string;
  readonly path: string;
  readonly errorShape: ErrorShape;
}

export type RouteMatch<T extends RouteEntry> =
  | { kind: 'found'; route: T }
  | { kind: 'wrong-method'; allowed: string[]; errorShape: ErrorShape }
  | { kind: 'none' };

/**
 * Exact-path routing over a Map: the route table is small and static, and a Map lookup is the cheapest
 * dispatch there is (docs/decisions/http-framework.md). Prefix routes serve ids that contain `/`
 * (`GET /v1/models/groq/llama-3.1-8b-instant`).
 */
export class Router<T extends RouteEntry> {
  readonly #exact = new Map<string, Map<string, T>>();
  readonly #prefixes: Array<{ prefix: string; routes: Map<string, T> }> = [];

  add(route: T): this {
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

  find(method: string, path: string): RouteMatch<T> {
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
