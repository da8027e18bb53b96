import { z } from 'zod';
import { NexusError } from '../../core/errors.ts';
import type { Store } from '../../store/sql/create-store.ts';
import type { Exchange, Gateway, Route } from '../exchange.ts';
import { sendJson } from '../respond.ts';
import {
  apiKeyCreate,
  apiKeyCreatedWireSchema,
  apiKeyOut,
  apiKeyPatch,
  apiKeyWireSchema,
  budgetInput,
  idSchema,
  limitsInput,
  organizationCreate,
  organizationOut,
  organizationPatch,
  organizationWireSchema,
  projectCreate,
  projectOut,
  projectPatch,
  projectWireSchema,
  userCreate,
  userOut,
  userPatch,
  userWireSchema,
} from './admin-wire.ts';
import {
  fromStore,
  notFound,
  pathId,
  readBody,
  readQuery,
  requireAdmin,
  sendNoContent,
  servicesOf,
} from './route-input.ts';

/**
 * One kind of entity of the admin API: its schemas and its store calls, in wire shapes. The schemas are also
 * what /openapi.json publishes for its routes.
 */
export interface Entity<Create, Patch, Query> {
  /** `/v1/admin/orgs`: list and create here, read, change and delete at `<path>/{id}`. */
  readonly path: string;
  /** For messages and the audit log: `organization`. */
  readonly noun: string;
  readonly createSchema: z.ZodType<Create>;
  readonly patchSchema: z.ZodType<Patch>;
  readonly listSchema: z.ZodType<Query>;
  /** How the entity is shown (read, change, list). */
  readonly wireSchema: z.ZodType;
  /** How the creation reply shows it (a key's includes its secret, once). */
  readonly createdWireSchema: z.ZodType;
  create(store: Store, input: Create): Promise<{ id: string; body: object }>;
  list(store: Store, query: Query): Promise<object[]>;
  get(store: Store, id: string): Promise<object | undefined>;
  update(store: Store, id: string, input: Patch): Promise<object | undefined>;
  /** What DELETE does: a key is revoked (it stays listed), anything else deleted. */
  readonly removal: 'delete' | 'revoke';
  /** Deletes or revokes; false when there is no such entity. */
  remove(store: Store, id: string): Promise<boolean>;
}

const noQuery = z.strictObject({});

const organizations: Entity<
  z.output<typeof organizationCreate>,
  z.output<typeof organizationPatch>,
  z.output<typeof noQuery>
> = {
  path: '/v1/admin/orgs',
  noun: 'organization',
  createSchema: organizationCreate,
  patchSchema: organizationPatch,
  listSchema: noQuery,
  wireSchema: organizationWireSchema,
  createdWireSchema: organizationWireSchema,
  async create(store, input) {
    const org = await store.organizations.create({
      name: input.name,
      limits: limitsInput(input.limits),
      budget: budgetInput(input.budget),
    });
    return { id: org.id, body: organizationOut(org) };
  },
  list: async (store) => (await store.organizations.list()).map(organizationOut),
  get: async (store, id) => optional(await store.organizations.get(id), organizationOut),
  async update(store, id, input) {
    const org = await store.organizations.update(id, {
      name: input.name,
      limits: limitsInput(input.limits),
      budget: budgetInput(input.budget),
    });
    return optional(org, organizationOut);
  },
  removal: 'delete',
  remove: (store, id) => store.organizations.delete(id),
};

const projectQuery = z.strictObject({ org_id: idSchema.optional() });

const projects: Entity<
  z.output<typeof projectCreate>,
  z.output<typeof projectPatch>,
  z.output<typeof projectQuery>
