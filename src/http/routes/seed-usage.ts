import { z } from 'zod';
import { NexusError } from '../../core/errors.ts';
import type { Store } from '../../store/sql/create-store.ts';
import { nanoUsdToUsd, usdToNanoUsd } from '../../store/sql/money.ts';
import type { Budget } from '../../store/sql/tenancy-types.ts';
import type { UsageGroup, UsageScope, UsageTotals } from '../../store/sql/usage-types.ts';
import type { Exchange, Gateway, Route } from '../exchange.ts';
import { seed004Envelope, sendJson } from '../respond.ts';
import { idSchema } from './admin-wire.ts';
import {
  fromStore,
  isoTime,
  isoTimeSchema,
  notFound,
  queryInteger,
  readQuery,
  servicesOf,
} from './route-input.ts';
import { costsOf } from './usage.ts';
import { callerScope, narrowScope, startOfUtcDay, startOfUtcMonth } from './usage-wire.ts';

const dayMs = 86_400_000;
/** Days of traffic in `/api/stats`'s graph. */
const graphDays = 7;
/** How long `/api/stats` reuses its answer: it needs no key, so it must not cost a query per request. */
const statsCacheMs = 5_000;

/** Seed 004's usage queries: the master key names a project with `projectId` (a tenant key reads its own). */
export const seedProjectQuery = z.strictObject({ projectId: idSchema.optional() });
/** `GET /api/v1/usage/stats`: also how many days back (1-365, default 30). */
export const seedStatsQuery = seedProjectQuery.extend({ days: queryInteger(1, 365).optional() });

const count = z.int().min(0);
const usd = z.number().min(0);

/** Seed 004's camelCase totals; money in USD. */
const totals004Fields = {
  requests: count,
  promptTokens: count,
  completionTokens: count,
  totalTokens: count,
  cost: usd,
  savings: usd,
};

/** `GET /api/v1/usage/stats`: totals and every day of the last `days`, and by model. */
export const seedStatsReplySchema = seed004Envelope(
  z.strictObject({
    days: count,
    from: isoTimeSchema,
    ...totals004Fields,
    daily: z.array(z.strictObject({ date: z.iso.date(), ...totals004Fields })),
    byModel: z.array(z.strictObject({ model: z.string().nullable(), ...totals004Fields })),
  }),
);

/** `GET /api/v1/usage/costs`: today and this month (UTC), by model and provider. */
export const seedCostsReplySchema = seed004Envelope(
  z.strictObject({
    currency: z.literal('USD'),
    today: usd,
    thisMonth: usd,
    savingsThisMonth: usd,
    byModel: z.array(z.strictObject({ model: z.string().nullable(), ...totals004Fields })),
    byProvider: z.array(z.strictObject({ provider: z.string().nullable(), ...totals004Fields })),
  }),
);

/** A budget against today's and this month's spend; null budgets are unlimited (nothing remaining to count). */
const budgetStatusFields = {
  dailyBudget: usd.nullable(),
  dailySpent: usd,
  dailyRemaining: usd.nullable(),
  monthlyBudget: usd.nullable(),
  monthlySpent: usd,
  monthlyRemaining: usd.nullable(),
};

/** `GET /api/v1/usage/budget`: the project's (or a project-less key's organization's) and the calling key's. */
export const seedBudgetReplySchema = seed004Envelope(
  z.strictObject({
    scope: z.enum(['project', 'organization']),
    id: z.string(),
    name: z.string(),
    ...budgetStatusFields,
    key: z.strictObject({ id: z.string(), name: z.string().nullable(), ...budgetStatusFields }).nullable(),
  }),
);

/** `GET /api/stats`: totals over every tenant and a week of requests per UTC day, nothing naming a tenant. */
export const publicStatsSchema = z.strictObject({
  total_requests: count,
  cache_hits: count,
  savings_usd: usd,
  graph_data: z.array(z.strictObject({ date: z.iso.date(), requests: count, cache_hits: count })),
});

/** Seed 004's camelCase totals; money in USD. */
function totals004(totals: UsageTotals) {
  return {
    requests: totals.requests,
    promptTokens: totals.promptTokens,
    completionTokens: totals.completionTokens,
    totalTokens: totals.promptTokens + totals.completionTokens,
    cost: nanoUsdToUsd(totals.costNanoUsd),
    savings: nanoUsdToUsd(totals.savingsNanoUsd),
  };
}

