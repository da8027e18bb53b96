import type { Kysely, Selectable, SelectQueryBuilder, Transaction } from 'kysely';
import { budgetFromRow, checkText, limitColumnValues, limitsFromRow, noLimits } from './column-values.ts';
import { newId } from './ids.ts';
import { StoreError } from './store-error.ts';
import { bumpVersion } from './store-version.ts';
import type { ProjectsTable, Tables } from './tables.ts';
import type { BudgetInput, LimitsInput, Project, TenantScope } from './tenancy-types.ts';

export interface CreateProjectInput {
  readonly orgId: string;
  readonly name: string;
  readonly limits?: LimitsInput | undefined;
  readonly budget?: BudgetInput | undefined;
}

/** Fields to change; absent ones are kept. */
export interface UpdateProjectInput {
  readonly name?: string | undefined;
  readonly limits?: LimitsInput | undefined;
  readonly budget?: BudgetInput | undefined;
}

type ProjectRow = Omit<Selectable<ProjectsTable>, 'provider_keys_ciphertext'> & { has_provider_keys: number };

/** Projects within organizations. A scope narrows to one organization (`orgId`) or one project (`projectId`). */
export class ProjectsRepository {
  readonly #db: Kysely<Tables>;

  constructor(db: Kysely<Tables>) {
    this.#db = db;
  }

  /** Creates a project in an organization (not_found when the organization is missing or out of scope). */
  async create(input: CreateProjectInput, scope: TenantScope = {}, nowMs = Date.now()): Promise<Project> {
    if (scope.orgId !== undefined && scope.orgId !== input.orgId) {
      throw new StoreError('not_found', 'organization not found');
    }
    const row = {
      ...noLimits,
      ...limitColumnValues(input.limits, input.budget),
      id: newId('proj'),
      org_id: input.orgId,
      name: checkText(input.name, 'name'),
      provider_keys_ciphertext: null,
      created_at: nowMs,
    };
    await this.#db.transaction().execute(async (trx) => {
      await bumpVersion(trx);
      const org = await trx
        .selectFrom('organizations')
        .select('id')
        .where('id', '=', input.orgId)
        .executeTakeFirst();
      if (org === undefined) throw new StoreError('not_found', 'organization not found');
      await trx.insertInto('projects').values(row).execute();
    });
    return projectFromRow({ ...row, has_provider_keys: 0 });
  }

  async get(id: string, scope: TenantScope = {}): Promise<Project | undefined> {
    const row = await this.#select(this.#db, scope).where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : projectFromRow(row);
  }

  /** Every project in the scope, oldest first. */
  async list(scope: TenantScope = {}): Promise<Project[]> {
    const rows = await this.#select(this.#db, scope).orderBy('created_at').orderBy('id').execute();
    return rows.map(projectFromRow);
  }

  /** Changes the given fields; undefined when there is no such project in the scope. */
  async update(id: string, input: UpdateProjectInput, scope: TenantScope = {}): Promise<Project | undefined> {
    const values = {
      ...limitColumnValues(input.limits, input.budget),
      ...(input.name === undefined ? {} : { name: checkText(input.name, 'name') }),
    };
    return this.#db.transaction().execute(async (trx) => {
      await bumpVersion(trx);
      const found = await this.#select(trx, scope).where('id', '=', id).executeTakeFirst();
      if (found === undefined) return undefined;
      if (Object.keys(values).length > 0) {
        await trx.updateTable('projects').set(values).where('id', '=', id).execute();
      }
      const row = await this.#select(trx, scope).where('id', '=', id).executeTakeFirstOrThrow();
      return projectFromRow(row);
    });
  }

  /** Deletes the project and its keys (the usage ledger keeps its records). */
  async delete(id: string, scope: TenantScope = {}): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await bumpVersion(trx);
      const found = await this.#select(trx, scope).where('id', '=', id).executeTakeFirst();
      if (found === undefined) return false;
      await trx.deleteFrom('projects').where('id', '=', id).execute();
      return true;
    });
  }

  /**
   * Stores the project's own provider keys, already encrypted by the caller (null removes them). The store
   * never sees them in clear and never returns them in a listing. False when the project is not in scope.
   */
  async setProviderKeysCiphertext(
    id: string,
    ciphertext: Uint8Array | null,
    scope: TenantScope = {},
  ): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await bumpVersion(trx);
      const found = await this.#select(trx, scope).where('id', '=', id).executeTakeFirst();
      if (found === undefined) return false;
      await trx
        .updateTable('projects')
        .set({ provider_keys_ciphertext: ciphertext === null ? null : Buffer.from(ciphertext) })
        .where('id', '=', id)
        .execute();
      return true;
    });
  }

  /** The encrypted provider keys: null when the project has none, undefined when it is not in scope. */
  async getProviderKeysCiphertext(
    id: string,
    scope: TenantScope = {},
  ): Promise<Uint8Array | null | undefined> {
    let query = this.#db.selectFrom('projects').select('provider_keys_ciphertext').where('id', '=', id);
    if (scope.orgId !== undefined) query = query.where('org_id', '=', scope.orgId);
    if (scope.projectId !== undefined) query = query.where('id', '=', scope.projectId);
    const row = await query.executeTakeFirst();
    if (row === undefined) return undefined;
    return row.provider_keys_ciphertext === null ? null : new Uint8Array(row.provider_keys_ciphertext);
  }

  #select(
    db: Kysely<Tables> | Transaction<Tables>,
    scope: TenantScope,
  ): SelectQueryBuilder<Tables, 'projects', ProjectRow> {
    let query = db
      .selectFrom('projects')
      .select([
        'id',
        'org_id',
        'name',
        'created_at',
        'limit_rpm',
        'limit_rph',
        'limit_tpm',
        'limit_token_budget',
        'budget_daily_nano_usd',
        'budget_monthly_nano_usd',
      ])
      .select((eb) =>
        eb.case().when('provider_keys_ciphertext', 'is', null).then(0).else(1).end().as('has_provider_keys'),
      );
    if (scope.orgId !== undefined) query = query.where('org_id', '=', scope.orgId);
    if (scope.projectId !== undefined) query = query.where('id', '=', scope.projectId);
    return query;
  }
}

function projectFromRow(row: ProjectRow): Project {
  return {
    id: row.id,
    orgId: row.org_id,
    name: row.name,
    limits: limitsFromRow(row),
    budget: budgetFromRow(row),
    hasProviderKeys: Number(row.has_provider_keys) === 1,
    createdAt: row.created_at,
  };
}
