import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config/schema.ts';
import { ApiKeysRepository } from './api-keys-repository.ts';
import { type MigrationReport, migrate } from './migrate.ts';
import { openDatabase, pingDatabase, type SqlConnectionOptions, type SqlDialect } from './open-database.ts';
import { OrganizationsRepository } from './organizations-repository.ts';
import { ProjectsRepository } from './projects-repository.ts';
import { readVersion } from './store-version.ts';
import { UsageRepository } from './usage-repository.ts';
import { UsersRepository } from './users-repository.ts';

/** File name of the embedded database inside the data directory. */
export const sqliteFileName = 'nexus.db';

/** Tenancy, limits, budgets and the usage ledger, on SQLite or PostgreSQL behind one API. */
export interface Store {
  readonly dialect: SqlDialect;
  readonly organizations: OrganizationsRepository;
  readonly projects: ProjectsRepository;
  readonly users: UsersRepository;
  readonly apiKeys: ApiKeysRepository;
  readonly usage: UsageRepository;
  /** What the migrations did when the store opened. */
  readonly migration: MigrationReport;
  /**
   * The tenancy version: it moves whenever an organization, project, user or key changes. A replica polls it
   * and reloads its in-memory keys and limits when it differs from the last value it saw.
   */
  version(): Promise<number>;
  /** Resolves when the database answers; for readiness checks. */
  ping(): Promise<void>;
  /** Closes the connection or pool; in-flight queries finish first. */
  close(): Promise<void>;
}

/**
 * Where the configuration puts the data: PostgreSQL when `database.url` is set, else the SQLite file
 * `nexus.db` in `storage.dataDir` (`:memory:` keeps it in memory, for tests).
 */
export function storeConnectionOptions(config: Config): SqlConnectionOptions {
  if (config.database.url !== undefined) {
    return {
      dialect: 'postgres',
      url: config.database.url,
      poolSize: config.database.poolSize,
      schema: config.database.schema,
    };
  }
  const dataDir = config.storage.dataDir;
  return { dialect: 'sqlite', file: dataDir === ':memory:' ? ':memory:' : join(dataDir, sqliteFileName) };
}

/** Opens the store the configuration names, creating the data directory on first start, and migrates it. */
export async function createStore(config: Config): Promise<Store> {
  const options = storeConnectionOptions(config);
  if (options.dialect === 'sqlite' && options.file !== ':memory:') {
    mkdirSync(config.storage.dataDir, { recursive: true });
  }
  return openStore(options);
}

/** Opens a store and brings its schema up to date (safe with several replicas starting at once). */
export async function openStore(options: SqlConnectionOptions): Promise<Store> {
  const database = openDatabase(options);
  let migration: MigrationReport;
  try {
    migration = await migrate(database);
  } catch (error) {
    await database.db.destroy();
    throw error;
  }
  const { db } = database;
  return {
    dialect: database.dialect,
    organizations: new OrganizationsRepository(db),
    projects: new ProjectsRepository(db),
    users: new UsersRepository(db),
    apiKeys: new ApiKeysRepository(db),
    usage: new UsageRepository(db, database.sqlite),
    migration,
    version: () => readVersion(db),
    ping: () => pingDatabase(database),
    close: () => db.destroy(),
  };
}
