import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { loadConfig } from '../../src/config/load.ts';
import { createStore } from '../../src/store/sql/create-store.ts';
import { sqliteBackend } from '../support/store-backends.ts';
import { tenancySuite } from '../support/store-suite-tenancy.ts';
import { usageSuite } from '../support/store-suite-usage.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('store on SQLite (the embedded default)', () => {
  const backend = sqliteBackend();
  after(() => backend.cleanup());
  tenancySuite(backend);
  usageSuite(backend);

  it('creates the data directory and its database on first start, in WAL mode', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'nexus-data-'));
    try {
      const dataDir = join(parent, 'not', 'yet', 'there');
      const config = loadConfig({ env: { NEXUS_DATA_DIR: dataDir }, providerIds: [] });
      const store = await createStore(config);
      assert.equal(store.dialect, 'sqlite');
      await store.organizations.create({ name: 'first' });
      await store.close();
      const file = join(dataDir, 'nexus.db');
      assert.ok(existsSync(file));
      const reopened = new BetterSqlite3(file, { readonly: true });
      try {
        assert.equal(reopened.pragma('journal_mode', { simple: true }), 'wal');
        assert.deepEqual(reopened.prepare('select name from organizations').all(), [{ name: 'first' }]);
      } finally {
        reopened.close();
      }
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('keeps :memory: in memory', async () => {
    const store = await createStore(loadConfig({ env: { NEXUS_DATA_DIR: ':memory:' }, providerIds: [] }));
    assert.deepEqual(store.migration.applied, [1]);
    await store.close();
    assert.ok(!existsSync(':memory:'));
  });

  it('three processes migrating one new file at once all succeed and leave one schema', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'nexus-migrate-'));
    try {
      const file = join(directory, 'nexus.db');
      // Each process loads and opens first, then waits for "go" on stdin, so the three migrations overlap.
      const script = [
        "import { once } from 'node:events';",
        "import { openDatabase } from './src/store/sql/open-database.ts';",
        "import { migrate } from './src/store/sql/migrate.ts';",
        'const database = openDatabase({ dialect: "sqlite", file: process.argv[1] });',
        "console.log('ready');",
        "await once(process.stdin, 'data');",
        'console.log(JSON.stringify(await migrate(database)));',
        'await database.db.destroy();',
        'process.stdin.destroy();',
      ].join('\n');
      const children = Array.from({ length: 3 }, () => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', '--input-type=module', '-e', script, file],
          {
            cwd: root,
            stdio: ['pipe', 'pipe', 'pipe'],
          },
        );
        const output: string[] = [];
        child.stdout.on('data', (data: Buffer) => output.push(data.toString()));
        child.stderr.on('data', (data: Buffer) => output.push(data.toString()));
        return { child, output };
      });
      for (const { child, output } of children) {
        while (!output.join('').includes('ready')) await once(child.stdout, 'data');
      }
      for (const { child } of children) child.stdin.write('go\n');
      const reports = await Promise.all(
        children.map(async ({ child, output }) => {
          const [code] = await once(child, 'exit');
          assert.equal(code, 0, output.join(''));
          return JSON.parse(output.join('').replace('ready', '')) as { applied: number[]; version: number };
        }),
      );
      assert.deepEqual(reports.map((report) => report.applied.length).sort(), [0, 0, 1]);
      assert.ok(reports.every((report) => report.version === 1));
      const database = new BetterSqlite3(file, { readonly: true });
      try {
        assert.deepEqual(database.prepare('select version from nexus_migrations').all(), [{ version: 1 }]);
      } finally {
        database.close();
      }
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
