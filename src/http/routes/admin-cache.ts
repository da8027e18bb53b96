import { z } from 'zod';
import { tenantPartition } from '../../cache/cache-key.ts';
import { NexusError } from '../../core/errors.ts';
import { semanticTenantPrefix } from '../../pipeline/semantic-prompt.ts';
import type { Gateway, Route } from '../exchange.ts';
import { sendJson } from '../respond.ts';
import { adminRoute } from './admin.ts';
import {
  fromStore,
  isoTimeSchema,
  lookupText,
  notFound,
  queryInteger,
  readQuery,
  servicesOf,
} from './route-input.ts';

const tenantQuery = {
  /** A project's entries (its keys and tokens share them). */
  project_id: lookupText(200).optional(),
  /** An organization's own entries (keys issued to the organization without a project). */
  org_id: lookupText(200).optional(),
  /** The master key's entries, or those of a gateway without keys. */
  principal: z.enum(['master', 'open']).optional(),
};
/** `GET /v1/admin/cache`'s query: one tenant, and at most `limit` entries (default 100). */
export const cacheListQuery = z.strictObject({ ...tenantQuery, limit: queryInteger(1, 1000).optional() });
/** `DELETE /v1/admin/cache`'s query: one tenant. */
export const cachePurgeQuery = z.strictObject(tenantQuery);

/** `GET /v1/admin/cache`: a tenant's stored answers, without their bodies. */
export const cacheListSchema = z.strictObject({
  object: z.literal('list'),
  data: z.array(
    z.strictObject({
      /** The entry's key: SHA-256 of the tenant, kind, model and canonical request. */
      digest: z.string(),
      kind: z.string(),
      model: z.string(),
      provider: z.string(),
      /** What the answer cost when it was stored, USD. */
      cost_usd: z.number().min(0),
      size_bytes: z.int().min(0),
      created_at: isoTimeSchema,
      expires_at: isoTimeSchema,
    }),
  ),
});

/** `DELETE /v1/admin/cache`: how many entries were removed. */
export const cachePurgeReplySchema = z.strictObject({ purged: z.int().min(0) });

/** The cache partition a query names: exactly one of a project, an organization, or a principal kind. */
async function partitionOf(
  gateway: Gateway,
  query: {
    project_id?: string | undefined;
    org_id?: string | undefined;
    principal?: 'master' | 'open' | undefined;
  },
): Promise<string> {
  const named = [query.project_id, query.org_id, query.principal].filter((value) => value !== undefined);
  if (named.length !== 1) {
    throw new NexusError('invalid_request', 'Name exactly one of project_id, org_id or principal.', {
      param: 'project_id',
    });
  }
  if (query.principal !== undefined) return tenantPartition({ kind: query.principal });
  if (query.org_id !== undefined) {
    const org = await fromStore(servicesOf(gateway).store.organizations.get(query.org_id));
    if (org === undefined) throw notFound('organization');
    return tenantPartition({ kind: 'key', orgId: org.id, projectId: null });
  }
  const project = await fromStore(servicesOf(gateway).store.projects.get(query.project_id!));
  if (project === undefined) throw notFound('project');
  return tenantPartition({ kind: 'key', orgId: project.orgId, projectId: project.id });
}

/**
 * The response cache's admin API, master key only: a tenant's stored answers (newest to expire first, no
 * bodies), and a purge of all of them, semantic prompts included, on every replica sharing the store.
 */
export const adminCacheRoutes: readonly Route[] = [
  adminRoute('GET', '/v1/admin/cache', async (gateway, exchange) => {
    const query = readQuery(exchange, cacheListQuery);
    const tenant = await partitionOf(gateway, query);
    const entries = await servicesOf(gateway).cache.store.list(tenant, query.limit ?? 100);
    const body: z.output<typeof cacheListSchema> = {
      object: 'list',
      data: entries.map((entry) => ({
        digest: entry.digest,
        kind: entry.kind,
        model: entry.model,
        provider: entry.provider,
        cost_usd: entry.costUsd,
        size_bytes: entry.sizeBytes,
        created_at: new Date(entry.createdAt).toISOString(),
        expires_at: new Date(entry.expiresAt).toISOString(),
      })),
    };
    sendJson(exchange.response, 200, body);
  }),
  adminRoute('DELETE', '/v1/admin/cache', async (gateway, exchange) => {
    const query = readQuery(exchange, cachePurgeQuery);
    const tenant = await partitionOf(gateway, query);
    const cache = servicesOf(gateway).cache;
    const purged = await cache.store.purge(tenant);
    cache.semantic.clear(semanticTenantPrefix(tenant));
    await cache.semanticSync?.clear(tenant);
    gateway.log.info({ requestId: exchange.id, purged }, 'cache purged');
    sendJson(exchange.response, 200, { purged } satisfies z.output<typeof cachePurgeReplySchema>);
  }),
];
