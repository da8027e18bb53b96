import { z } from 'zod';
import { NexusError } from '../../core/errors.ts';
import type { Store } from '../../store/sql/create-store.ts';
import type { ApiKey, Limits } from '../../store/sql/tenancy-types.ts';
import type { Exchange, Gateway, Route } from '../exchange.ts';
import { seed004Envelope, sendJson } from '../respond.ts';
import { idSchema, maxNameLength } from './admin-wire.ts';
import {
  fromStore,
  instantSchema,
  notFound,
  pathId,
  readBody,
  readQuery,
  servicesOf,
} from './route-input.ts';
import { key004, key004Schema, targetProject } from './seed-project-wire.ts';

const path = '/api/v1/projects/api-keys';
const usd = z.number().min(0).max(9_000_000).nullable();

/** `POST /api/v1/projects/api-keys`: what the new key may do (never more than the calling key). */
export const createKey = z.strictObject({
  name: z.string().max(maxNameLength).optional(),
  dailyBudget: usd.optional(),
  monthlyBudget: usd.optional(),
  models: z.array(z.string().min(1).max(maxNameLength)).max(256).nullable().optional(),
  expiresAt: instantSchema.nullable().optional(),
  /** With the master key: the project the key is for. */
  projectId: idSchema.optional(),
});
type CreateKey = z.output<typeof createKey>;

/** The project-key routes' query: the master key names the project. */
export const projectKeysQuery = z.strictObject({ projectId: idSchema.optional() });
/** `DELETE /api/v1/projects/api-keys?id=`: the key, when the path does not name it. */
export const revokeKeyQuery = projectKeysQuery.extend({ id: idSchema.optional() });

/** `GET /api/v1/projects/api-keys`: the project's keys, revoked ones included. */
export const projectKeysReplySchema = seed004Envelope(z.array(key004Schema));
/** `POST /api/v1/projects/api-keys`: the new key, its secret as `apiKey` (shown in this reply only). */
export const issuedKeyReplySchema = seed004Envelope(key004Schema.extend({ apiKey: z.string() }));
/** `DELETE /api/v1/projects/api-keys[/{id}]`. */
export const revokedKeyReplySchema = seed004Envelope(
  z.strictObject({ id: z.string(), revoked: z.literal(true) }),
);

/** What a new key gets: as asked with the master key; with a tenant key, never more than its creator has. */
interface Grant {
  readonly models: readonly string[] | null | undefined;
  readonly expiresAt: number | null | undefined;
  readonly dailyUsd: number | null | undefined;
  readonly monthlyUsd: number | null | undefined;
  readonly limits: Limits | undefined;
}

/**
 * A tenant key may issue keys for its own project, but none that can do more than it: a key limited to some
 * models, an expiry or a budget issues keys within them (by default the same), with its own rate limits.
 * Otherwise a restricted key could mint an unrestricted one.
 */
async function grantFor(store: Store, exchange: Exchange, input: CreateKey): Promise<Grant> {
  const asked = {
    models: input.models,
    expiresAt: input.expiresAt,
    dailyUsd: input.dailyBudget,
    monthlyUsd: input.monthlyBudget,
  };
  const principal = exchange.principal;
  if (principal?.kind !== 'key') return { ...asked, limits: undefined };
  const creator = await fromStore(store.apiKeys.get(principal.key.keyId));
  if (creator === undefined)
    throw new NexusError('invalid_api_key', 'The API key is revoked or does not exist.');
  const refuse = (field: string, why: string) =>
    new NexusError('permission_denied', `A key cannot issue a key with ${why} than its own.`, {
      param: field,
    });
  const models = asked.models === undefined ? creator.models : asked.models;
  if (
    creator.models !== null &&
    (models === null || models.some((model) => !creator.models?.includes(model)))
  ) {
    throw refuse('models', 'more models');
  }
  const within = (value: number | null | undefined, own: number | null, field: string, why: string) => {
    const chosen = value === undefined ? own : value;
    if (own !== null && (chosen === null || chosen > own)) throw refuse(field, why);
    return chosen;
  };
  return {
    models,
    expiresAt: within(asked.expiresAt, creator.expiresAt, 'expiresAt', 'a later expiry'),
    dailyUsd: within(asked.dailyUsd, creator.budget.dailyUsd, 'dailyBudget', 'a larger daily budget'),
    monthlyUsd: within(
      asked.monthlyUsd,
      creator.budget.monthlyUsd,
      'monthlyBudget',
      'a larger monthly budget',
    ),
    limits: creator.limits,
  };
}

