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
  summaryOut,
  totalsOut,
  usageFilterFields,
} from './usage-wire.ts';

const usageQuery = z.strictObject({ ...usageFilterFields, group_by: groupBySchema.optional() });

const logsQuery = z.strictObject({
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

const metricsQuery = z.strictObject({
  from: usageFilterFields.from,
  to: usageFilterFields.to,
});

/**
 * The admin API's analytics (SPEC §2.3, seed 003), master key only: usage totals and groups, the request log
 * (newest first, paged by an opaque cursor), and gateway-wide metrics.
 */
export const adminUsageRoutes: readonly Route[] = [
  adminRoute('GET', '/v1/admin/usage', async (gateway, exchange) => {
    const query = readQuery(exchange, usageQuery);
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
    sendJson(exchange.response, 200, { object: 'usage', ...summaryOut(summary, query.group_by) });
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
    sendJson(exchange.response, 200, {
      object: 'list',
      data: page.data.map(logRecordOut),
      has_more: page.nextCursor !== null,
      next_cursor: page.nextCursor,
    });
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
    sendJson(exchange.response, 200, {
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
    });
  }),
];
