import { z } from 'zod';
import { NexusError } from '../../core/errors.ts';
import type { Store } from '../../store/sql/create-store.ts';
import type { ApiKey, Project } from '../../store/sql/tenancy-types.ts';
import type { Exchange } from '../exchange.ts';
import { keyStatus } from './admin-wire.ts';
import { fromStore, isoTime, isoTimeSchema, notFound } from './route-input.ts';

/** Seed 004's shapes of projects and keys (camelCase), and which project a seed-004 call is about. */

const usd = z.number().min(0).nullable();
const count = z.int().min(0).nullable();

/** A key in seed 004's camelCase: its prefix, never the key itself nor its hash. */
export const key004Schema = z.strictObject({
  id: z.string(),
  name: z.string().nullable(),
  keyPrefix: z.string(),
  status: z.enum(['active', 'revoked', 'expired']),
  projectId: z.string().nullable(),
  dailyBudget: usd,
  monthlyBudget: usd,
  models: z.array(z.string()).readonly().nullable(),
  expiresAt: isoTimeSchema.nullable(),
  revokedAt: isoTimeSchema.nullable(),
  lastUsedAt: isoTimeSchema.nullable(),
  createdAt: isoTimeSchema,
});

/** A project in seed 004's camelCase: whether it has its own provider keys, never the keys. */
export const project004Schema = z.strictObject({
  id: z.string(),
  name: z.string(),
  orgId: z.string(),
  hasProviderKeys: z.boolean(),
  dailyBudget: usd,
  monthlyBudget: usd,
  limits: z.strictObject({ rpm: count, rph: count, tpm: count, tokenBudget: count }),
  createdAt: isoTimeSchema,
});

/** A key in seed 004's camelCase: its prefix, never the key itself nor its hash. */
export function key004(key: ApiKey): z.output<typeof key004Schema> {
  return {
    id: key.id,
    name: key.name,
    keyPrefix: key.keyPrefix,
    status: keyStatus(key),
    projectId: key.projectId,
    dailyBudget: key.budget.dailyUsd,
    monthlyBudget: key.budget.monthlyUsd,
    models: key.models,
    expiresAt: isoTime(key.expiresAt),
    revokedAt: isoTime(key.revokedAt),
    lastUsedAt: isoTime(key.lastUsedAt),
    createdAt: isoTime(key.createdAt),
  };
}

/** A project in seed 004's camelCase; its provider keys are never shown, only whether it has them. */
export function project004(project: Project): z.output<typeof project004Schema> {
  return {
    id: project.id,
    name: project.name,
    orgId: project.orgId,
    hasProviderKeys: project.hasProviderKeys,
    dailyBudget: project.budget.dailyUsd,
    monthlyBudget: project.budget.monthlyUsd,
    limits: {
      rpm: project.limits.rpm,
      rph: project.limits.rph,
      tpm: project.limits.tpm,
      tokenBudget: project.limits.tokenBudget,
    },
    createdAt: isoTime(project.createdAt),
  };
}

/**
 * The project a seed-004 call is about: a tenant key's own (a key issued to an organization alone has none),
 * or, for the master key, the one named by `projectId` (required). An id outside the caller's reach is a 404.
 */
export async function targetProject(
  store: Store,
  exchange: Exchange,
  projectId: string | undefined,
): Promise<Project> {
  const principal = exchange.principal;
  if (principal?.kind === 'key') {
    const own = principal.key.projectId;
    if (own === null) {
      throw new NexusError(
        'permission_denied',
        'This key belongs to an organization, not a project; use a project key or the master key.',
      );
    }
    if (projectId !== undefined && projectId !== own) throw notFound('project');
    const project = await fromStore(store.projects.get(own, { orgId: principal.key.orgId }));
    if (project === undefined) throw notFound('project');
    return project;
  }
  if (projectId === undefined) {
    throw new NexusError(
      'invalid_request',
      "With the master key, name the project: 'projectId' is required.",
      {
        param: 'projectId',
      },
    );
  }
  const project = await fromStore(store.projects.get(projectId));
  if (project === undefined) throw notFound('project');
  return project;
}
