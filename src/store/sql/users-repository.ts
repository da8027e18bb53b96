import type { Kysely, Selectable } from 'kysely';
import { checkCount, checkText } from './column-values.ts';
import { newId } from './ids.ts';
import { isUniqueViolation, StoreError } from './store-error.ts';
import { bumpVersion } from './store-version.ts';
import type { Tables, UsersTable } from './tables.ts';
import type { TenantScope, User } from './tenancy-types.ts';

export interface CreateUserInput {
  readonly orgId: string;
  /** Unique across the store, compared without case. */
  readonly email: string;
  readonly name?: string | undefined;
  /** Default `free`. */
  readonly plan?: string | undefined;
  /** Requests allowed by the plan; null or absent is unlimited. */
  readonly requestQuota?: number | null | undefined;
}

/** Fields to change; absent ones are kept. */
export interface UpdateUserInput {
  readonly email?: string | undefined;
  readonly name?: string | undefined;
  readonly plan?: string | undefined;
  readonly requestQuota?: number | null | undefined;
}

/** Users, each in one organization. A scope with `orgId` sees that organization's users only. */
export class UsersRepository {
  readonly #db: Kysely<Tables>;

  constructor(db: Kysely<Tables>) {
    this.#db = db;
  }

  /** Creates a user: not_found when the organization is missing or out of scope, conflict when the email is taken. */
  async create(input: CreateUserInput, scope: TenantScope = {}, nowMs = Date.now()): Promise<User> {
    if (scope.orgId !== undefined && scope.orgId !== input.orgId) {
      throw new StoreError('not_found', 'organization not found');
    }
    const email = checkText(input.email, 'email');
    const row: Selectable<UsersTable> = {
      id: newId('usr'),
      org_id: input.orgId,
      email,
      email_normalized: email.toLowerCase(),
      name: checkText(input.name ?? '', 'name'),
      plan: checkText(input.plan ?? 'free', 'plan'),
      request_quota: checkCount(input.requestQuota ?? null, 'requestQuota'),
      created_at: nowMs,
    };
    await this.#write(async (trx) => {
      const org = await trx
        .selectFrom('organizations')
        .select('id')
        .where('id', '=', input.orgId)
        .executeTakeFirst();
      if (org === undefined) throw new StoreError('not_found', 'organization not found');
      await trx.insertInto('users').values(row).execute();
    });
    return userFromRow(row);
  }

  async get(id: string, scope: TenantScope = {}): Promise<User | undefined> {
    let query = this.#db.selectFrom('users').selectAll().where('id', '=', id);
    if (scope.orgId !== undefined) query = query.where('org_id', '=', scope.orgId);
    const row = await query.executeTakeFirst();
    return row === undefined ? undefined : userFromRow(row);
  }

  /** The user with this email, compared without case, across every organization. */
  async findByEmail(email: string): Promise<User | undefined> {
    const row = await this.#db
      .selectFrom('users')
      .selectAll()
      .where('email_normalized', '=', checkText(email, 'email').toLowerCase())
      .executeTakeFirst();
    return row === undefined ? undefined : userFromRow(row);
  }

  /** Every user in the scope, oldest first. */
  async list(scope: TenantScope = {}): Promise<User[]> {
    let query = this.#db.selectFrom('users').selectAll();
    if (scope.orgId !== undefined) query = query.where('org_id', '=', scope.orgId);
    const rows = await query.orderBy('created_at').orderBy('id').execute();
    return rows.map(userFromRow);
  }

  /** Changes the given fields; undefined when there is no such user in the scope. */
  async update(id: string, input: UpdateUserInput, scope: TenantScope = {}): Promise<User | undefined> {
    const values: Partial<Selectable<UsersTable>> = {};
    if (input.email !== undefined) {
      values.email = checkText(input.email, 'email');
      values.email_normalized = values.email.toLowerCase();
    }
    if (input.name !== undefined) values.name = checkText(input.name, 'name');
    if (input.plan !== undefined) values.plan = checkText(input.plan, 'plan');
    if (input.requestQuota !== undefined)
      values.request_quota = checkCount(input.requestQuota, 'requestQuota');
    return this.#write(async (trx) => {
      let found = trx.selectFrom('users').select('id').where('id', '=', id);
      if (scope.orgId !== undefined) found = found.where('org_id', '=', scope.orgId);
      if ((await found.executeTakeFirst()) === undefined) return undefined;
      if (Object.keys(values).length > 0)
        await trx.updateTable('users').set(values).where('id', '=', id).execute();
      const row = await trx.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      return userFromRow(row);
    });
  }

  /** Deletes the user and the keys issued to them. */
  async delete(id: string, scope: TenantScope = {}): Promise<boolean> {
    return this.#write(async (trx) => {
      let query = trx.deleteFrom('users').where('id', '=', id);
      if (scope.orgId !== undefined) query = query.where('org_id', '=', scope.orgId);
      const result = await query.executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  /** A transaction that raises the tenancy version and reports a taken email as a conflict. */
  async #write<T>(work: (trx: Kysely<Tables>) => Promise<T>): Promise<T> {
    try {
      return await this.#db.transaction().execute(async (trx) => {
        await bumpVersion(trx);
        return work(trx);
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new StoreError('conflict', 'a user with this email already exists');
      throw error;
    }
  }
}

function userFromRow(row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    orgId: row.org_id,
    email: row.email,
    name: row.name,
    plan: row.plan,
    requestQuota: row.request_quota,
    createdAt: row.created_at,
  };
}
