import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { createStore } from '../../src/store/sql/create-store.ts';
import { migrate } from '../../src/store/sql/migrate.ts';
import { openDatabase } from '../../src/store/sql/open-database.ts';
import { postgresBackend } from '../support/store-backends.ts';
import { tenancySuite } from '../support/store-suite-tenancy.ts';
import { usageSuite } from '../support/store-suite-usage.ts';

describe('store on PostgreSQL (DATABASE_URL)', () => {
  const backend = postgresBackend();
  after(() => backend.cleanup());
  tenancySuite(backend);
  usageSuite(backend);

  it('four replicas migrating one new schema at once all succeed and leave one schema', async (context) => {
    const options = await backend.fresh(context);
    if (options === undefined) return;
    const databases = Array.from({ length: 4 }, () => openDatabase(options));
    try {
      const reports = await Promise.all(databases.map((database) => migrate(database)));
      assert.deepEqual(reports.map((report) => report.applied.length).sort(), [0, 0, 0, 1]);
      assert.ok(reports.every((report) => report.version === 1));
      const [first] = databases;
      const applied = await first!.db.selectFrom('nexus_migrations').select('version').execute();
      assert.deepEqual(applied, [{ version: 1 }]);
      assert.deepEqual(await first!.db.selectFrom('store_version').selectAll().execute(), [
        { id: 1, version: 0 },
      ]);
    } finally {
      await Promise.all(databases.map((database) => database.db.destroy()));
    }
  });

  it('createStore(config) uses DATABASE_URL and DATABASE_SCHEMA, creating the schema', async (context) => {
    const options = await backend.fresh(context);
    if (options === undefined || options.dialect !== 'postgres') return;
    const config = loadConfig({
      env: { DATABASE_URL: options.url, DATABASE_SCHEMA: options.schema, DATABASE_POOL_SIZE: '2' },
      providerIds: [],
    });
    const store = await createStore(config);
    try {
      assert.equal(store.dialect, 'postgres');
      assert.deepEqual(store.migration.applied, [1]);
      await store.ping();
      const org = await store.organizations.create({ name: 'in its own schema' });
      assert.deepEqual(await store.organizations.get(org.id), org);
    } finally {
      await store.close();
    }
  });
});
