import type { Kysely, Selectable } from 'kysely';
import { budgetFromRow, checkText, limitColumnValues, limitsFromRow, noLimits } from './column-values.ts';
import { newId } from './ids.ts';
import { bumpVersion } from './store-version.ts';
import type { OrganizationsTable, Tables } from './tables.ts';
import type { BudgetInput, LimitsInput, Organization, TenantScope } from './tenancy-types.ts';

export interface CreateOrganizationInput {
  readonly name: string;
  readonly limits?: LimitsInput | undefined;
  readonly budget?: BudgetInput | undefined;
}

/** Fields to change; absent ones are kept. */
export interface UpdateOrganizationInput {
  readonly name?: string | undefined;
  readonly limits?: LimitsInput | undefined;
  readonly budget?: BudgetInput | undefined;
}

/** Organizations: the top of the tenancy tree. A scope with `orgId` sees that organization only. */
export class OrganizationsRepository {
  readonly #db: Kysely<Tables>;

  constructor(db: Kysely<Tables>) {
    this.#db = db;
  }

  /** Creates an organization; returns it as stored. */
  async create(input: CreateOrganizationInput, nowMs = Date.now()): Promise<Organization> {
    const row: Selectable<OrganizationsTable> = {
      ...noLimits,
      ...limitColumnValues(input.limits, input.budget),
      id: newId('org'),
      name: checkText(input.name, 'name'),
      created_at: nowMs,
    };
    await this.#db.transaction().execute(async (trx) => {
      await bumpVersion(trx);
      await trx.insertInto('organizations').values(row).execute();
    });
    return organizationFromRow(row);
  }

  async get(id: string, scope: TenantScope = {}): Promise<Organization | undefined> {
    if (scope.orgId !== undefined && scope.orgId !== id) return undefined;
    const row = await this.#db
      .selectFrom('organizations')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : organizationFromRow(row);
  }

  /** Every organization in the scope, oldest first. */
  async list(scope: TenantScope = {}): Promise<Organization[]> {
    let query = this.#db.selectFrom('organizations').selectAll();
    if (scope.orgId !== undefined) query = query.where('id', '=', scope.orgId);
    const rows = await query.orderBy('created_at').orderBy('id').execute();
    return rows.map(organizationFromRow);
  }

  /** Changes the given fields; undefined when there is no such organization in the scope. */
  async update(
    id: string,
    input: UpdateOrganizationInput,
    scope: TenantScope = {},
  ): Promise<Organization | undefined> {
    if (scope.orgId !== undefined && scope.orgId !== id) return undefined;
    const values = {
      ...limitColumnValues(input.limits, input.budget),
      ...(input.name === undefined ? {} : { name: checkText(input.name, 'name') }),
    };
    return this.#db.transaction().execute(async (trx) => {
      await bumpVersion(trx);
      if (Object.keys(values).length > 0) {
        await trx.updateTable('organizations').set(values).where('id', '=', id).execute();
      }
      const row = await trx.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? undefined : organizationFromRow(row);
    });
  }

  /** Deletes the organization with its projects, users and keys (the usage ledger keeps its records). */
  async delete(id: string, scope: TenantScope = {}): Promise<boolean> {
    if (scope.orgId !== undefined && scope.orgId !== id) return false;
    return this.#db.transaction().execute(async (trx) => {
      await bumpVersion(trx);
      const result = await trx.deleteFrom('organizations').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }
}

function organizationFromRow(row: Selectable<OrganizationsTable>): Organization {
  return {
    id: row.id,
    name: row.name,
    limits: limitsFromRow(row),
    budget: budgetFromRow(row),
    createdAt: row.created_at,
  };
}
