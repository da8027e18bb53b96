import { Coalescer } from '../cache/coalescer.ts';
import { MemoryCacheStore } from '../cache/memory-cache-store.ts';
import type { Config } from '../config/schema.ts';
import { UsageLedger } from '../ledger/usage-ledger.ts';
import type { LedgerRecord } from '../ledger/usage-record.ts';
import type { Scope } from '../limits/limit-types.ts';
import { limitWindow } from '../limits/limit-window.ts';
import { Limiter } from '../limits/limiter.ts';
import type { Logger } from '../observability/logger.ts';
import { type CacheServices, type Flight, keepFlight, leaderLeft, sharedFailure } from '../pipeline/cache.ts';
import { openSemanticMatcher } from '../pipeline/semantic-matcher.ts';
import { semanticTenantPrefix } from '../pipeline/semantic-prompt.ts';
import type { TenancyServices } from '../pipeline/tenancy.ts';
import { RedisCacheStore } from '../store/redis/cache-store.ts';
import { RedisLimitStore } from '../store/redis/limit-store.ts';
import { RedisSemanticStore } from '../store/redis/semantic-store.ts';
import { createStore, type Store } from '../store/sql/create-store.ts';
import type { Budget, Limits } from '../store/sql/tenancy-types.ts';
import type { LimitSpend } from '../store/sql/usage-types.ts';
import {
  type KeyCachePolicy,
  KeyDirectory,
  type KeyPrincipal,
  type KeySource,
  type TenantScopes,
} from '../tenancy/key-directory.ts';
import { ProviderKeyCipher, type ProviderKeys } from '../tenancy/provider-key-cipher.ts';

/** The state layers opened at start: the SQL store, tenant keys in memory, the limiter, the usage ledger. */
export type DependencyState = 'ok' | 'unreachable' | 'not_configured';

export interface Services {
  readonly store: Store;
  readonly keys: KeyDirectory;
  readonly limiter: Limiter;
  readonly ledger: UsageLedger<LedgerRecord>;
  readonly cache: CacheServices;
  /**
   * The shared dependencies as last seen, for `/ready`: the database (the key directory's poll) and Redis (the
   * limiter's last call); neither is asked anything for this.
   */
  dependencies(): { readonly storage: DependencyState; readonly redis: DependencyState };
  /** Stops polling, writes the ledger's last records (up to `deadlineMs`), closes Redis and the database. */
  close(deadlineMs: number): Promise<void>;
}

/**
 * Opens the store (SQLite under `storage.dataDir`, or PostgreSQL with `DATABASE_URL`; migrations run here),
 * loads the active keys, and starts the limiter (on Redis with `REDIS_URL`, else in process) and the ledger
 * writer, then hands them to the pipeline's stages through `tenancy`.
 */
export async function openServices(
  config: Config,
  log: Logger,
  tenancy: TenancyServices,
  /** Embeddings of a model the gateway routes, when `cache.semantic.embedder` names one. */
  embed?: (texts: string[]) => Promise<number[][]>,
): Promise<Services> {
  const store = await createStore(config);
  const secret = config.tenancy.encryptionKey;
  const cipher = secret === undefined ? undefined : new ProviderKeyCipher(secret);
  const keySource = storeKeySource(store, cipher, (projectId, error) =>
    log.warn(
      { projectId, err: error },
      cipher === undefined
        ? "a project's own provider keys are stored but NEXUS_ENCRYPTION_KEY is not set: its traffic uses the gateway's keys"
        : "a project's own provider keys could not be decrypted (another NEXUS_ENCRYPTION_KEY?): its traffic uses the gateway's keys",
    ),
  );
  /** Set once the limiter exists: what a reconnected Redis, or scopes whose limits changed, trigger. */
  let reseed: ((scopes?: Scope[]) => void) | undefined;
  const keys = new KeyDirectory(keySource, {
    onError: (error) =>
      log.warn({ err: error }, 'tenant keys could not be reloaded; the last good set stays'),
    onChanged: (scopes) => reseed?.(scopes),
  });
  const limitStore =
    config.redis.url === undefined
      ? undefined
      : new RedisLimitStore(config.redis.url, {
          keyPrefix: config.redis.keyPrefix,
          // A Redis that restarted may have come back empty: its counters are put back from the ledger.
          onReconnect: () => reseed?.(),
        });
  try {
    await keys.start(config.tenancy.keyRefreshMs);
    await limitStore?.ready();
  } catch (error) {
    keys.stop();
    await Promise.allSettled([limitStore?.close(), store.close()]);
    throw error;
  }
  let redis: DependencyState = limitStore === undefined ? 'not_configured' : 'ok';
  const limiter = new Limiter({
    store: limitStore,
    onStoreHealth: (event) => {
      redis = event.state === 'unavailable' ? 'unreachable' : 'ok';
      if (event.state === 'unavailable') {
        log.warn({ err: event.error }, 'redis unavailable: limits follow their outage policy');
      } else log.info({ failures: event.failures }, 'redis is back: limits are shared again');
    },
  });
  await seedLimits(store, keys.scopes(), limiter, log, 'start');
  reseed = (scopes) =>
    void (scopes === undefined
      ? seedLimits(store, keys.scopes(), limiter, log, 'redis reconnected')
      : seedLimits(store, scopes, limiter, log, 'limits changed'));
  const ledger = new UsageLedger<LedgerRecord>(
    { write: async (records) => void (await store.usage.insert(records)) },
    {
      onError: (error, buffered) =>
        log.warn({ err: error, buffered }, 'usage records could not be written; kept and retried'),
    },
  );
  const cache = await openCache(config, log, embed);
  tenancy.keys = keys;
  tenancy.limiter = limiter;
  tenancy.ledger = ledger;
  tenancy.cache = cache;
  return {
    store,
    keys,
    limiter,
    ledger,
    cache,
    dependencies: () => ({ storage: keys.sourceReachable ? 'ok' : 'unreachable', redis }),
    async close(deadlineMs) {
      keys.stop();
      const unwritten = await ledger.close(deadlineMs);
      if (unwritten > 0)
        log.error({ unwritten }, 'usage records lost at shutdown: the database did not answer');
      await Promise.allSettled([limitStore?.close(), cache.close(), store.close()]);
    },
  };
}

