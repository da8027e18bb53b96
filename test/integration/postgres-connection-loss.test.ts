/**
 * A PostgreSQL restart ends every connection with a FATAL message. One the store holds at that moment between
 * two statements (inside a transaction: the ledger's batch insert, a key change) gets that message with no
 * statement to fail, as an 'error' event on its pg client; pg-pool listens only while the client is idle, so
 * without a listener of the store's own that event crashed the gateway (seen in cluster-outage.test.ts).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import pg from 'pg';
import { openDatabase } from '../../src/store/sql/open-database.ts';
import { postgresUrl } from '../support/services.ts';
import { postgresBackend } from '../support/store-backends.ts';

describe('store on PostgreSQL, a connection ended by the server', () => {
  const backend = postgresBackend();
  after(() => backend.cleanup());

  it('ended between two statements of a transaction: the transaction fails, the process lives on', async (context) => {
    const options = await backend.fresh(context);
    if (options === undefined) return;
    const database = openDatabase(options);
    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    try {
      const transaction = database.db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        // What a restart does to every session (`pg_ctl stop -m fast`): FATAL 57P01, then the socket closes.
        await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
        // The message arrives while no statement runs on this connection.
        await sleep(300);
        await sql`select 1`.execute(trx);
      });
      await assert.rejects(transaction);
      // The broken connection was dropped from the pool: the next statement gets a new one.
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(database.db);
      assert.deepEqual(rows, [{ one: 1 }]);
    } finally {
      await admin.end();
      await database.db.destroy();
    }
  });
});
