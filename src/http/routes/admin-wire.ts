import { z } from 'zod';
import type {
  ApiKey,
  Budget,
  BudgetInput,
  Limits,
  LimitsInput,
  Organization,
  Project,
  User,
} from '../../store/sql/tenancy-types.ts';
import { instantSchema, isoTime, isoTimeSchema, lookupText } from './route-input.ts';

/**
 * The admin API's wire shapes (SPEC §2.3): snake_case JSON in and out, `limits` as
 * `{rpm, rph, tpm, token_budget}` and `budget` as `{daily_usd, monthly_usd}` (absent or null: unlimited), times
 * as ISO 8601 text. The store speaks camelCase and epoch milliseconds; this file converts both ways. Every
 * object is strict, so a misspelt field is a 400 rather than a setting silently ignored.
 */

/** Longest name of an organization, project, user or key, in UTF-16 units. */
export const maxNameLength = 256;
/** Largest `metadata` of a key, as JSON text. */
export const maxMetadataBytes = 16 * 1024;
/** Largest USD budget: what integer nano-USD holds exactly (about $9 million). */
const maxUsd = 9_000_000;

const count = z.int().min(0).nullable();
const usd = z.number().min(0).max(maxUsd).nullable();

/** The name of an organization or project: 1 to 256 characters. */
export const nameSchema = z.string().min(1).max(maxNameLength);
/** An entity id as a client names it (`org_…`, `proj_…`); any other text simply matches nothing. */
export const idSchema = lookupText(200);

const limitsSchema = z
  .strictObject({
    rpm: count.optional(),
    rph: count.optional(),
    tpm: count.optional(),
    token_budget: count.optional(),
  })
  .nullable();

const budgetSchema = z.strictObject({ daily_usd: usd.optional(), monthly_usd: usd.optional() }).nullable();

type LimitsWire = z.output<typeof limitsSchema>;
type BudgetWire = z.output<typeof budgetSchema>;

const modelsSchema = z.array(z.string().min(1).max(maxNameLength)).max(256).nullable();
const metadataSchema = z
  .record(z.string().max(maxNameLength), z.unknown())
  .refine(
    (value) => Buffer.byteLength(JSON.stringify(value)) <= maxMetadataBytes,
    `must be at most ${maxMetadataBytes} bytes as JSON`,
  );

// Users carry a plan and a request quota; limits and budgets belong to organizations, projects and keys. A
// `never` (rather than a refinement that always fails) so the published schema says so too (`not: {}`).
const notForUsers = z.never({
  error: 'a user has no limits or budget of its own; set them on its organization, project or key',
});

/** `POST /v1/admin/orgs`. */
export const organizationCreate = z.strictObject({
  name: nameSchema,
  limits: limitsSchema.optional(),
  budget: budgetSchema.optional(),
});
/** `PATCH /v1/admin/orgs/{id}`: any field of the creation body. */
export const organizationPatch = organizationCreate.partial();

/** `POST /v1/admin/projects`: an organization's fields plus the `org_id` it belongs to. */
export const projectCreate = organizationCreate.extend({ org_id: idSchema });
/** `PATCH /v1/admin/projects/{id}` (a project does not move to another organization). */
export const projectPatch = organizationPatch;

/** `POST /v1/admin/users`. */
export const userCreate = z.strictObject({
  org_id: idSchema,
  email: z.email().max(320),
  name: z.string().max(maxNameLength).optional(),
  plan: z.string().min(1).max(64).optional(),
  request_quota: count.optional(),
  limits: notForUsers.optional(),
  budget: notForUsers.optional(),
});
/** `PATCH /v1/admin/users/{id}` (a user does not move to another organization). */
export const userPatch = userCreate.omit({ org_id: true }).partial();

const keyFields = {
  name: z.string().max(maxNameLength).optional(),
  limits: limitsSchema.optional(),
  budget: budgetSchema.optional(),
  models: modelsSchema.optional(),
  metadata: metadataSchema.optional(),
  expires_at: instantSchema.nullable().optional(),
};

/** `POST /v1/admin/api-keys`: for a project (`project_id`) or an organization alone (`org_id`). */
export const apiKeyCreate = z.strictObject({
  ...keyFields,
  project_id: idSchema.optional(),
  org_id: idSchema.optional(),
  user_id: idSchema.optional(),
});
/** `PATCH /v1/admin/api-keys/{id}` (a key does not move; revoke it with DELETE). */
export const apiKeyPatch = z.strictObject(keyFields);

/** Wire limits as the store takes them; `null` clears every limit, absent fields are kept. */
export function limitsInput(wire: LimitsWire | undefined): LimitsInput | undefined {
  if (wire === undefined) return undefined;
  if (wire === null) return { rpm: null, rph: null, tpm: null, tokenBudget: null };
  return { rpm: wire.rpm, rph: wire.rph, tpm: wire.tpm, tokenBudget: wire.token_budget };
}

/** Wire budget as the store takes it; `null` clears both, absent fields are kept. */
export function budgetInput(wire: BudgetWire | undefined): BudgetInput | undefined {
  if (wire === undefined) return undefined;
  if (wire === null) return { dailyUsd: null, monthlyUsd: null };
  return { dailyUsd: wire.daily_usd, monthlyUsd: wire.monthly_usd };
}

const countOut = z.int().min(0).nullable();
const usdOut = z.number().min(0).nullable();
const timeOut = isoTimeSchema.nullable();

