/**
 * The tables as kysely sees them, column names as in the database (snake_case). The same shapes hold on
 * SQLite and PostgreSQL: timestamps are epoch milliseconds (`BIGINT`), money is integer nano-USD (`BIGINT`,
 * 1 USD = 1e9), JSON is stored as text (so it reads back byte for byte, unlike `jsonb`), and booleans are
 * `0`/`1` integers (better-sqlite3 cannot bind booleans). Only files in `src/store/sql/` use these types.
 */

/** Rate limits and USD budgets, on organizations, projects and API keys; null means unlimited. */
export interface LimitColumns {
  limit_rpm: number | null;
  limit_rph: number | null;
  limit_tpm: number | null;
  limit_token_budget: number | null;
  budget_daily_nano_usd: number | null;
  budget_monthly_nano_usd: number | null;
}

export interface OrganizationsTable extends LimitColumns {
  id: string;
  name: string;
  created_at: number;
}

export interface ProjectsTable extends LimitColumns {
  id: string;
  org_id: string;
  name: string;
  /** The project's own provider keys, encrypted by the caller; never returned by a listing. */
  provider_keys_ciphertext: Uint8Array | null;
  created_at: number;
}

export interface UsersTable {
  id: string;
  org_id: string;
  /** As given. */
  email: string;
  /** Lower-cased; the unique column, so `Ann@x.io` and `ann@x.io` are one user. */
  email_normalized: string;
  name: string;
  plan: string;
  request_quota: number | null;
  created_at: number;
}

export interface ApiKeysTable extends LimitColumns {
  id: string;
  /** SHA-256 of the whole key, lower-case hex. */
  key_hash: string;
  key_prefix: string;
  name: string;
  org_id: string;
  project_id: string | null;
  user_id: string | null;
  /** JSON array of model names, or null for every model. */
  models: string | null;
  /** JSON object. */
  metadata: string;
  expires_at: number | null;
  revoked_at: number | null;
  created_at: number;
  last_used_at: number | null;
}

export interface UsageTable {
  request_id: string;
  attempt: number;
  created_at: number;
  org_id: string | null;
  project_id: string | null;
  key_id: string | null;
  user_id: string | null;
  provider: string | null;
  model: string;
  route: string;
  status: number;
  error_code: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cache_write_tokens: number;
  cost_nano_usd: number;
  savings_nano_usd: number;
  latency_ms: number;
  ttft_ms: number | null;
  cache_result: string | null;
  streamed: number;
  outcome: string;
}

/** One row (`id = 1`) whose `version` goes up in the same transaction as every tenancy change. */
export interface StoreVersionTable {
  id: number;
  version: number;
}

export interface MigrationsTable {
  version: number;
  name: string;
  applied_at: number;
}

export interface Tables {
  organizations: OrganizationsTable;
  projects: ProjectsTable;
  users: UsersTable;
  api_keys: ApiKeysTable;
  usage: UsageTable;
  store_version: StoreVersionTable;
  nexus_migrations: MigrationsTable;
}