> = {
  path: '/v1/admin/projects',
  noun: 'project',
  createSchema: projectCreate,
  patchSchema: projectPatch,
  listSchema: projectQuery,
  wireSchema: projectWireSchema,
  createdWireSchema: projectWireSchema,
  async create(store, input) {
    const project = await store.projects.create({
      orgId: input.org_id,
      name: input.name,
      limits: limitsInput(input.limits),
      budget: budgetInput(input.budget),
    });
    return { id: project.id, body: projectOut(project) };
  },
  list: async (store, query) => (await store.projects.list({ orgId: query.org_id })).map(projectOut),
  get: async (store, id) => optional(await store.projects.get(id), projectOut),
  async update(store, id, input) {
    const project = await store.projects.update(id, {
      name: input.name,
      limits: limitsInput(input.limits),
      budget: budgetInput(input.budget),
    });
    return optional(project, projectOut);
  },
  removal: 'delete',
  remove: (store, id) => store.projects.delete(id),
};

const users: Entity<
  z.output<typeof userCreate>,
  z.output<typeof userPatch>,
  z.output<typeof projectQuery>
> = {
  path: '/v1/admin/users',
  noun: 'user',
  createSchema: userCreate,
  patchSchema: userPatch,
  listSchema: projectQuery,
  wireSchema: userWireSchema,
  createdWireSchema: userWireSchema,
  async create(store, input) {
    const user = await store.users.create({
      orgId: input.org_id,
      email: input.email,
      name: input.name,
      plan: input.plan,
      requestQuota: input.request_quota,
    });
    return { id: user.id, body: userOut(user) };
  },
  list: async (store, query) => (await store.users.list({ orgId: query.org_id })).map(userOut),
  get: async (store, id) => optional(await store.users.get(id), userOut),
  async update(store, id, input) {
    const user = await store.users.update(id, {
      email: input.email,
      name: input.name,
      plan: input.plan,
      requestQuota: input.request_quota,
    });
    return optional(user, userOut);
  },
  removal: 'delete',
  remove: (store, id) => store.users.delete(id),
};

const keyQuery = z.strictObject({
  org_id: idSchema.optional(),
  project_id: idSchema.optional(),
  user_id: idSchema.optional(),
});

const apiKeys: Entity<
  z.output<typeof apiKeyCreate>,
  z.output<typeof apiKeyPatch>,
  z.output<typeof keyQuery>
> = {
  path: '/v1/admin/api-keys',
  noun: 'API key',
  createSchema: apiKeyCreate,
  patchSchema: apiKeyPatch,
  listSchema: keyQuery,
  wireSchema: apiKeyWireSchema,
  createdWireSchema: apiKeyCreatedWireSchema,
  async create(store, input) {
    if (input.project_id === undefined && input.org_id === undefined) {
      throw new NexusError('invalid_request', "An API key needs 'project_id' or 'org_id'.", {
        param: 'project_id',
      });
    }
    if (input.expires_at != null && input.expires_at <= Date.now()) {
      throw new NexusError('invalid_request', "Invalid 'expires_at': it is already past.", {
        param: 'expires_at',
      });
    }
    const created = await store.apiKeys.create({
      orgId: input.org_id,
      projectId: input.project_id,
      userId: input.user_id,
      name: input.name,
      models: input.models,
      metadata: input.metadata,
      limits: limitsInput(input.limits),
      budget: budgetInput(input.budget),
      expiresAt: input.expires_at,
    });
    // The one and only time the key is shown: the store keeps its SHA-256 alone.
    return { id: created.key.id, body: { ...apiKeyOut(created.key), key: created.secret } };
  },
  list: async (store, query) =>
    (
      await store.apiKeys.list({ orgId: query.org_id, projectId: query.project_id, userId: query.user_id })
    ).map(apiKeyOut),
  get: async (store, id) => optional(await store.apiKeys.get(id), apiKeyOut),
  async update(store, id, input) {
    const key = await store.apiKeys.update(id, {
      name: input.name,
      models: input.models,
      metadata: input.metadata,
      limits: limitsInput(input.limits),
      budget: budgetInput(input.budget),
      expiresAt: input.expires_at,
    });
    return optional(key, apiKeyOut);
  },
  removal: 'revoke',
  remove: async (store, id) => (await store.apiKeys.revoke(id)) !== undefined,
};

function optional<T>(found: T | undefined, out: (value: T) => object): object | undefined {
  return found === undefined ? undefined : out(found);
}

