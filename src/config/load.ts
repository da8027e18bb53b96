import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { type Config, configSchema } from './schema.ts';

/** A configuration problem found at boot; the message names the exact path of the bad value. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadConfigOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** YAML file; default `NEXUS_CONFIG`, else `nexus.yaml` in the working directory when it exists. */
  readonly file?: string | undefined;
  /** Catalogue provider ids, used to find `<ID>_API_KEY`, `<ID>_KEY_n` and `<ID>_BASE_URL` in the env. */
  readonly providerIds: readonly string[];
}

type Tree = Record<string, unknown>;

/** Loads, validates and freezes the configuration. Throws ConfigError on any bad value. */
export function loadConfig(options: LoadConfigOptions): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.NEXUS_CONFIG ?? (existsSync('nexus.yaml') ? 'nexus.yaml' : undefined);
  const fromFile = file === undefined ? {} : readConfigFile(file, env);
  const sources = new Map<string, string>();
  const merged = applyEnv(fromFile, env, options.providerIds, sources);
  const result = configSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, file, sources));
  return deepFreeze(result.data);
}

function readConfigFile(file: string, env: NodeJS.ProcessEnv): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`config file ${file}: cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${file}: not valid YAML: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file}: the top level must be a mapping`);
  }
  return interpolate(parsed, env, file, []) as Tree;
}

const envReference = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in a string. An unset VAR without a default is a ConfigError that
 * names `where` (a file and path, or a catalogue entry).
 */
export function expandEnvReferences(text: string, env: NodeJS.ProcessEnv, where: string): string {
  return text.replace(envReference, (_match, name: string, fallback: string | undefined) => {
    const found = env[name];
    if (found !== undefined) return found;
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`${where}: environment variable ${name} is not set`);
  });
}

/** Expands env references in every string of the file. */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, file: string, path: string[]): unknown {
  if (typeof value === 'string') {
    const expanded = expandEnvReferences(value, env, `config file ${file}: ${path.join('.')}`);
    // `port: ${PORT}` should be a number, as if the value had been written in place.
    if (expanded !== value && /^\$\{[^}]+\}$/.test(value)) {
      const typed: unknown = parseYaml(expanded);
      if (typeof typed === 'number' || typeof typed === 'boolean') return typed;
    }
    return expanded;
  }
  if (Array.isArray(value))
    return value.map((item, index) => interpolate(item, env, file, [...path, String(index)]));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolate(item, env, file, [...path, key])]),
    );
  }
  return value;
}

