import { z } from 'zod';

/**
 * The one configuration schema. Layers, later wins: these defaults ← the YAML file (`NEXUS_CONFIG`, or
 * `nexus.yaml` in the working directory when present) ← environment variables. Validated once at boot,
 * then deep-frozen; unknown keys are rejected so a typo cannot silently do nothing.
 */

const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

const providerConfig = z.strictObject({
  /** API keys; each one becomes an instance named `"<Provider> (Key #n)"`. */
  apiKeys: z.array(z.string().min(1)).default([]),
  /** Overrides the catalogue's base URL (include the version path, e.g. `/v1`). */
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Set false to keep a provider off even when its key is present. */
  enabled: z.boolean().default(true),
  /** API version for providers that version by query string (Azure OpenAI's `api-version`). */
  apiVersion: z.string().min(1).optional(),
  /** Extra headers sent upstream on every request to this provider. */
  headers: z.record(z.string(), z.string()).default({}),
});

const routingMode = z.enum(['smart', 'fastest', 'round-robin', 'weighted', 'least-latency', 'cheapest']);

const groupConfig = z.strictObject({
  /** Models served in turn by the routing mode; each is any model name (`provider/model`, catalogued id, alias). */
  targets: z
    .array(z.strictObject({ model: z.string().min(1), weight: z.number().positive().default(1) }))
    .min(1),
  /** Tried in order once every target has failed. */
  fallbacks: z.array(z.string().min(1)).default([]),
  routing: routingMode.optional(),
  /** Where a context-length refusal goes instead of failing (a larger-context model). */
  contextFallback: z.string().min(1).optional(),
  /** After the first byte: `error` ends the stream with an error event; `continue` resumes on a fallback. */
  streamRecovery: z.enum(['error', 'continue']).default('error'),
  /** Start a backup attempt when the first token is later than the group's p95 time to first token. */
  hedge: z.boolean().default(false),
  firstTokenTimeoutMs: z.int().min(0).optional(),
  streamStallTimeoutMs: z.int().min(0).optional(),
  responseTimeoutMs: z.int().min(0).optional(),
  requestTimeoutMs: z.int().min(1).optional(),
});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().min(1).optional(),
      port: z.int().min(0).max(65535).default(3000),
      /** Largest accepted request body, in bytes. */
      bodyLimitBytes: z
        .int()
        .min(1024)
        .max(256 * 1024 * 1024)
        .default(4 * 1024 * 1024),
      /** Origins allowed by CORS; `*` allows any. Empty: no CORS headers. */
      corsOrigins: z.array(z.string().min(1)).default([]),
      /** Serve without `NEXUS_MASTER_KEY` on a non-loopback address (not recommended). */
      allowUnauthenticatedPublic: z.boolean().default(false),
    })
    .prefault({}),
  auth: z
    .strictObject({
      /** When set, `/v1/*` and `/api/*` require it as `Authorization: Bearer` or `X-API-Key`. */
      masterKey: z.string().min(8).optional(),
      /**
       * JSON Web Tokens accepted in place of a key (`Authorization: Bearer <jwt>`), verified with a shared
       * secret (HS256/384/512) or an identity provider's JWKS. A token whose `adminClaim` is `true` acts as the
       * master key; otherwise its `orgClaim` (and `projectClaim`, when present) name the organization and project
       * it acts for, under their limits and budgets.
       */
      jwt: z
        .strictObject({
          secret: z.string().min(32, 'must be at least 32 characters (256 bits)').optional(),
          jwksUrl: z.url({ protocol: /^https?$/ }).optional(),
          /** Required `iss`, when set. */
          issuer: z.string().min(1).optional(),
          /** Required `aud`, when set. */
          audience: z.string().min(1).optional(),
          orgClaim: z.string().min(1).default('org_id'),
          projectClaim: z.string().min(1).default('project_id'),
          adminClaim: z.string().min(1).default('nexus_admin'),
        })
        .refine((jwt) => (jwt.secret === undefined) !== (jwt.jwksUrl === undefined), {
          message: 'set exactly one of secret (NEXUS_JWT_SECRET) and jwksUrl (NEXUS_JWT_JWKS_URL)',
        })
        .optional(),
    })
    .prefault({}),
  log: z.strictObject({ level: logLevel.default('info') }).prefault({}),
  upstream: z
    .strictObject({
      /** TCP+TLS connect timeout per upstream attempt, in milliseconds. */
      connectTimeoutMs: z.int().min(1).default(10_000),
      /** Total time allowed for one request, in milliseconds. */
      requestTimeoutMs: z.int().min(1).default(600_000),
      /** Keep-alive sockets per upstream origin. */
      connectionsPerOrigin: z.int().min(1).max(10_000).default(256),
      /** Time allowed from sending a stream request to its first event, in milliseconds; 0 disables. */
      firstTokenTimeoutMs: z.int().min(0).default(8_000),
      /** Longest silence allowed between two stream events, in milliseconds; 0 disables. */
      streamStallTimeoutMs: z.int().min(0).default(30_000),
      /**
       * Longest wait for one non-stream attempt's whole response (headers and body), in milliseconds, before it
       * fails over as a timeout; 0 disables. Non-stream replies arrive only once generated, so this is longer
       * than the first-token timeout.
       */
      responseTimeoutMs: z.int().min(0).default(120_000),
    })
    .prefault({}),
  routing: z
    .strictObject({
      /** Default routing mode; `X-Routing-Mode` and a group's `routing` override it. */
      mode: routingMode.default('smart'),
      breaker: z
        .strictObject({
          failureThreshold: z.int().min(1).default(3),
          /** Milliseconds an open circuit waits before probing. */
          resetTimeoutMs: z.int().min(1).default(60_000),
          halfOpenProbes: z.int().min(1).default(1),
        })
        .prefault({}),
      /** Most upstream attempts for one request, across retries and failover. */
      maxAttempts: z.int().min(1).max(50).default(6),
      /** How long a key the provider refused (401/403) stays out of rotation, in milliseconds. */
      rejectedKeyCooldownMs: z.int().min(0).default(300_000),
    })
    .prefault({}),
  /** Model groups: a name that routes over several targets with weights and ordered fallbacks. */
  groups: z.record(z.string().min(1), groupConfig).default({}),
  redis: z
    .strictObject({
      /** `redis://...`; when set, circuit breakers are shared by every replica using it. */
      url: z
        .string()
        .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
        .optional(),
      /** Prefix of every key and channel, so deployments can share one Redis. */
      keyPrefix: z.string().min(1).default('nexus:'),
    })
    .prefault({}),
  /** Prometheus metrics at `GET /metrics` (docs/observability.md lists them). */
  metrics: z
    .strictObject({
      /** Count requests, tokens, costs, cache results and decisions, and serve them at `/metrics`. */
      enabled: z.boolean().default(true),
      /** A bearer token that may read `/metrics` besides the master key (for a scraper that should hold no admin key). */
      token: z.string().min(16).max(512).optional(),
    })
    .prefault({}),
  /**
   * The response cache (SPEC §3.3): exact answers keyed by tenant + model + canonical request, in process
   * (bounded in bytes, least recently used evicted) or on Redis with `REDIS_URL` (shared by replicas); and,
   * when enabled, the semantic cache beside it.
   */
  cache: z
    .strictObject({
      /** Answer repeated requests from the cache (seed 004: `cache` defaults to true). Per request: `cache: false`, `Cache-Control: no-store`, `x-nexus-cache: bypass`. */
      enabled: z.boolean().default(true),
      /** How long an answer is kept, seconds, unless the request sets `cacheTtl` / `x-nexus-cache-ttl`. */
      ttlSeconds: z.int().min(60).max(86_400).default(3600),
      /** The in-process store's size, bytes (serialized entries). */
      maxBytes: z
        .int()
        .min(1024 * 1024)
        .default(64 * 1024 * 1024),
      /** Largest answer stored, bytes. */
      maxEntryBytes: z
        .int()
        .min(1024)
        .default(1024 * 1024),
      /** Where answers live: `memory` (this process), `redis` (shared; needs `REDIS_URL`), `auto` (redis when `REDIS_URL` is set). */
      store: z.enum(['auto', 'memory', 'redis']).default('auto'),
      /** Identical concurrent requests make one upstream call; the others wait for it (and count as hits). */
      coalesce: z.boolean().default(true),
      /**
       * Per route (`/v1/chat/completions`, `/api/v1/completions/chat`, ...): `off`, `exact`, or `semantic` (the
       * semantic cache too). A key's own `metadata.cache` wins over its route's; a route not named follows
       * `enabled` and `semantic.enabled`.
       */
      routes: z
        .record(
          z.string().regex(/^\/[\w/.-]{0,200}$/, 'must be a route path such as /v1/chat/completions'),
          z.enum(['off', 'exact', 'semantic']),
        )
        .default({}),
      semantic: z
        .strictObject({
          /** Opt-in: answer a prompt close enough in meaning to an earlier one of the same partition. */
          enabled: z.boolean().default(false),
          /** Override of the matcher's shipped cosine threshold (docs/semantic-cache.md has the measured curve). */
          threshold: z.number().min(0.5).max(1).optional(),
          /** Also for conversations of several turns (off: only a single user message, with or without a system prompt). */
          multiTurn: z.boolean().default(false),
          /** Also for requests with tools. */
          tools: z.boolean().default(false),
          /**
           * `local` (Universal Sentence Encoder Lite from npm, offline, on its own thread), or a model the gateway
           * routes (`openai/text-embedding-3-small`), called through the gateway and billed to it in the ledger.
           */
          embedder: z.string().min(1).max(200).default('local'),
          /** The vectors' length asked of a provider's embedder (required with one; sent as `dimensions`). */
          dimensions: z.int().min(8).max(8192).optional(),
        })
        .prefault({}),
    })
    .prefault({}),
  database: z
    .strictObject({
      /** `postgres://user:password@host:port/database`; when set, PostgreSQL holds tenancy and usage instead of SQLite. */
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
        .optional(),
      /** Most connections in the PostgreSQL pool (per process). */
      poolSize: z.int().min(1).max(1000).default(10),
      /** PostgreSQL schema holding Nexus's tables, created at start when missing. A plain lower-case identifier. */
      schema: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case identifier (letters, digits, _; at most 63)')
        .default('public'),
    })
    .prefault({}),
  tenancy: z
    .strictObject({
      /**
       * How often each replica checks the store for changed keys and limits, in milliseconds: a key revoked on
       * one replica stops working on every replica within about this long.
       */
      keyRefreshMs: z.int().min(50).max(60_000).default(500),
      /**
       * 32 random bytes in base64 (`openssl rand -base64 32`): the AES-256-GCM key under which projects' own
       * provider keys (seed 004's `openaiKey`, `anthropicKey`) are stored. Unset: such keys are refused.
       */
      encryptionKey: z
        .string()
        .refine(
          (text) => /^[A-Za-z0-9+/]{43}=$/.test(text.trim()),
          'must be 32 bytes in base64 (44 characters, e.g. from `openssl rand -base64 32`)',
        )
        .optional(),
      /**
       * Seed 000's self-service signup, `POST /api/register`: off unless enabled. Each signup gets an organization
       * on the free plan (its limits below, seed 003's defaults), a project, a user and a key shown once; at most
       * `perHour` signups per client address per hour (counted across replicas on Redis).
       */
      signup: z
        .strictObject({
          enabled: z.boolean().default(false),
          perHour: z.int().min(1).max(100_000).default(5),
          /** The free plan's request quota per UTC calendar month, on the new user (null: none). */
          requestQuota: z.int().min(0).nullable().default(1000),
          limits: z
            .strictObject({
              rpm: z.int().min(0).nullable().default(60),
              rph: z.int().min(0).nullable().default(1000),
              tpm: z.int().min(0).nullable().default(null),
              tokenBudget: z.int().min(0).nullable().default(100_000),
            })
            .prefault({}),
        })
        .prefault({}),
    })
    .prefault({}),
  /**
   * Seed 000's paid plan through Stripe: `POST /api/checkout` opens a Checkout Session for `priceId` (a
   * subscription) for the calling user, and `POST /api/webhook` (signed with `webhookSecret`) upgrades the user
   * to `paidPlan` when the checkout completes, and back to the free plan when the subscription ends.
   */
  billing: z
    .strictObject({
      stripeSecretKey: z.string().min(1).optional(),
      stripeWebhookSecret: z.string().min(1).optional(),
      stripePriceId: z.string().min(1).optional(),
      /** Stripe's API origin; only changed for a proxy or a test double. */
      stripeApiBaseUrl: z.url({ protocol: /^https?$/ }).default('https://api.stripe.com'),
      successUrl: z.url().default('http://localhost:3000/billing/success'),
      cancelUrl: z.url().default('http://localhost:3000/billing/cancel'),
      paidPlan: z
        .strictObject({
          name: z.string().min(1).max(64).default('pro'),
          /** Requests per UTC month on the paid plan (null: none). */
          requestQuota: z.int().min(0).nullable().default(100_000),
        })
        .prefault({}),
    })
    .prefault({}),
  storage: z
    .strictObject({
      /** Directory of the embedded SQLite database (`nexus.db`), created on first start; `:memory:` keeps nothing. */
      dataDir: z.string().min(1).default('./data'),
    })
    .prefault({}),
  shutdown: z
    .strictObject({
      /** How long SIGTERM waits for in-flight requests and streams, in milliseconds. */
      timeoutMs: z.int().min(0).default(10_000),
    })
    .prefault({}),
  /** Provider settings by catalogue id (`openai`, `groq`, ...). */
  providers: z.record(z.string().regex(/^[a-z0-9-]+$/), providerConfig).default({}),
  /** Extra model names: `{ fast: 'groq/llama-3.1-8b-instant' }`. */
  aliases: z.record(z.string().min(1), z.string().min(1)).default({}),
  demo: z
    .strictObject({
      /** `auto`: on only when no real provider is configured. */
      enabled: z.union([z.boolean(), z.literal('auto')]).default('auto'),
      /** Delay before the demo provider answers (and between streamed words), in milliseconds. */
      latencyMs: z.int().min(0).max(60_000).default(0),
    })
    .prefault({}),
  /** Catalogue overrides, merged over catalog/*.yaml (same shapes). */
  catalog: z
    .strictObject({ providers: z.array(z.unknown()).default([]), models: z.array(z.unknown()).default([]) })
    .prefault({}),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type ProviderConfig = z.output<typeof providerConfig>;
export type GroupConfig = z.output<typeof groupConfig>;
export type LogLevel = z.output<typeof logLevel>;