/** `limits` as replies show them: every field, null for unlimited. */
export const limitsWireSchema = z.strictObject({
  rpm: countOut,
  rph: countOut,
  tpm: countOut,
  token_budget: countOut,
});
/** `budget` as replies show it, USD: every field, null for unlimited. */
export const budgetWireSchema = z.strictObject({ daily_usd: usdOut, monthly_usd: usdOut });

/** An organization as the admin API shows it. */
export const organizationWireSchema = z.strictObject({
  id: z.string(),
  object: z.literal('organization'),
  name: z.string(),
  limits: limitsWireSchema,
  budget: budgetWireSchema,
  created_at: isoTimeSchema,
});

/** A project as the admin API shows it (whether it has its own provider keys, never the keys). */
export const projectWireSchema = z.strictObject({
  id: z.string(),
  object: z.literal('project'),
  org_id: z.string(),
  name: z.string(),
  limits: limitsWireSchema,
  budget: budgetWireSchema,
  has_provider_keys: z.boolean(),
  created_at: isoTimeSchema,
});

/** A user as the admin API shows it. */
export const userWireSchema = z.strictObject({
  id: z.string(),
  object: z.literal('user'),
  org_id: z.string(),
  email: z.string(),
  name: z.string().nullable(),
  plan: z.string().nullable(),
  /** Requests per UTC month over all of the user's keys; null is unlimited. */
  request_quota: countOut,
  created_at: isoTimeSchema,
});

/** An API key as listed: its prefix, never the key itself nor its hash. */
export const apiKeyWireSchema = z.strictObject({
  id: z.string(),
  object: z.literal('api_key'),
  key_prefix: z.string(),
  name: z.string().nullable(),
  status: z.enum(['active', 'revoked', 'expired']),
  org_id: z.string(),
  project_id: z.string().nullable(),
  user_id: z.string().nullable(),
  models: z.array(z.string()).readonly().nullable(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  limits: limitsWireSchema,
  budget: budgetWireSchema,
  expires_at: timeOut,
  revoked_at: timeOut,
  created_at: isoTimeSchema,
  last_used_at: timeOut,
});

/** `POST /v1/admin/api-keys`: the new key with its secret `key` (`nk-…`), shown in this reply only. */
export const apiKeyCreatedWireSchema = apiKeyWireSchema.extend({ key: z.string() });

/** A list reply of the admin API: `{object: 'list', data: [...]}`. */
export function listWireSchema<T extends z.ZodType>(item: T) {
  return z.strictObject({ object: z.literal('list'), data: z.array(item) });
}

/** `{rpm, rph, tpm, token_budget}`; null is unlimited. */
export function limitsOut(limits: Limits): z.output<typeof limitsWireSchema> {
  return { rpm: limits.rpm, rph: limits.rph, tpm: limits.tpm, token_budget: limits.tokenBudget };
}

/** `{daily_usd, monthly_usd}`; null is unlimited. */
export function budgetOut(budget: Budget): z.output<typeof budgetWireSchema> {
  return { daily_usd: budget.dailyUsd, monthly_usd: budget.monthlyUsd };
}

/** An organization as the admin API shows it. */
export function organizationOut(org: Organization): z.output<typeof organizationWireSchema> {
  return {
    id: org.id,
    object: 'organization',
    name: org.name,
    limits: limitsOut(org.limits),
    budget: budgetOut(org.budget),
    created_at: isoTime(org.createdAt),
  };
}

/** A project; its own provider keys are never shown, only whether it has them. */
export function projectOut(project: Project): z.output<typeof projectWireSchema> {
  return {
    id: project.id,
    object: 'project',
    org_id: project.orgId,
    name: project.name,
    limits: limitsOut(project.limits),
    budget: budgetOut(project.budget),
    has_provider_keys: project.hasProviderKeys,
    created_at: isoTime(project.createdAt),
  };
}

/** A user as the admin API shows it. */
export function userOut(user: User): z.output<typeof userWireSchema> {
  return {
    id: user.id,
    object: 'user',
    org_id: user.orgId,
    email: user.email,
    name: user.name,
    plan: user.plan,
    request_quota: user.requestQuota,
    created_at: isoTime(user.createdAt),
  };
}

/** Whether a key works now: `revoked` and `expired` keys are refused with 401. */
export function keyStatus(key: ApiKey, nowMs = Date.now()): 'active' | 'revoked' | 'expired' {
  if (key.revokedAt !== null) return 'revoked';
  return key.expiresAt !== null && key.expiresAt <= nowMs ? 'expired' : 'active';
}

/** A key as listed: its prefix for telling keys apart, never the key itself nor its hash. */
export function apiKeyOut(key: ApiKey): z.output<typeof apiKeyWireSchema> {
  return {
    id: key.id,
    object: 'api_key',
    key_prefix: key.keyPrefix,
    name: key.name,
    status: keyStatus(key),
    org_id: key.orgId,
    project_id: key.projectId,
    user_id: key.userId,
    models: key.models,
    metadata: key.metadata,
    limits: limitsOut(key.limits),
    budget: budgetOut(key.budget),
    expires_at: isoTime(key.expiresAt),
    revoked_at: isoTime(key.revokedAt),
    created_at: isoTime(key.createdAt),
    last_used_at: isoTime(key.lastUsedAt),
  };
}
