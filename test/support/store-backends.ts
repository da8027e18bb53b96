import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import pg from 'pg';
import type { SqlConnectionOptions } from '../../src/store/sql/open-database.ts';
import { postgresUrl, requireService, startPostgres } from './services.ts';

/** A database the store suite runs against: each call gives a fresh, empty location. */
export interface StoreBackend {
  readonly name: string;
  /** A new empty database; undefined when the server is missing and the test was skipped. */
  fresh(context: TestContext): Promise<SqlConnectionOptions | undefined>;
  /** Removes every location handed out. */
  cleanup(): Promise<void>;
}

/** SQLite files in temporary directories. */
export function sqliteBackend(): StoreBackend {
  const directories: string[] = [];
  return {
    name: 'SQLite',
    async fresh() {
      const directory = mkdtempSync(join(tmpdir(), 'nexus-store-'));
      directories.push(directory);
      return { dialect: 'sqlite', file: join(directory, 'nexus.db') };
    },
    async cleanup() {
      for (const directory of directories) rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** Schemas of their own on the local PostgreSQL (`nexus_test_<random>`), dropped at cleanup. */
export function postgresBackend(): StoreBackend {
  const schemas: string[] = [];
  return {
    name: 'PostgreSQL',
    async fresh(context) {
      if (!(await requireService(context, 'PostgreSQL', postgresUrl, startPostgres))) return undefined;
      const schema = `nexus_test_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      return { dialect: 'postgres', url: postgresUrl, schema, poolSize: 4 };
    },
    async cleanup() {
      if (schemas.length === 0) return;
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      try {
        for (const schema of schemas) await client.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await client.end();
      }
    },
  };
}