type Handler = (gateway: Gateway, exchange: Exchange) => Promise<void>;

/** A route of the admin API: master key only (a tenant key gets 403), errors in OpenAI's shape. */
export function adminRoute(method: Route['method'], path: string, run: Handler): Route {
  return {
    kind: 'plain',
    method,
    path,
    authenticated: true,
    errorShape: 'openai',
    handle: (gateway) =>
      async function adminHandler(exchange) {
        requireAdmin(exchange);
        await run(gateway, exchange);
      },
  };
}

/**
 * After a change, this replica reloads its in-memory keys and limits at once (a revoked key is refused from the
 * next request on); other replicas follow within `tenancy.keyRefreshMs`. The change goes to the audit log.
 */
async function changed(gateway: Gateway, exchange: Exchange, noun: string, id: string, action: string) {
  await servicesOf(gateway).keys.refresh();
  gateway.log.info({ requestId: exchange.id, entity: noun, id, action }, 'admin change');
}

function entityRoutes<Create, Patch, Query>(entity: Entity<Create, Patch, Query>): Route[] {
  const item = `${entity.path}/*`;
  const prefix = `${entity.path}/`;
  return [
    adminRoute('POST', entity.path, async (gateway, exchange) => {
      const input = await readBody(gateway, exchange, entity.createSchema);
      const created = await fromStore(entity.create(servicesOf(gateway).store, input));
      await changed(gateway, exchange, entity.noun, created.id, 'create');
      sendJson(exchange.response, 201, created.body);
    }),
    adminRoute('GET', entity.path, async (gateway, exchange) => {
      const query = readQuery(exchange, entity.listSchema);
      const data = await fromStore(entity.list(servicesOf(gateway).store, query));
      sendJson(exchange.response, 200, { object: 'list', data });
    }),
    adminRoute('GET', item, async (gateway, exchange) => {
      const id = pathId(exchange, prefix, entity.noun);
      const found = await fromStore(entity.get(servicesOf(gateway).store, id));
      if (found === undefined) throw notFound(entity.noun);
      sendJson(exchange.response, 200, found);
    }),
    adminRoute('PATCH', item, async (gateway, exchange) => {
      const id = pathId(exchange, prefix, entity.noun);
      const input = await readBody(gateway, exchange, entity.patchSchema);
      const updated = await fromStore(entity.update(servicesOf(gateway).store, id, input));
      if (updated === undefined) throw notFound(entity.noun);
      await changed(gateway, exchange, entity.noun, id, 'update');
      sendJson(exchange.response, 200, updated);
    }),
    adminRoute('DELETE', item, async (gateway, exchange) => {
      const id = pathId(exchange, prefix, entity.noun);
      if (!(await fromStore(entity.remove(servicesOf(gateway).store, id)))) throw notFound(entity.noun);
      await changed(gateway, exchange, entity.noun, id, entity.removal);
      sendNoContent(exchange.response);
    }),
  ];
}

/**
 * The admin API's entities (SPEC §2.3): `POST` and `GET /v1/admin/{orgs,projects,users,api-keys}`, and
 * `GET`, `PATCH`, `DELETE /v1/admin/<entity>/{id}`, master key only. A key's secret is in its creation reply
 * only; deleting a key revokes it (it stays listed, `status: "revoked"`); deleting an organization or project
 * deletes what it contains (the usage ledger keeps its records).
 */
export const adminRoutes: readonly Route[] = [
  ...entityRoutes(organizations),
  ...entityRoutes(projects),
  ...entityRoutes(users),
  ...entityRoutes(apiKeys),
];

/** What describes an entity's routes: its path, noun, schemas and what DELETE does. */
export type EntityDescription = Pick<
  Entity<unknown, unknown, unknown>,
  'path' | 'noun' | 'listSchema' | 'wireSchema' | 'createdWireSchema' | 'removal'
> & { readonly createSchema: z.ZodType; readonly patchSchema: z.ZodType };

/** The admin API's entities, for the document that describes their routes (http/openapi/). */
export const adminEntities: readonly EntityDescription[] = [organizations, projects, users, apiKeys];