/**
 * Starts the limit counters from the usage ledger: each scope's spend today and this month, its lifetime
 * tokens and its admitted requests this month (`Limiter.seed`), so a restart (or a Redis that came back empty)
 * neither forgets a budget already spent nor hands a plan's quota out again. A failure is reported, not fatal:
 * the gateway then counts from what its store holds, as it did before the ledger existed.
 */
async function seedLimits(
  store: Store,
  scopes: Iterable<Scope>,
  limiter: Limiter,
  log: Logger,
  trigger: 'start' | 'redis reconnected' | 'limits changed',
): Promise<void> {
  // The windows the limiter counts in now (limits/limit-window.ts), so the ledger is read over the same ones.
  const nowMs = Date.now();
  const since = {
    dayStartMs: limitWindow('daily_usd', nowMs).startMs,
    monthStartMs: limitWindow('monthly_usd', nowMs).startMs,
  };
  try {
    const spend = async (level: 'org' | 'project' | 'key' | 'user') => {
      if (trigger !== 'limits changed') return store.usage.limitSpendByScope(level, since);
      // A few scopes whose limits changed: read through the level's index, a few hundred ids per query.
      const ids = [...scopes].filter((scope) => scope.kind === level).map((scope) => scope.id);
      const found = new Map<string, LimitSpend>();
      for (let from = 0; from < ids.length; from += 500) {
        const part = await store.usage.limitSpendByScope(level, since, ids.slice(from, from + 500));
        for (const [id, value] of part) found.set(id, value);
      }
      return found;
    };
    const [org, project, key, user] = await Promise.all([
      spend('org'),
      spend('project'),
      spend('key'),
      spend('user'),
    ]);
    const byKind: Partial<Record<Scope['kind'], Map<string, LimitSpend>>> = { org, project, key, user };
    const counters = await limiter.seed(scopes, (scope) => byKind[scope.kind]?.get(scope.id));
    if (counters > 0) log.info({ counters, trigger }, 'limit counters started from the usage ledger');
  } catch (error) {
    log.warn(
      { err: error, trigger },
      'limit counters could not be started from the usage ledger: they count from the store',
    );
  }
}

/**
 * The response cache: on Redis (shared by replicas) when `cache.store` is `redis`, or `auto` with `REDIS_URL`;
 * else in this process. An unreachable Redis never fails a request (a miss; an answer not stored); failures are
 * logged at most once a minute.
 */
async function openCache(
  config: Config,
  log: Logger,
  embed: ((texts: string[]) => Promise<number[][]>) | undefined,
): Promise<CacheServices> {
  const settings = config.cache;
  const useRedis =
    settings.store === 'redis' || (settings.store === 'auto' && config.redis.url !== undefined);
  if (useRedis && config.redis.url === undefined) {
    throw new Error('cache.store is redis (CACHE_STORE=redis) but REDIS_URL is not set');
  }
  let lastWarning = 0;
  const store =
    useRedis && config.redis.url !== undefined
      ? new RedisCacheStore(config.redis.url, {
          keyPrefix: config.redis.keyPrefix,
          maxEntryBytes: settings.maxEntryBytes,
          onError: (operation, error) => {
            const now = Date.now();
            if (now - lastWarning < 60_000) return;
            lastWarning = now;
            log.warn({ operation, err: error }, 'the response cache on Redis failed: requests go upstream');
          },
        })
      : new MemoryCacheStore({ maxBytes: settings.maxBytes, maxEntryBytes: settings.maxEntryBytes });
  // Always there (its embedding thread starts on first use): a key or a route may opt in when the gateway's
  // default (`cache.semantic.enabled`) is off.
  const opened = openSemanticMatcher(settings.semantic, embed);
  const semantic = opened.matcher;
  // The replicas' prompts, read at start and followed from then on, so every replica matches every prompt
  // (where the gateway or a route turns the semantic cache on; a key alone opting in matches per replica).
  const semanticSync =
    useRedis &&
    config.redis.url !== undefined &&
    (settings.semantic.enabled || Object.values(settings.routes).includes('semantic'))
      ? new RedisSemanticStore(config.redis.url, {
          keyPrefix: config.redis.keyPrefix,
          onError: (error) => log.warn({ err: error }, 'the semantic cache could not share prompts on Redis'),
        })
      : undefined;
  await semanticSync?.start(
    (record) => {
      void semantic.remember(record.partition, record.id, record.text, record.vector);
    },
    (tenant) => semantic.clear(semanticTenantPrefix(tenant)),
  );
  return {
    settings,
    store,
    coalescer: settings.coalesce
      ? new Coalescer<Flight>({ keepWhile: keepFlight, sharedFailure, abandoned: leaderLeft })
      : undefined,
    semantic,
    semanticSync,
    close: async () => {
      await Promise.allSettled([store.close(), semanticSync?.close(), opened.close()]);
    },
  };
}