/** Every UTC day from `from` to today, the days without traffic as zeros, so a chart has no gaps. */
function everyDay(groups: readonly UsageGroup[], from: number, nowMs: number) {
  const byDay = new Map(groups.map((group) => [group.group, group]));
  const days: Array<{ date: string } & ReturnType<typeof totals004>> = [];
  for (let day = from; day <= nowMs; day += dayMs) {
    const date = new Date(day).toISOString().slice(0, 10);
    const found = byDay.get(date);
    days.push({
      date,
      ...totals004(
        found ?? {
          requests: 0,
          attempts: 0,
          promptTokens: 0,
          completionTokens: 0,
          costNanoUsd: 0n,
          savingsNanoUsd: 0n,
          cacheHits: 0,
        },
      ),
    });
  }
  return days;
}

/** A budget against what was spent since the start of the day and of the month, in USD. */
async function budgetStatus(store: Store, scope: UsageScope, budget: Budget, nowMs: number) {
  const [day, month] = await fromStore(
    Promise.all([
      store.usage.spendSince(scope, startOfUtcDay(nowMs)),
      store.usage.spendSince(scope, startOfUtcMonth(nowMs)),
    ]),
  );
  const remaining = (limitUsd: number | null, spent: bigint) => {
    if (limitUsd === null) return null;
    const left = BigInt(usdToNanoUsd(limitUsd)) - spent;
    return nanoUsdToUsd(left > 0n ? left : 0n);
  };
  return {
    dailyBudget: budget.dailyUsd,
    dailySpent: nanoUsdToUsd(day.costNanoUsd),
    dailyRemaining: remaining(budget.dailyUsd, day.costNanoUsd),
    monthlyBudget: budget.monthlyUsd,
    monthlySpent: nanoUsdToUsd(month.costNanoUsd),
    monthlyRemaining: remaining(budget.monthlyUsd, month.costNanoUsd),
  };
}

/** The budget of the caller's project (or the master key's `projectId`), and of the calling key itself. */
async function budgetOf(
  store: Store,
  exchange: Exchange,
  projectId: string | undefined,
  nowMs: number,
): Promise<z.output<typeof seedBudgetReplySchema>['data']> {
  const principal = exchange.principal;
  const own = callerScope(exchange);
  const key = principal?.kind === 'key' ? await fromStore(store.apiKeys.get(principal.key.keyId)) : undefined;
  const keyPart =
    key === undefined
      ? null
      : { id: key.id, name: key.name, ...(await budgetStatus(store, { keyId: key.id }, key.budget, nowMs)) };
  const wanted = projectId ?? own.projectId;
  if (wanted === undefined && own.orgId !== undefined) {
    const org = await fromStore(store.organizations.get(own.orgId));
    if (org === undefined) throw notFound('organization');
    const status = await budgetStatus(store, { orgId: org.id }, org.budget, nowMs);
    return { scope: 'organization', id: org.id, name: org.name, ...status, key: keyPart };
  }
  if (wanted === undefined) throw missingProject();
  const project = await fromStore(store.projects.get(wanted, own));
  if (project === undefined) throw notFound('project');
  const status = await budgetStatus(store, { projectId: project.id }, project.budget, nowMs);
  return { scope: 'project', id: project.id, name: project.name, ...status, key: keyPart };
}

function missingProject(): NexusError {
  return new NexusError(
    'invalid_request',
    "The master key belongs to no project: name one as '?projectId='.",
    {
      param: 'projectId',
    },
  );
}

function seedRoute(path: string, run: (gateway: Gateway, exchange: Exchange) => Promise<unknown>): Route {
  return {
    kind: 'plain',
    method: 'GET',
    path,
    authenticated: true,
    errorShape: 'seed-004',
    handle: (gateway) =>
      async function seed004Usage(exchange) {
        sendJson(exchange.response, 200, { success: true, data: await run(gateway, exchange) });
      },
  };
}

