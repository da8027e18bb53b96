import { z } from 'zod';
import type { Store } from '../../store/sql/create-store.ts';
import { nanoUsdToUsd } from '../../store/sql/money.ts';
import type { UsageScope } from '../../store/sql/usage-types.ts';
import type { Route } from '../exchange.ts';
import { sendJson } from '../respond.ts';
import { fromStore, isoTime, isoTimeSchema, readQuery, servicesOf } from './route-input.ts';
import {
  callerScope,
  checkRange,
  groupBySchema,
  narrowScope,
  startOfUtcDay,
  startOfUtcMonth,
  summaryOut,
  summaryWireFields,
  totalsOut,
  totalsWireFields,
  usageFilterFields,
} from './usage-wire.ts';

/** `GET /v1/usage`'s query. */
export const usageQuery = z.strictObject({ ...usageFilterFields, group_by: groupBySchema.optional() });
/** `GET /v1/usage/costs` takes no query parameters. */
export const costsQuery = z.strictObject({});

/** `GET /v1/usage`: the admin usage shape over `[from, to)`. */
export const usageReplySchema = z.strictObject({
  object: z.literal('usage'),
  from: isoTimeSchema,
  to: isoTimeSchema.nullable(),
  ...summaryWireFields,
});

const money = z.strictObject({
  from: isoTimeSchema,
  requests: z.int().min(0),
  cost_usd: z.number().min(0),
  savings_usd: z.number().min(0),
});

/** `GET /v1/usage/costs`: today and this month (UTC), this month by model and by provider. */
export const costsReplySchema = z.strictObject({
  object: z.literal('usage.costs'),
  currency: z.literal('USD'),
  today: money,
  this_month: money,
  by_model: z.array(z.strictObject({ model: z.string().nullable(), ...totalsWireFields })),
  by_provider: z.array(z.strictObject({ provider: z.string().nullable(), ...totalsWireFields })),
});

/**
 * What one scope spent today and this month (UTC), and this month by model and by provider: the numbers behind
 * `/v1/usage/costs` and seed 004's `/api/v1/usage/costs`.
 */
export async function costsOf(store: Store, scope: UsageScope, nowMs = Date.now()) {
  const month = startOfUtcMonth(nowMs);
  const today = startOfUtcDay(nowMs);
  const [byModel, byProvider, day] = await fromStore(
    Promise.all([
      store.usage.aggregate({ ...scope, from: month, groupBy: 'model' }),
      store.usage.aggregate({ ...scope, from: month, groupBy: 'provider' }),
      store.usage.aggregate({ ...scope, from: today }),
    ]),
  );
  return { month, today, byModel, byProvider, day };
}

/**
 * Seed 003's usage endpoints for the calling key: a tenant key reads its own project's usage (an id of another
 * tenant is a 404), the master key everything.
 * - `GET /v1/usage?from&to&group_by&key_id&project_id&org_id`: the admin usage shape over `[from, to)`, by
 *   default this UTC month so far.
 * - `GET /v1/usage/costs`: cost and savings today and this month, this month's by model and by provider.
 */
export const usageRoutes: readonly Route[] = [
  {
    kind: 'plain',
    method: 'GET',
    path: '/v1/usage',
    authenticated: true,
    errorShape: 'openai',
    handle: (gateway) =>
      async function usage(exchange) {
        const { store } = servicesOf(gateway);
        const query = readQuery(exchange, usageQuery);
        checkRange(query.from, query.to);
        const scope = await narrowScope(store, exchange, query);
        const from = query.from ?? startOfUtcMonth(Date.now());
        const summary = await fromStore(
          store.usage.aggregate({ ...scope, from, to: query.to, groupBy: query.group_by }),
        );
        const body: z.output<typeof usageReplySchema> = {
          object: 'usage',
          from: isoTime(from),
          to: isoTime(query.to ?? null),
          ...summaryOut(summary, query.group_by),
        };
        sendJson(exchange.response, 200, body);
      },
  },
  {
    kind: 'plain',
    method: 'GET',
    path: '/v1/usage/costs',
    authenticated: true,
    errorShape: 'openai',
    handle: (gateway) =>
      async function usageCosts(exchange) {
        readQuery(exchange, costsQuery);
        const { store } = servicesOf(gateway);
        const costs = await costsOf(store, callerScope(exchange));
        const money = (totals: typeof costs.day) => ({
          requests: totals.requests,
          cost_usd: nanoUsdToUsd(totals.costNanoUsd),
          savings_usd: nanoUsdToUsd(totals.savingsNanoUsd),
        });
        const body: z.output<typeof costsReplySchema> = {
          object: 'usage.costs',
          currency: 'USD',
          today: { from: isoTime(costs.today), ...money(costs.day) },
          this_month: { from: isoTime(costs.month), ...money(costs.byModel) },
          by_model: costs.byModel.groups.map((group) => ({ model: group.group, ...totalsOut(group) })),
          by_provider: costs.byProvider.groups.map((group) => ({
            provider: group.group,
            ...totalsOut(group),
          })),
        };
        sendJson(exchange.response, 200, body);
      },
  },
];
