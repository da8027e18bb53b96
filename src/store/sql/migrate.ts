import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { migrations as allMigrations, type Migration } from './migrations.ts';
import type { SqlDatabase } from './open-database.ts';
import type { Tables } from './tables.ts';

/** What one run of the migrations did. */
export interface MigrationReport {
  /** Versions applied by this run, in order; empty when the schema was already current. */
  readonly applied: readonly number[];
  /** The schema's version after the run. */
  readonly version: number;
}

/**
 * Brings the schema up to date; safe when several replicas start at once. PostgreSQL: a session advisory
 * lock (one key per schema) serialises the migrators, and each reads the applied versions only once it holds
 * the lock, so the first applies everything in one transaction and the others find nothing to do. SQLite:
 * `BEGIN IMMEDIATE` takes the write lock before the versions are read, with the same effect for processes
 * sharing one file. Forward-only: a version recorded as applied is never run again.
 */
export async function migrate(
  database: SqlDatabase,
  migrations: readonly Migration[] = allMigrations,
): Promise<MigrationReport> {
  return database.db.connection().execute(async (connection) => {
    if (database.dialect === 'postgres') {
      const lockKey = advisoryLockKey(database.schema);
      await sql`select pg_advisory_lock(${lockKey}::bigint)`.execute(connection);
      try {
        return await migrateLocked(connection, database, migrations);
      } finally {
        await sql`select pg_advisory_unlock(${lockKey}::bigint)`.execute(connection);
      }
    }
    return migrateLocked(connection, database, migrations);
  });
}

async function migrateLocked(
  connection: Kysely<Tables>,
  database: SqlDatabase,
  migrations: readonly Migration[],
): Promise<MigrationReport> {
  await sql.raw(database.dialect === 'sqlite' ? 'begin immediate' : 'begin').execute(connection);
  try {
    if (database.dialect === 'postgres') {
      await sql`create schema if not exists ${sql.id(database.schema)}`.execute(connection);
    }
    await connection.schema
      .createTable('nexus_migrations')
      .ifNotExists()
      .addColumn('version', 'integer', (column) => column.primaryKey())
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('applied_at', 'bigint', (column) => column.notNull())
      .execute();
    const rows = await connection.selectFrom('nexus_migrations').select('version').execute();
    const done = new Set(rows.map((row) => row.version));
    const applied: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(migration.version)) continue;
      await migration.up(connection, database.dialect);
      await connection
        .insertInto('nexus_migrations')
        .values({ version: migration.version, name: migration.name, applied_at: Date.now() })
        .execute();
      applied.push(migration.version);
      done.add(migration.version);
    }
    await sql`commit`.execute(connection);
    return { applied, version: Math.max(0, ...done) };
  } catch (error) {
    // The original error is the one worth reporting; a failed rollback (a lost connection) ends the same way.
    await sql`rollback`.execute(connection).catch(() => {});
    throw error;
  }
}

/** A signed 64-bit key for `pg_advisory_lock`, derived from the schema so two schemas never wait on each other. */
function advisoryLockKey(schema: string): string {
  return createHash('sha256').update(`nexus-migrations:${schema}`).digest().readBigInt64BE(0).toString();
}
