import type { Kysely, Selectable } from 'kysely';
import {
  budgetFromRow,
  checkInstant,
  checkText,
  limitColumnValues,
  limitsFromRow,
  noLimits,
  toJson,
} from './column-values.ts';
import { apiKeyPrefixLength, hashApiKey, newApiKeySecret, newId } from './ids.ts';
import { StoreError } from './store-error.ts';
import { bumpVersion } from './store-version.ts';
import type { ApiKeysTable, Tables } from './tables.ts';
import type { ApiKey, ApiKeyCredential, BudgetInput, LimitsInput, TenantScope } from './tenancy-types.ts';

export interface CreateApiKeyInput {
  /** The key's organization; may be left out when `projectId` is given (the project's is used). */
  readonly orgId?: string | undefined;
  readonly projectId?: string | undefined;
  /** A user of the same organization the key is issued to. */
  readonly userId?: string | undefined;
  readonly name?: string | undefined;
  /** Models the key may call; null or absent is every model. */
  readonly models?: readonly string[] | null | undefined;
  readonly metadata?: Readonly<Record<string, unknown>> | undefined;
  readonly limits?: LimitsInput | undefined;
  readonly budget?: BudgetInput | undefined;
  /** Epoch milliseconds after which the key stops working. */
  readonly expiresAt?: number | null | undefined;
}

/** Fields to change; absent ones are kept. */
export interface UpdateApiKeyInput {
  readonly name?: string | undefined;
  readonly models?: readonly string[] | null | undefined;
  readonly metadata?: Readonly<Record<string, unknown>> | undefined;
  readonly limits?: LimitsInput | undefined;
  readonly budget?: BudgetInput | undefined;
  readonly expiresAt?: number | null | undefined;
}

/** A new key: the secret, shown to its owner once and never stored, and the key as stored. */
export interface CreatedApiKey {
  readonly secret: string;
  readonly key: ApiKey;
}

/** A listing's filter: the tenant scope, plus the user the keys were issued to. */
export interface ApiKeyFilter extends TenantScope {
  readonly userId?: string | undefined;
}

/**
 * API keys. The store keeps a key's SHA-256 and its first characters, never the key itself; listings and
 * reads return {@link ApiKey} (no hash), and only the gateway's key table reads {@link ApiKeyCredential}.
 */
export class ApiKeysRepository {
  readonly #db: Kysely<Tables>;

  constructor(db: Kysely<Tables>) {
    this.#db = db;
  }

  /**
   * Issues a key (`nk-` + 256 random bits). not_found when the organization, project or user is missing,
   * out of the caller's scope, or not of the key's organization.
   */
  async create(
    input: CreateApiKeyInput,
    scope: TenantScope = {},
    nowMs = Date.now(),
  ): Promise<CreatedApiKey> {
    const secret = newApiKeySecret();
    const values = {
      ...noLimits,
      ...limitColumnValues(input.limits, input.budget),
      id: newId('key'),
      key_hash: hashApiKey(secret),
      key_prefix: secret.slice(0, apiKeyPrefixLength),
      name: checkText(input.name ?? '', 'name'),
      project_id: input.projectId ?? null,
      user_id: input.userId ?? null,
      models: modelsJson(input.models ?? null),
      metadata: metadataJson(input.metadata ?? {}),
      expires_at: checkInstant(input.expiresAt ?? null, 'expiresAt'),
      revoked_at: null,
      created_at: nowMs,
      last_used_at: null,
    };
    if (scope.projectId !== undefined && input.projectId !== scope.projectId) {
      throw new StoreError('not_found', 'project not found');
    }
    const row = await this.#db.transaction().execute(async (trx) => {
      await bumpVersion(trx);
      const orgId = await resolveOrganization(trx, input, scope);
      const row: Selectable<ApiKeysTable> = { ...values, org_id: orgId };
      await trx.insertInto('api_keys').values(row).execute();
      return row;
    });
    return { secret, key: apiKeyFromRow(row) };
  }

  async get(id: string, scope: TenantScope = {}): Promise<ApiKey | undefined> {
    const row = await this.#select(this.#db, scope).where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : apiKeyFromRow(row);
  }

  /** Every key in the scope, revoked ones included, oldest first; never a hash or a secret. */
  async list(filter: ApiKeyFilter = {}): Promise<ApiKey[]> {
    let query = this.#select(this.#db, filter);
    if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
    const rows = await query.orderBy('created_at').orderBy('id').execute();
    return rows.map(apiKeyFromRow);
  }

  /** The key with this SHA-256 (hex), revoked or expired ones included: the caller decides. */
  async findByHash(keyHash: string): Promise<ApiKeyCredential | undefined> {
    const row = await this.#db
      .selectFrom('api_keys')
      .selectAll()
      .where('key_hash', '=', keyHash)
      .executeTakeFirst();
    return row === undefined ? undefined : credentialFromRow(row);
  }

  /** Every key neither revoked nor expired at `nowMs`, with its hash: what the gateway loads into memory. */
  async listActive(nowMs = Date.now()): Promise<ApiKeyCredential[]> {
    const rows = await this.#db
      .selectFrom('api_keys')
      .selectAll()
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', nowMs)]))
      .orderBy('id')
      .execute();
    return rows.map(credentialFromRow);
  }

  /** Changes the given fields; undefined when there is no such key in the scope. */
  async update(id: string, input: UpdateApiKeyInput, scope: TenantScope = {}): Promise<ApiKey | undefined> {
    const values: Partial<Selectable<ApiKeysTable>> = limitColumnValues(input.limits, input.budget);
    if (input.name !== undefined) values.name = checkText(input.name, 'name');
    if (input.models !== undefined) values.models = modelsJson(input.models);
    if (input.metadata !== undefined) values.metadata = metadataJson(input.metadata);
    if (input.expiresAt !== undefined) values.expires_at = checkInstant(input.expiresAt, 'expiresAt');
    return this.#change(id, scope, values);
  }

  /** Revokes the key (the first revocation's time is kept); undefined when there is no such key in the scope. */
  async revoke(id: string, scope: TenantScope = {}, nowMs = Date.now()): Promise<ApiKey | undefined> {
    return this.#change(id, scope, { revoked_at: nowMs }, true);
  }

  /** Records when keys were last used (batched by the caller); not a tenancy change, so no version bump. */
  async markUsed(ids: readonly string[], atMs: number): Promise<void> {
    // In slices, so a large batch stays under both databases' limits on bound parameters.
    for (let start = 0; start < ids.length; start += 500) {
      await this.#db
        .updateTable('api_keys')
        .set({ last_used_at: atMs })
        .where('id', 'in', ids.slice(start, start + 500))
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', atMs)]))
        .execute();
    }
  }

  async #change(
    id: string,
    scope: TenantScope,
    values: Partial<Selectable<ApiKeysTable>>,
    onlyIfUnrevoked = false,
  ): Promise<ApiKey | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      await bumpVersion(trx);
      const found = await this.#select(trx, scope).where('id', '=', id).executeTakeFirst();
      if (found === undefined) return undefined;
      if (Object.keys(values).length > 0 && !(onlyIfUnrevoked && found.revoked_at !== null)) {
        await trx.updateTable('api_keys').set(values).where('id', '=', id).execute();
      }
      return apiKeyFromRow(await this.#select(trx, scope).where('id', '=', id).executeTakeFirstOrThrow());
    });
  }

  #select(db: Kysely<Tables>, scope: TenantScope) {
    let query = db.selectFrom('api_keys').selectAll();
    if (scope.orgId !== undefined) query = query.where('org_id', '=', scope.orgId);
    if (scope.projectId !== undefined) query = query.where('project_id', '=', scope.projectId);
    return query;
  }
}

