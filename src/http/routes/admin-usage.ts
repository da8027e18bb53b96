import { z } from 'zod';
import { decodeLogCursor } from '../../store/sql/log-cursor.ts';
import type { Route } from '../exchange.ts';
import { sendJson } from '../respond.ts';
import { adminRoute } from './admin.ts';
import { fromStore, isStorable, lookupText, queryInteger, readQuery, servicesOf } from './route-input.ts';
import {
  checkRange,
  groupBySchema,
  logRecordOut,
  logRecordWireSchema,
  summaryOut,
  summaryWireFields,
  totalsOut,
  totalsWireFields,
  usageFilterFields,
} from './usage-wire.ts';

/** `GET /v1/admin/usage`'s query. */
export const adminUsageQuery = z.strictObject({ ...usageFilterFields, group_by: groupBySchema.optional() });

/** `GET /v1/admin/usage`. */
export const adminUsageReplySchema = z.strictObject({ object: z.literal('usage'), ...summaryWireFields });

/** `GET /v1/admin/logs`'s query. */
export const logsQuery = z.strictObject({
  ...usageFilterFields,
  model: lookupText(1000).optional(),
  status: queryInteger(100, 999).optional(),
  limit: queryInteger(1, 1000).optional(),
  cursor: z
    .string()
    .min(1)
    .max(1000)
    .refine(isCursor, 'not a cursor from a previous page (pass next_cursor back unchanged)')
    .optional(),
});

/** A cursor this gateway made: it decodes, and its request id can be compared on both databases. */
function isCursor(cursor: string): boolean {
  try {
    return isStorable(decodeLogCursor(cursor).requestId);
  } catch {
    return false;
  }
}

/** `GET /v1/admin/logs`: a page of records, newest first, and the cursor of the next. */
export const logsPageSchema = z.strictObject({
  object: z.literal('list'),
  data: z.array(logRecordWireSchema),
  has_more: z.boolean(),
  next_cursor: z.string().nullable(),
});

/** `GET /v1/admin/metrics`'s query. */
export const metricsQuery = z.strictObject({
  from: usageFilterFields.from,
  to: usageFilterFields.to,
});

const count = z.int().min(0);

/** `GET /v1/admin/metrics`: gateway-wide totals, by provider and by model, and how many of each entity. */
export const metricsReplySchema = z.strictObject({
  object: z.literal('metrics'),
  uptime_seconds: count,
  in_flight_requests: count,
  ...totalsWireFields,
  by_provider: z.array(z.strictObject({ provider: z.string().nullable(), ...totalsWireFields })),
  by_model: z.array(z.strictObject({ model: z.string().nullable(), ...totalsWireFields })),
  entities: z.strictObject({
    organizations: count,
    projects: count,
    users: count,
    api_keys: count,
    active_api_keys: count,
  }),
});

/**
 * The admin API's analytics (SPEC §2.3, seed 003), master key only: usage totals and groups, the request log
 * (newest first, paged by an opaque cursor), and gateway-wide metrics.
 */
export const adminUsageRoutes: readonly Route[] = [
  adminRoute('GET', '/v1/admin/usage', async (gateway, exchange) => {
    const query = readQuery(exchange, adminUsageQuery);
    checkRange(query.from, query.to);
    const summary = await fromStore(
      servicesOf(gateway).store.usage.aggregate({
        orgId: query.org_id,
        projectId: query.project_id,
        keyId: query.key_id,
        from: query.from,
        to: query.to,
        groupBy: query.group_by,
      }),
    );
    const body: z.output<typeof adminUsageReplySchema> = {
      object: 'usage',
      ...summaryOut(summary, query.group_by),
    };
    sendJson(exchange.response, 200, body);
  }),
  adminRoute('GET', '/v1/admin/logs', async (gateway, exchange) => {
    const query = readQuery(exchange, logsQuery);
    checkRange(query.from, query.to);
    const page = await fromStore(
      servicesOf(gateway).store.usage.searchLogs({
        orgId: query.org_id,
        projectId: query.project_id,
        keyId: query.key_id,
        from: query.from,
        to: query.to,
        model: query.model,
        status: query.status,
        limit: query.limit,
        cursor: query.cursor,
      }),
    );
    const body: z.output<typeof logsPageSchema> = {
      object: 'list',
      data: page.data.map(logRecordOut),
      has_more: page.nextCursor !== null,
      next_cursor: page.nextCursor,
    };
    sendJson(exchange.response, 200, body);
  }),
  adminRoute('GET', '/v1/admin/metrics', async (gateway, exchange) => {
    const query = readQuery(exchange, metricsQuery);
    checkRange(query.from, query.to);
    const { store, keys } = servicesOf(gateway);
    const range = { from: query.from, to: query.to };
    const [byProvider, byModel, organizations, projects, users, apiKeys] = await fromStore(
      Promise.all([
        store.usage.aggregate({ ...range, groupBy: 'provider' }),
        store.usage.aggregate({ ...range, groupBy: 'model' }),
        store.organizations.list(),
        store.projects.list(),
        store.users.list(),
        store.apiKeys.list(),
      ]),
    );
    const body: z.output<typeof metricsReplySchema> = {
      object: 'metrics',
      uptime_seconds: Math.round((Date.now() - gateway.startedAt) / 1000),
      in_flight_requests: gateway.state.inFlight,
      ...totalsOut(byProvider),
      // A null provider: requests that never reached one (refused by a limit, a bad request).
      by_provider: byProvider.groups.map((group) => ({ provider: group.group, ...totalsOut(group) })),
      by_model: byModel.groups.map((group) => ({ model: group.group, ...totalsOut(group) })),
      entities: {
        organizations: organizations.length,
        projects: projects.length,
        users: users.length,
        api_keys: apiKeys.length,
        active_api_keys: keys.size,
      },
    };
    sendJson(exchange.response, 200, body);
  }),
];
