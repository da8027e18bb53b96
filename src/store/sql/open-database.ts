import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { Tables } from './tables.ts';

/** The two databases the store speaks. */
export type SqlDialect = 'sqlite' | 'postgres';

/** Where the data lives: an embedded SQLite file (or `:memory:`), or a PostgreSQL server. */
export type SqlConnectionOptions =
  | {
      readonly dialect: 'sqlite';
      /** Path of the database file, or `:memory:` (tests; gone when closed). */
      readonly file: string;
    }
  | {
      readonly dialect: 'postgres';
      /** `postgres://user:password@host:port/database`. */
      readonly url: string;
      /** Most pooled connections (default 10). */
      readonly poolSize?: number | undefined;
      /** Schema that holds the tables (default `public`); created by the migrations when missing. */
      readonly schema?: string | undefined;
    };

/** An open connection (SQLite) or pool (PostgreSQL), with kysely on top. */
export interface SqlDatabase {
  readonly db: Kysely<Tables>;
  readonly dialect: SqlDialect;
  /** PostgreSQL schema the tables live in; `main` on SQLite. */
  readonly schema: string;
  /** The SQLite connection itself, for the ledger's prepared-statement fast path; undefined on PostgreSQL. */
  readonly sqlite?: BetterSqlite3.Database | undefined;
}

/** A PostgreSQL identifier that needs no quoting: what `database.schema` accepts. */
export const schemaNamePattern = /^[a-z_][a-z0-9_]{0,62}$/;

/** Opens the database; nothing is read or written until the first query (migrations come next). */
export function openDatabase(options: SqlConnectionOptions): SqlDatabase {
  if (options.dialect === 'sqlite') {
    const connection = new BetterSqlite3(options.file, { timeout: 5_000 });
    // WAL: readers never block the writer and a crash cannot corrupt the file; NORMAL sync is durable
    // across a process crash, and loses at most the last commits on a power cut, never consistency.
    connection.pragma('journal_mode = WAL');
    connection.pragma('synchronous = NORMAL');
    connection.pragma('foreign_keys = ON');
    return {
      db: new Kysely<Tables>({ dialect: new SqliteDialect({ database: connection }) }),
      dialect: 'sqlite',
      schema: 'main',
      sqlite: connection,
    };
  }
  const schema = options.schema ?? 'public';
  if (!schemaNamePattern.test(schema)) throw new Error(`invalid PostgreSQL schema name: ${schema}`);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    application_name: 'nexus',
    // The schema is a plain identifier (checked above), so it is safe in the startup options.
    options: `-c search_path=${schema}`,
    types: { getTypeParser: typeParser },
  });
  // An idle connection that breaks (a server restart) is dropped by the pool; queries report their own errors.
  pool.on('error', () => {});
  // pg-pool listens to a client's errors only while it is idle. One that kysely holds between two statements
  // (inside a transaction) when the server ends it gets the FATAL as an 'error' event with no statement to fail,
  // and an 'error' event without a listener crashes the process. The next statement fails instead (the caller
  // retries: the ledger keeps its batch), and the broken client is dropped when it goes back to the pool.
  pool.on('connect', (client) => client.on('error', () => {}));
  return { db: new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) }), dialect: 'postgres', schema };
}

const int8 = 20;

/**
 * BIGINT arrives from pg as a string (it may exceed 2^53). Every BIGINT column here holds epoch milliseconds,
 * counts or one record's nano-USD, all far below 2^53, so it is read as a number; a value that is not a safe
 * integer throws rather than losing digits. Sums of money are cast to text in SQL and read as `bigint`.
 */
const typeParser: typeof pg.types.getTypeParser = ((oid: number, format?: 'text' | 'binary') => {
  if (oid === int8) return parseInt8;
  return format === undefined ? pg.types.getTypeParser(oid) : pg.types.getTypeParser(oid, format);
}) as typeof pg.types.getTypeParser;

function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`BIGINT ${text} is beyond a safe integer`);
  return value;
}

/** Checks that the database answers (for readiness checks). */
export async function pingDatabase(database: SqlDatabase): Promise<void> {
  await sql`select 1`.execute(database.db);
}