function applyEnv(
  base: Tree,
  env: NodeJS.ProcessEnv,
  providerIds: readonly string[],
  sources: Map<string, string>,
) {
  const tree = structuredClone(base);
  const set = (path: string[], value: unknown, name: string) => {
    let node = tree;
    for (const key of path.slice(0, -1)) {
      const next = node[key];
      node[key] = next !== null && typeof next === 'object' && !Array.isArray(next) ? next : {};
      node = node[key] as Tree;
    }
    node[path.at(-1)!] = value;
    sources.set(path.join('.'), name);
  };
  const scalar = (name: string, path: string[], kind: 'string' | 'number' | 'boolean') => {
    const raw = env[name];
    if (raw === undefined || raw === '') return;
    set(path, kind === 'string' ? raw : kind === 'number' ? numberOrRaw(raw) : booleanOrRaw(raw), name);
  };

  scalar('PORT', ['server', 'port'], 'number');
  scalar('HOST', ['server', 'host'], 'string');
  scalar('NEXUS_BODY_LIMIT_BYTES', ['server', 'bodyLimitBytes'], 'number');
  scalar('NEXUS_ALLOW_PUBLIC', ['server', 'allowUnauthenticatedPublic'], 'boolean');
  scalar('NEXUS_MASTER_KEY', ['auth', 'masterKey'], 'string');
  scalar('METRICS_ENABLED', ['metrics', 'enabled'], 'boolean');
  scalar('METRICS_TOKEN', ['metrics', 'token'], 'string');
  scalar('CACHE_ENABLED', ['cache', 'enabled'], 'boolean');
  scalar('CACHE_TTL_SECONDS', ['cache', 'ttlSeconds'], 'number');
  scalar('CACHE_MAX_BYTES', ['cache', 'maxBytes'], 'number');
  scalar('CACHE_STORE', ['cache', 'store'], 'string');
  scalar('SEMANTIC_CACHE_ENABLED', ['cache', 'semantic', 'enabled'], 'boolean');
  scalar('SEMANTIC_CACHE_THRESHOLD', ['cache', 'semantic', 'threshold'], 'number');
  scalar('SEMANTIC_CACHE_EMBEDDER', ['cache', 'semantic', 'embedder'], 'string');
  scalar('SEMANTIC_CACHE_DIMENSIONS', ['cache', 'semantic', 'dimensions'], 'number');
  scalar('NEXUS_SIGNUP', ['tenancy', 'signup', 'enabled'], 'boolean');
  scalar('NEXUS_SIGNUP_PER_HOUR', ['tenancy', 'signup', 'perHour'], 'number');
  scalar('NEXUS_SIGNUP_REQUEST_QUOTA', ['tenancy', 'signup', 'requestQuota'], 'number');
  scalar('NEXUS_JWT_SECRET', ['auth', 'jwt', 'secret'], 'string');
  scalar('NEXUS_JWT_JWKS_URL', ['auth', 'jwt', 'jwksUrl'], 'string');
  scalar('NEXUS_JWT_ISSUER', ['auth', 'jwt', 'issuer'], 'string');
  scalar('NEXUS_JWT_AUDIENCE', ['auth', 'jwt', 'audience'], 'string');
  scalar('NEXUS_JWT_ORG_CLAIM', ['auth', 'jwt', 'orgClaim'], 'string');
  scalar('NEXUS_JWT_PROJECT_CLAIM', ['auth', 'jwt', 'projectClaim'], 'string');
  scalar('NEXUS_JWT_ADMIN_CLAIM', ['auth', 'jwt', 'adminClaim'], 'string');
  scalar('LOG_LEVEL', ['log', 'level'], 'string');
  scalar('UPSTREAM_CONNECT_TIMEOUT_MS', ['upstream', 'connectTimeoutMs'], 'number');
  scalar('REQUEST_TIMEOUT_MS', ['upstream', 'requestTimeoutMs'], 'number');
  scalar('NEXUS_DEMO_LATENCY_MS', ['demo', 'latencyMs'], 'number');
  scalar('FIRST_TOKEN_TIMEOUT_MS', ['upstream', 'firstTokenTimeoutMs'], 'number');
  scalar('STREAM_STALL_TIMEOUT_MS', ['upstream', 'streamStallTimeoutMs'], 'number');
  scalar('UPSTREAM_RESPONSE_TIMEOUT_MS', ['upstream', 'responseTimeoutMs'], 'number');
  scalar('REJECTED_KEY_COOLDOWN_MS', ['routing', 'rejectedKeyCooldownMs'], 'number');
  scalar('NEXUS_KEY_REFRESH_MS', ['tenancy', 'keyRefreshMs'], 'number');
  scalar('NEXUS_ENCRYPTION_KEY', ['tenancy', 'encryptionKey'], 'string');
  scalar('ROUTING_MODE', ['routing', 'mode'], 'string');
  scalar('CIRCUIT_BREAKER_THRESHOLD', ['routing', 'breaker', 'failureThreshold'], 'number');
  scalar('CIRCUIT_BREAKER_RESET_MS', ['routing', 'breaker', 'resetTimeoutMs'], 'number');
  scalar('MAX_ATTEMPTS', ['routing', 'maxAttempts'], 'number');
  scalar('REDIS_URL', ['redis', 'url'], 'string');
  scalar('REDIS_KEY_PREFIX', ['redis', 'keyPrefix'], 'string');
  scalar('SHUTDOWN_TIMEOUT_MS', ['shutdown', 'timeoutMs'], 'number');
  scalar('DATABASE_URL', ['database', 'url'], 'string');
  scalar('DATABASE_POOL_SIZE', ['database', 'poolSize'], 'number');
  scalar('DATABASE_SCHEMA', ['database', 'schema'], 'string');
  scalar('NEXUS_DATA_DIR', ['storage', 'dataDir'], 'string');
  scalar('STRIPE_SECRET_KEY', ['billing', 'stripeSecretKey'], 'string');
  scalar('STRIPE_WEBHOOK_SECRET', ['billing', 'stripeWebhookSecret'], 'string');
  scalar('STRIPE_PRICE_ID', ['billing', 'stripePriceId'], 'string');
  scalar('STRIPE_API_BASE_URL', ['billing', 'stripeApiBaseUrl'], 'string');
  scalar('STRIPE_SUCCESS_URL', ['billing', 'successUrl'], 'string');
  scalar('STRIPE_CANCEL_URL', ['billing', 'cancelUrl'], 'string');
  scalar('NEXUS_PAID_PLAN_REQUEST_QUOTA', ['billing', 'paidPlan', 'requestQuota'], 'number');
  const demo = env.NEXUS_DEMO;
  if (demo !== undefined && demo !== '')
    set(['demo', 'enabled'], demo === 'auto' ? 'auto' : booleanOrRaw(demo), 'NEXUS_DEMO');
  const cors = env.CORS_ORIGINS ?? env.CORS_ORIGIN;
  if (cors !== undefined && cors !== '') {
    const origins = cors
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean);
    set(['server', 'corsOrigins'], origins, env.CORS_ORIGINS === undefined ? 'CORS_ORIGIN' : 'CORS_ORIGINS');
  }

  for (const id of providerIds) {
    const prefix = id.toUpperCase().replaceAll('-', '_');
    const pool = Object.keys(env)
      .map((name) => ({ name, match: new RegExp(`^${prefix}_KEY_(\\d+)$`).exec(name) }))
      .filter((entry) => entry.match !== null && env[entry.name] !== '')
      .sort((a, b) => Number(a.match![1]) - Number(b.match![1]))
      .map((entry) => env[entry.name]!);
    const single = env[`${prefix}_API_KEY`];
    const keys = single !== undefined && single !== '' ? [single, ...pool] : pool;
    if (keys.length > 0) set(['providers', id, 'apiKeys'], keys, `${prefix}_API_KEY / ${prefix}_KEY_n`);
    scalar(`${prefix}_BASE_URL`, ['providers', id, 'baseUrl'], 'string');
    scalar(`${prefix}_API_VERSION`, ['providers', id, 'apiVersion'], 'string');
  }
  return tree;
}

function numberOrRaw(raw: string): unknown {
  const value = Number(raw);
  return raw.trim() !== '' && Number.isFinite(value) ? value : raw;
}

function booleanOrRaw(raw: string): unknown {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  return raw;
}

function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  file: string | undefined,
  sources: Map<string, string>,
) {
  const lines = issues.map((issue) => {
    const path = issue.path.map(String).join('.') || '(root)';
    const source = sources.get(path);
    const origin = source !== undefined ? ` (from env ${source})` : file !== undefined ? ` (in ${file})` : '';
    return `${path}${origin}: ${issue.message}`;
  });
  return `invalid configuration:\n  ${lines.join('\n  ')}`;
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}