async function issueKey(gateway: Gateway, exchange: Exchange): Promise<{ key: ApiKey; secret: string }> {
  const { store, keys } = servicesOf(gateway);
  const input = await readBody(gateway, exchange, createKey);
  const project = await targetProject(store, exchange, input.projectId);
  if (input.expiresAt != null && input.expiresAt <= Date.now()) {
    throw new NexusError('invalid_request', "Invalid 'expiresAt': it is already past.", {
      param: 'expiresAt',
    });
  }
  const grant = await grantFor(store, exchange, input);
  const created = await fromStore(
    store.apiKeys.create(
      {
        projectId: project.id,
        name: input.name,
        models: grant.models,
        expiresAt: grant.expiresAt,
        budget: { dailyUsd: grant.dailyUsd, monthlyUsd: grant.monthlyUsd },
        limits: grant.limits,
      },
      { orgId: project.orgId },
    ),
  );
  await keys.refresh();
  gateway.log.info(
    { requestId: exchange.id, entity: 'API key', id: created.key.id, action: 'create' },
    'admin change',
  );
  return created;
}

async function revokeKey(gateway: Gateway, exchange: Exchange, pathKeyId: string | undefined) {
  const { store, keys } = servicesOf(gateway);
  const query = readQuery(exchange, revokeKeyQuery);
  const id = pathKeyId ?? query.id;
  if (id === undefined) {
    throw new NexusError(
      'invalid_request',
      "Name the key to revoke: '/api/v1/projects/api-keys/{id}' or '?id='.",
      {
        param: 'id',
      },
    );
  }
  const project = await targetProject(store, exchange, query.projectId);
  const revoked = await fromStore(store.apiKeys.revoke(id, { orgId: project.orgId, projectId: project.id }));
  if (revoked === undefined) throw notFound('API key');
  await keys.refresh();
  gateway.log.info({ requestId: exchange.id, entity: 'API key', id, action: 'revoke' }, 'admin change');
  return revoked;
}

function seedRoute(
  method: Route['method'],
  routePath: string,
  run: (gateway: Gateway, exchange: Exchange) => Promise<{ status: number; data: unknown }>,
): Route {
  return {
    kind: 'plain',
    method,
    path: routePath,
    authenticated: true,
    errorShape: 'seed-004',
    handle: (gateway) =>
      async function projectKeys(exchange) {
        const { status, data } = await run(gateway, exchange);
        sendJson(exchange.response, status, { success: true, data });
      },
  };
}

/**
 * Seed 004's key management, in its envelope: a project key manages its own project's keys (another
 * project's key id is a 404), the master key any project's, named by `projectId`.
 * - `GET /api/v1/projects/api-keys`: the project's keys, revoked ones included, never a key itself.
 * - `POST /api/v1/projects/api-keys {name?, dailyBudget?, monthlyBudget?, models?, expiresAt?, projectId?}`:
 *   201 with the new key as `apiKey`, shown this once.
 * - `DELETE /api/v1/projects/api-keys/{id}` (or `?id=`): revokes the key; it stops working at once.
 */
export const seedProjectKeyRoutes: readonly Route[] = [
  seedRoute('GET', path, async (gateway, exchange) => {
    const { store } = servicesOf(gateway);
    const query = readQuery(exchange, projectKeysQuery);
    const project = await targetProject(store, exchange, query.projectId);
    const keys = await fromStore(store.apiKeys.list({ orgId: project.orgId, projectId: project.id }));
    return { status: 200, data: keys.map(key004) };
  }),
  seedRoute('POST', path, async (gateway, exchange) => {
    const created = await issueKey(gateway, exchange);
    return { status: 201, data: { ...key004(created.key), apiKey: created.secret } };
  }),
  seedRoute('DELETE', path, async (gateway, exchange) => {
    const revoked = await revokeKey(gateway, exchange, undefined);
    return { status: 200, data: { id: revoked.id, revoked: true } };
  }),
  seedRoute('DELETE', `${path}/*`, async (gateway, exchange) => {
    const revoked = await revokeKey(gateway, exchange, pathId(exchange, `${path}/`, 'API key'));
    return { status: 200, data: { id: revoked.id, revoked: true } };
  }),
];
