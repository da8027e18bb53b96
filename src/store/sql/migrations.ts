import type { CreateTableBuilder, Kysely } from 'kysely';
import type { SqlDialect } from './open-database.ts';
import type { Tables } from './tables.ts';

/**
 * One schema change, written once for both dialects with kysely's schema builder. Forward-only: a released
 * migration is never edited, a change is a new one with the next number.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: Kysely<Tables>, dialect: SqlDialect): Promise<void>;
}

function limitColumns<Table extends string, Columns extends string>(
  table: CreateTableBuilder<Table, Columns>,
) {
  return table
    .addColumn('limit_rpm', 'bigint')
    .addColumn('limit_rph', 'bigint')
    .addColumn('limit_tpm', 'bigint')
    .addColumn('limit_token_budget', 'bigint')
    .addColumn('budget_daily_nano_usd', 'bigint')
    .addColumn('budget_monthly_nano_usd', 'bigint');
}

const tenancyAndLedger: Migration = {
  version: 1,
  name: 'tenancy and usage ledger',
  async up(db, dialect) {
    const bytes = dialect === 'postgres' ? 'bytea' : 'blob';
    await limitColumns(
      db.schema
        .createTable('organizations')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('name', 'text', (column) => column.notNull()),
    )
      .addColumn('created_at', 'bigint', (column) => column.notNull())
      .execute();
    await limitColumns(
      db.schema
        .createTable('projects')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('org_id', 'text', (column) =>
          column.notNull().references('organizations.id').onDelete('cascade'),
        )
        .addColumn('name', 'text', (column) => column.notNull()),
    )
      .addColumn('provider_keys_ciphertext', bytes)
      .addColumn('created_at', 'bigint', (column) => column.notNull())
      .execute();
    await db.schema.createIndex('projects_org').on('projects').columns(['org_id', 'created_at']).execute();

    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('org_id', 'text', (column) =>
        column.notNull().references('organizations.id').onDelete('cascade'),
      )
      .addColumn('email', 'text', (column) => column.notNull())
      .addColumn('email_normalized', 'text', (column) => column.notNull().unique())
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('plan', 'text', (column) => column.notNull())
      .addColumn('request_quota', 'bigint')
      .addColumn('created_at', 'bigint', (column) => column.notNull())
      .execute();
    await db.schema.createIndex('users_org').on('users').columns(['org_id', 'created_at']).execute();

    await limitColumns(
      db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('key_hash', 'text', (column) => column.notNull().unique())
        .addColumn('key_prefix', 'text', (column) => column.notNull())
        .addColumn('name', 'text', (column) => column.notNull())
        .addColumn('org_id', 'text', (column) =>
          column.notNull().references('organizations.id').onDelete('cascade'),
        )
        .addColumn('project_id', 'text', (column) => column.references('projects.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (column) => column.references('users.id').onDelete('cascade'))
        .addColumn('models', 'text')
        .addColumn('metadata', 'text', (column) => column.notNull()),
    )
      .addColumn('expires_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .addColumn('created_at', 'bigint', (column) => column.notNull())
      .addColumn('last_used_at', 'bigint')
      .execute();
    await db.schema.createIndex('api_keys_org').on('api_keys').columns(['org_id', 'created_at']).execute();
    await db.schema.createIndex('api_keys_project').on('api_keys').column('project_id').execute();
    await db.schema.createIndex('api_keys_user').on('api_keys').column('user_id').execute();

    // The ledger has no foreign keys: a record outlives the key or project it names, and writing it never
    // waits on a lookup.
    await db.schema
      .createTable('usage')
      .addColumn('request_id', 'text', (column) => column.notNull())
      .addColumn('attempt', 'integer', (column) => column.notNull())
      .addColumn('created_at', 'bigint', (column) => column.notNull())
      .addColumn('org_id', 'text')
      .addColumn('project_id', 'text')
      .addColumn('key_id', 'text')
      .addColumn('user_id', 'text')
      .addColumn('provider', 'text')
      .addColumn('model', 'text', (column) => column.notNull())
      .addColumn('route', 'text', (column) => column.notNull())
      .addColumn('status', 'integer', (column) => column.notNull())
      .addColumn('error_code', 'text')
      .addColumn('prompt_tokens', 'integer', (column) => column.notNull())
      .addColumn('completion_tokens', 'integer', (column) => column.notNull())
      .addColumn('cached_tokens', 'integer', (column) => column.notNull())
      .addColumn('cache_write_tokens', 'integer', (column) => column.notNull())
      .addColumn('cost_nano_usd', 'bigint', (column) => column.notNull())
      .addColumn('savings_nano_usd', 'bigint', (column) => column.notNull())
      .addColumn('latency_ms', 'integer', (column) => column.notNull())
      .addColumn('ttft_ms', 'integer')
      .addColumn('cache_result', 'text')
      .addColumn('streamed', 'integer', (column) => column.notNull())
      .addColumn('outcome', 'text', (column) => column.notNull())
      .addPrimaryKeyConstraint('usage_request_attempt', ['request_id', 'attempt'])
      .execute();
    // Time-range queries, alone or within one tenant scope (aggregates, log search, spend since an instant).
    await db.schema.createIndex('usage_created').on('usage').column('created_at').execute();
    await db.schema.createIndex('usage_org_created').on('usage').columns(['org_id', 'created_at']).execute();
    await db.schema
      .createIndex('usage_project_created')
      .on('usage')
      .columns(['project_id', 'created_at'])
      .execute();
    await db.schema.createIndex('usage_key_created').on('usage').columns(['key_id', 'created_at']).execute();

    await db.schema
      .createTable('store_version')
      .addColumn('id', 'integer', (column) => column.primaryKey())
      .addColumn('version', 'bigint', (column) => column.notNull())
      .execute();
    await db.insertInto('store_version').values({ id: 1, version: 0 }).execute();
  },
};

/** Every migration, in order. */
export const migrations: readonly Migration[] = [tenancyAndLedger];