/**
 * Seed 004's usage endpoints in its envelope (`{success, data}`, camelCase): a tenant key reads its own
 * project's numbers, the master key everything or one `projectId`. Seed 000's `/api/stats` needs no key and
 * shows gateway-wide aggregates only: no id, name, model or anything else of a tenant.
 */
export const seedUsageRoutes: readonly Route[] = [
  seedRoute('/api/v1/usage/stats', async (gateway, exchange) => {
    const query = readQuery(exchange, seedStatsQuery);
    const { store } = servicesOf(gateway);
    const scope = await narrowScope(store, exchange, { project_id: query.projectId });
    const nowMs = Date.now();
    const days = query.days ?? 30;
    const from = startOfUtcDay(nowMs) - (days - 1) * dayMs;
    const [daily, byModel] = await fromStore(
      Promise.all([
        store.usage.aggregate({ ...scope, from, groupBy: 'day' }),
        store.usage.aggregate({ ...scope, from, groupBy: 'model' }),
      ]),
    );
    const stats: z.output<typeof seedStatsReplySchema>['data'] = {
      days,
      from: isoTime(from),
      ...totals004(daily),
      daily: everyDay(daily.groups, from, nowMs),
      byModel: byModel.groups.map((group) => ({ model: group.group, ...totals004(group) })),
    };
    return stats;
  }),
  seedRoute('/api/v1/usage/costs', async (gateway, exchange) => {
    const query = readQuery(exchange, seedProjectQuery);
    const { store } = servicesOf(gateway);
    const scope = await narrowScope(store, exchange, { project_id: query.projectId });
    const costs = await costsOf(store, scope);
    const costsReply: z.output<typeof seedCostsReplySchema>['data'] = {
      currency: 'USD',
      today: nanoUsdToUsd(costs.day.costNanoUsd),
      thisMonth: nanoUsdToUsd(costs.byModel.costNanoUsd),
      savingsThisMonth: nanoUsdToUsd(costs.byModel.savingsNanoUsd),
      byModel: costs.byModel.groups.map((group) => ({ model: group.group, ...totals004(group) })),
      byProvider: costs.byProvider.groups.map((group) => ({ provider: group.group, ...totals004(group) })),
    };
    return costsReply;
  }),
  seedRoute('/api/v1/usage/budget', async (gateway, exchange) => {
    const query = readQuery(exchange, seedProjectQuery);
    return budgetOf(servicesOf(gateway).store, exchange, query.projectId, Date.now());
  }),
  {
    kind: 'plain',
    method: 'GET',
    path: '/api/stats',
    authenticated: false,
    errorShape: 'openai',
    handle: (gateway) => {
      // One computation at a time, shared by every request within `statsCacheMs` (a failed one is not kept).
      let cached: { body: Promise<string>; expiresAt: number } | undefined;
      return async function seed000Stats(exchange) {
        const nowMs = Date.now();
        if (cached === undefined || cached.expiresAt <= nowMs) {
          const body = publicStats(gateway, nowMs).then((stats) => JSON.stringify(stats));
          const entry = { body, expiresAt: nowMs + statsCacheMs };
          cached = entry;
          void body.catch(() => {
            if (cached === entry) cached = undefined;
          });
        }
        sendJson(exchange.response, 200, await cached.body);
      };
    },
  },
];

/**
 * Seed 000's public savings counter: totals over every tenant, and requests per UTC day for a week. Cache hits
 * are answers that needed no upstream call (exact or semantic).
 */
async function publicStats(gateway: Gateway, nowMs: number): Promise<z.output<typeof publicStatsSchema>> {
  const from = startOfUtcDay(nowMs) - (graphDays - 1) * dayMs;
  const { store } = servicesOf(gateway);
  const [all, week] = await fromStore(
    Promise.all([store.usage.aggregate({}), store.usage.aggregate({ from, groupBy: 'day' })]),
  );
  const hitsByDay = new Map(week.groups.map((group) => [group.group, group.cacheHits]));
  return {
    total_requests: all.requests,
    cache_hits: all.cacheHits,
    savings_usd: nanoUsdToUsd(all.savingsNanoUsd),
    graph_data: everyDay(week.groups, from, nowMs).map((day) => ({
      date: day.date,
      requests: day.requests,
      cache_hits: hitsByDay.get(day.date) ?? 0,
    })),
  };
}