/**
 * The store as the key directory reads it: active keys with the limits of their project and org, and the
 * project's own provider keys, decrypted (a project whose keys cannot be opened is reported and served with
 * the gateway's keys, rather than locked out).
 */
function storeKeySource(
  store: Store,
  cipher: ProviderKeyCipher | undefined,
  onUnreadable: (projectId: string, error: unknown) => void,
): KeySource {
  return {
    changeVersion: () => store.version(),
    async load() {
      const [keys, projects, organizations, users] = await Promise.all([
        store.apiKeys.listActive(),
        store.projects.list(),
        store.organizations.list(),
        store.users.list(),
      ]);
      // A user's plan quota (seed 000): requests per calendar month, the user's own scope on each of its keys.
      const quotaScopes = new Map<string, Scope>();
      for (const user of users) {
        if (user.requestQuota === null) continue;
        quotaScopes.set(user.id, {
          kind: 'user',
          id: user.id,
          limits: { monthly_requests: user.requestQuota },
        });
      }
      const providerKeys = new Map<string, ProviderKeys>();
      for (const project of projects) {
        if (!project.hasProviderKeys) continue;
        try {
          if (cipher === undefined) throw new Error('NEXUS_ENCRYPTION_KEY is not set');
          const sealed = await store.projects.getProviderKeysCiphertext(project.id);
          if (sealed != null) providerKeys.set(project.id, cipher.open(project.id, sealed));
        } catch (error) {
          onUnreadable(project.id, error);
        }
      }
      // Each org's and project's scopes are built once and shared by its keys and its tokens (auth.jwt).
      const orgTenants = new Map<string, TenantScopes>();
      for (const org of organizations) {
        orgTenants.set(org.id, {
          orgId: org.id,
          projectId: null,
          scopes: [scope('org', org.id, org.limits, org.budget)],
          providerKeys: null,
        });
      }
      const projectTenants = new Map<string, TenantScopes>();
      for (const project of projects) {
        projectTenants.set(project.id, {
          orgId: project.orgId,
          projectId: project.id,
          scopes: [
            scope('project', project.id, project.limits, project.budget),
            ...(orgTenants.get(project.orgId)?.scopes ?? []),
          ],
          providerKeys: providerKeys.get(project.id) ?? null,
        });
      }
      const tenants = [...orgTenants.values(), ...projectTenants.values()];
      const principals = keys.map((key): KeyPrincipal => {
        const tenant =
          (key.projectId === null ? undefined : projectTenants.get(key.projectId)) ??
          orgTenants.get(key.orgId);
        const quota = key.userId === null ? undefined : quotaScopes.get(key.userId);
        const scopes: Scope[] = [scope('key', key.id, key.limits, key.budget)];
        if (quota !== undefined) scopes.push(quota);
        scopes.push(...(tenant?.scopes ?? []));
        return {
          keyId: key.id,
          keyHash: key.keyHash,
          orgId: key.orgId,
          projectId: key.projectId,
          userId: key.userId,
          models: key.models,
          expiresAt: key.expiresAt,
          scopes,
          providerKeys: tenant?.providerKeys ?? null,
          cache: keyCachePolicy(key.metadata.cache),
        };
      });
      return { keys: principals, tenants };
    },
  };
}

/** A key's `metadata.cache`: `false` or `"off"`, `"exact"` (or `true`), `"semantic"`; anything else: the gateway's. */
function keyCachePolicy(value: unknown): KeyCachePolicy | undefined {
  if (value === false || value === 'off') return 'off';
  if (value === true || value === 'exact') return 'exact';
  if (value === 'semantic') return 'semantic';
  return undefined;
}

function scope(kind: Scope['kind'], id: string, limits: Limits, budget: Budget): Scope {
  return {
    kind,
    id,
    limits: { rpm: limits.rpm, rph: limits.rph, tpm: limits.tpm, token_budget: limits.tokenBudget },
    budget: { daily_usd: budget.dailyUsd, monthly_usd: budget.monthlyUsd },
  };
}