/** The key's organization, checking that every id it names exists, is in scope and agrees. */
async function resolveOrganization(trx: Kysely<Tables>, input: CreateApiKeyInput, scope: TenantScope) {
  let orgId = input.orgId;
  if (input.projectId !== undefined) {
    const project = await trx
      .selectFrom('projects')
      .select('org_id')
      .where('id', '=', input.projectId)
      .executeTakeFirst();
    if (project === undefined || (orgId !== undefined && project.org_id !== orgId)) {
      throw new StoreError('not_found', 'project not found');
    }
    orgId = project.org_id;
  }
  if (orgId === undefined) throw new StoreError('invalid_input', 'an API key needs an orgId or a projectId');
  if (scope.orgId !== undefined && scope.orgId !== orgId) {
    throw new StoreError(
      'not_found',
      input.projectId === undefined ? 'organization not found' : 'project not found',
    );
  }
  const org = await trx.selectFrom('organizations').select('id').where('id', '=', orgId).executeTakeFirst();
  if (org === undefined) throw new StoreError('not_found', 'organization not found');
  if (input.userId !== undefined) {
    const user = await trx
      .selectFrom('users')
      .select('id')
      .where('id', '=', input.userId)
      .where('org_id', '=', orgId)
      .executeTakeFirst();
    if (user === undefined) throw new StoreError('not_found', 'user not found');
  }
  return orgId;
}

function modelsJson(models: readonly string[] | null): string | null {
  if (models === null) return null;
  if (!Array.isArray(models))
    throw new StoreError('invalid_input', 'models must be an array of strings or null');
  return toJson(
    models.map((model, index) => checkText(model, `models.${index}`)),
    'models',
  );
}

function metadataJson(metadata: Readonly<Record<string, unknown>>): string {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new StoreError('invalid_input', 'metadata must be a JSON object');
  }
  return toJson(metadata, 'metadata');
}

function apiKeyFromRow(row: Selectable<ApiKeysTable>): ApiKey {
  return {
    id: row.id,
    keyPrefix: row.key_prefix,
    name: row.name,
    orgId: row.org_id,
    projectId: row.project_id,
    userId: row.user_id,
    models: row.models === null ? null : (JSON.parse(row.models) as string[]),
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    limits: limitsFromRow(row),
    budget: budgetFromRow(row),
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}

function credentialFromRow(row: Selectable<ApiKeysTable>): ApiKeyCredential {
  return { ...apiKeyFromRow(row), keyHash: row.key_hash };
}
