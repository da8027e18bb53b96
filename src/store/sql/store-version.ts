import type { Kysely } from 'kysely';
import type { Tables } from './tables.ts';

/**
 * The tenancy version: a counter raised in the same transaction as every change to organizations, projects,
 * users or keys. A replica that keeps keys and limits in memory polls it (one primary-key read) and reloads
 * when it moved; this is the invalidation signal when there is no Redis to publish on. A single row rather
 * than a log of changes: concurrent writers queue on its row lock, so a committed value always includes every
 * change numbered below it, which an id sequence does not promise.
 */
export async function bumpVersion(db: Kysely<Tables>): Promise<void> {
  await db
    .updateTable('store_version')
    .set((eb) => ({ version: eb('version', '+', 1) }))
    .where('id', '=', 1)
    .execute();
}

/** The current tenancy version (0 before any change). */
export async function readVersion(db: Kysely<Tables>): Promise<number> {
  const row = await db.selectFrom('store_version').select('version').where('id', '=', 1).executeTakeFirst();
  return row?.version ?? 0;
}
