import type { Scope } from '../limits/limit-types.ts';
import { digestsEqual, keyPrefix, presentedKeyHash } from './api-key.ts';
import type { ProviderKeys } from './provider-key-cipher.ts';

/** One active tenant key as the gateway holds it in memory: who it belongs to and what bounds it. */
export interface KeyPrincipal {
  readonly keyId: string;
  readonly keyHash: string;
  readonly orgId: string;
  readonly projectId: string | null;
  readonly userId: string | null;
  /** Models this key may use (names as clients send them); null: any. */
  readonly models: readonly string[] | null;
  /** Epoch milliseconds after which the key stops working; null: never. */
  readonly expiresAt: number | null;
  /** The scopes a request with this key is admitted against, tightest first: key, project, org. */
  readonly scopes: readonly Scope[];
  /**
   * The project's own provider keys (decrypted in memory only, never logged or returned), used for its traffic
   * in place of the gateway's keys; null when the project brought none.
   */
  readonly providerKeys: ProviderKeys | null;
  /**
   * The key's cache policy, from its metadata's `cache`: `off` (never cached), `exact`, or `semantic` (the
   * semantic cache too, where the gateway has it); undefined: the gateway's settings.
   */
  readonly cache?: KeyCachePolicy | undefined;
}

export type KeyCachePolicy = 'off' | 'exact' | 'semantic';

/**
 * What a caller without a key of its own acts under when a token names its org and project (auth.jwt): the
 * project's and the org's scopes, and the project's own provider keys.
 */
export interface TenantScopes {
  readonly orgId: string;
  /** null for an organization as a whole. */
  readonly projectId: string | null;
  /** Tightest first: project, org (or the org alone). */
  readonly scopes: readonly Scope[];
  readonly providerKeys: ProviderKeys | null;
}

/** Everything the directory holds, as one load reads it. */
export interface DirectoryContents {
  /** Every key that is not revoked, with its project's and org's limits. */
  readonly keys: readonly KeyPrincipal[];
  /** Every project and every organization. */
  readonly tenants: readonly TenantScopes[];
}

/** Where the directory loads keys from (the SQL store), and how it learns that they changed. */
export interface KeySource {
  load(): Promise<DirectoryContents>;
  /** A number that grows whenever a key, project, org or their limits change (the polling fallback). */
  changeVersion(): Promise<number>;
}

export type KeyLookup =
  | { readonly kind: 'found'; readonly principal: KeyPrincipal }
  | { readonly kind: 'expired' }
  | { readonly kind: 'unknown' };

/**
 * Tenant keys served from memory: no database round trip on the request path. The directory is loaded at boot
 * and reloaded whenever the source's change version moves, which it checks every `pollIntervalMs` (so a key
 * revoked on one replica stops working on every replica within that interval) or at once when `invalidate()`
 * is called (a Redis pub/sub message from the replica that made the change). A failed reload keeps the last
 * good directory: a database outage does not lock every tenant out.
 */
export class KeyDirectory {
  readonly #source: KeySource;
  readonly #now: () => number;
  #byHash = new Map<string, KeyPrincipal>();
  /** Tenants by `<orgId>/<projectId>`, or `<orgId>/` for an organization as a whole. */
  #tenants = new Map<string, TenantScopes>();
  #version = -1;
  #timer: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;
  #sourceReachable = true;
  readonly #onError: (error: unknown) => void;
  readonly #onChanged: ((scopes: Scope[]) => void) | undefined;
  /** Each held scope's limits and budget as text, by `<kind>:<id>`: what a reload compares against. */
  #scopeTerms: Map<string, string> | undefined;

  /**
   * `onChanged`: after a reload (not the first load), the scopes that are new or whose limits or budget
   * changed, so their counters can start from what they already spent.
   */
  constructor(
    source: KeySource,
    options: {
      now?: () => number;
      onError?: (error: unknown) => void;
      onChanged?: (scopes: Scope[]) => void;
    } = {},
  ) {
    this.#source = source;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError ?? (() => {});
    this.#onChanged = options.onChanged;
  }

  /** Loads every active key, then polls for changes every `pollIntervalMs`. */
  async start(pollIntervalMs: number): Promise<void> {
    await this.#reload();
    this.#timer = setInterval(() => void this.refresh(), pollIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }

  /** Reloads now if the source changed (a pub/sub notice, or the poll); concurrent calls share one reload. */
  async refresh(): Promise<void> {
    try {
      const version = await this.#source.changeVersion();
      this.#sourceReachable = true;
      if (version === this.#version) return;
      await this.#reload();
    } catch (error) {
      this.#sourceReachable = false;
      this.#onError(error);
    }
  }

  /** Whether the last look at the store (the poll, every `keyRefreshMs`) reached it. */
  get sourceReachable(): boolean {
    return this.#sourceReachable;
  }

  /** The principal for a presented key; never touches the database. */
  lookup(presented: string): KeyLookup {
    if (!presented.startsWith(keyPrefix)) return { kind: 'unknown' };
    const hash = presentedKeyHash(presented);
    const found = this.#byHash.get(hash);
    if (found === undefined || !digestsEqual(found.keyHash, hash)) return { kind: 'unknown' };
    if (found.expiresAt !== null && found.expiresAt <= this.#now()) return { kind: 'expired' };
    return { kind: 'found', principal: found };
  }

  /** The scopes of an organization's project (or of the organization, `projectId` null), if both exist. */
  tenant(orgId: string, projectId: string | null): TenantScopes | undefined {
    return this.#tenants.get(`${orgId}/${projectId ?? ''}`);
  }

  /** Every scope the held keys and tenants count against (a shared project or org once per key that has it). */
  *scopes(): Iterable<Scope> {
    for (const key of this.#byHash.values()) yield* key.scopes;
    for (const tenant of this.#tenants.values()) yield* tenant.scopes;
  }

  /** Keys held now. */
  get size(): number {
    return this.#byHash.size;
  }

  #noticeChanges(): void {
    const before = this.#scopeTerms;
    const terms = new Map<string, string>();
    const changed: Scope[] = [];
    for (const scope of this.scopes()) {
      const id = `${scope.kind}:${scope.id}`;
      if (terms.has(id)) continue;
      const text = JSON.stringify([scope.limits ?? null, scope.budget ?? null]);
      terms.set(id, text);
      if (before !== undefined && before.get(id) !== text) changed.push(scope);
    }
    this.#scopeTerms = terms;
    if (changed.length > 0) this.#onChanged?.(changed);
  }

  async #reload(): Promise<void> {
    this.#reloading ??= (async () => {
      try {
        const version = await this.#source.changeVersion();
        const { keys, tenants } = await this.#source.load();
        this.#byHash = new Map(keys.map((key) => [key.keyHash, key]));
        this.#tenants = new Map(
          tenants.map((tenant) => [`${tenant.orgId}/${tenant.projectId ?? ''}`, tenant]),
        );
        this.#version = version;
        this.#noticeChanges();
      } finally {
        this.#reloading = undefined;
      }
    })();
    await this.#reloading;
  }
}
