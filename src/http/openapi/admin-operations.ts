import { adminEntities, type EntityDescription } from '../routes/admin.ts';
import {
  cacheListQuery,
  cacheListSchema,
  cachePurgeQuery,
  cachePurgeReplySchema,
} from '../routes/admin-cache.ts';
import {
  adminUsageQuery,
  adminUsageReplySchema,
  logsPageSchema,
  logsQuery,
  metricsQuery,
  metricsReplySchema,
} from '../routes/admin-usage.ts';
import { listWireSchema } from '../routes/admin-wire.ts';
import type { OperationDoc } from './operation-doc.ts';

/** Bodies each entity's create and change accept, for the reference page and the OpenAPI test. */
const examples: Record<string, { create: unknown; patch: unknown; id: string }> = {
  '/v1/admin/orgs': {
    create: { name: 'Acme', limits: { rpm: 600, tpm: 200_000 }, budget: { monthly_usd: 500 } },
    patch: { budget: { monthly_usd: 750 } },
    id: 'org_…',
  },
  '/v1/admin/projects': {
    create: { name: 'checkout-service', org_id: 'org_…', budget: { daily_usd: 20 } },
    patch: { limits: { rpm: 120 } },
    id: 'proj_…',
  },
  '/v1/admin/users': {
    create: { org_id: 'org_…', email: 'ada@example.com', name: 'Ada', plan: 'pro', request_quota: 100_000 },
    patch: { plan: 'enterprise', request_quota: null },
    id: 'user_…',
  },
  '/v1/admin/api-keys': {
    create: { project_id: 'proj_…', name: 'ci', models: ['gpt-4o-mini'], budget: { daily_usd: 5 } },
    patch: { name: 'ci (rotated)', expires_at: '2099-12-31T00:00:00Z' },
    id: 'key_…',
  },
};

/** `API key` → `ApiKey`, `organization` → `Organization`. */
function typeName(noun: string): string {
  return noun
    .split(' ')
    .map((word) => (word === 'API' ? 'Api' : `${word.charAt(0).toUpperCase()}${word.slice(1)}`))
    .join('');
}

/** `an organization`, `a user`. */
function withArticle(noun: string): string {
  return `${/^(organization|API)/.test(noun) ? 'an' : 'a'} ${noun}`;
}

/** The five routes of one entity, described from the schemas its routes validate and answer with. */
function entityOperations(entity: EntityDescription): Record<string, OperationDoc> {
  const name = typeName(entity.noun);
  const example = examples[entity.path];
  if (example === undefined) throw new Error(`no OpenAPI examples for ${entity.path}`);
  const item = `${entity.path}/*`;
  const pathParameter = { name: 'id', description: `The ${entity.noun}'s id.`, example: example.id };
  const base = { tag: 'Admin', admin: true } as const;
  const one = withArticle(entity.noun);
  return {
    [`POST ${entity.path}`]: {
      ...base,
      operationId: `create${name}`,
      summary: `Create ${one}`,
      body: { schema: entity.createSchema, example: example.create, name: `${name}Create` },
      reply: {
        status: 201,
        description:
          entity.removal === 'revoke'
            ? 'The new key; its secret `key` (`nk-…`) is in this reply only.'
            : `The new ${entity.noun}.`,
        schema: entity.createdWireSchema,
        name: entity.createdWireSchema === entity.wireSchema ? name : `${name}Created`,
      },
      errors: [404, 409],
    },
    [`GET ${entity.path}`]: {
      ...base,
      operationId: `list${name}s`,
      summary: `List ${entity.noun}s`,
      query: entity.listSchema,
      reply: {
        status: 200,
        description: `The ${entity.noun}s.`,
        schema: listWireSchema(entity.wireSchema),
        name: `${name}List`,
      },
    },
    [`GET ${item}`]: {
      ...base,
      operationId: `get${name}`,
      summary: `Read ${one}`,
      pathParameter,
      reply: { status: 200, description: `The ${entity.noun}.`, schema: entity.wireSchema, name },
      errors: [404],
    },
    [`PATCH ${item}`]: {
      ...base,
      operationId: `update${name}`,
      summary: `Change ${one}`,
      description: 'Absent fields are kept; null clears a limit or budget.',
      pathParameter,
      body: { schema: entity.patchSchema, example: example.patch, name: `${name}Patch` },
      reply: { status: 200, description: `The ${entity.noun} as changed.`, schema: entity.wireSchema, name },
      errors: [404, 409],
    },
    [`DELETE ${item}`]: {
      ...base,
      operationId: `delete${name}`,
      summary: `${entity.removal === 'revoke' ? 'Revoke' : 'Delete'} ${one}`,
      description:
        entity.removal === 'revoke'
          ? 'Refused from its next request on; still listed, as `revoked`.'
          : `Deletes the ${entity.noun} and everything in it (the usage ledger keeps its records).`,
      pathParameter,
      reply: { status: 204, description: entity.removal === 'revoke' ? 'Revoked.' : 'Deleted.' },
      errors: [404],
    },
  };
}

const rangeNote = '`from` and `to` are ISO 8601 dates or date-times with an offset; `[from, to)`.';

/** The admin API: entities, usage, the request log, metrics and the cache. Keyed by `METHOD path`. */
export const adminOperations: Readonly<Record<string, OperationDoc>> = {
  ...Object.assign({}, ...adminEntities.map(entityOperations)),
  'GET /v1/admin/usage': {
    operationId: 'adminUsage',
    summary: 'Usage totals and groups',
    description: rangeNote,
    tag: 'Admin',
    admin: true,
    query: adminUsageQuery,
    reply: {
      status: 200,
      description: 'Totals, and one group per day, model, provider or key.',
      schema: adminUsageReplySchema,
    },
  },
  'GET /v1/admin/logs': {
    operationId: 'adminLogs',
    summary: 'The request log',
    description: `Newest first; one record per upstream attempt. Page with \`limit\` (1-1000) and \`cursor\` (the previous page's \`next_cursor\`). ${rangeNote}`,
    tag: 'Admin',
    admin: true,
    query: logsQuery,
    reply: { status: 200, description: 'A page of records.', schema: logsPageSchema },
  },
  'GET /v1/admin/metrics': {
    operationId: 'adminMetrics',
    summary: 'Gateway-wide metrics',
    description: rangeNote,
    tag: 'Admin',
    admin: true,
    query: metricsQuery,
    reply: {
      status: 200,
      description: 'Totals by provider and model, entity counts, uptime.',
      schema: metricsReplySchema,
    },
  },
  'GET /v1/admin/cache': {
    operationId: 'adminListCache',
    summary: "A tenant's cached answers",
    description: 'Name exactly one of `project_id`, `org_id` or `principal`.',
    tag: 'Admin',
    admin: true,
    query: cacheListQuery,
    reply: { status: 200, description: 'The entries, without their bodies.', schema: cacheListSchema },
    errors: [404],
  },
  'DELETE /v1/admin/cache': {
    operationId: 'adminPurgeCache',
    summary: "Purge a tenant's cached answers",
    description:
      'Name exactly one of `project_id`, `org_id` or `principal`. Semantic prompts are purged too.',
    tag: 'Admin',
    admin: true,
    query: cachePurgeQuery,
    reply: { status: 200, description: 'How many entries were removed.', schema: cachePurgeReplySchema },
    errors: [404],
  },
};
