import { z } from 'zod';
import { NexusError } from '../../core/errors.ts';
import type { Store } from '../../store/sql/create-store.ts';
import { nanoUsdToUsd } from '../../store/sql/money.ts';
import type {
  UsageGroupBy,
  UsageRecord,
  UsageScope,
  UsageSummary,
  UsageTotals,
} from '../../store/sql/usage-types.ts';
import type { Exchange } from '../exchange.ts';
import { idSchema } from './admin-wire.ts';
import { fromStore, instantSchema, isoTime, isoTimeSchema, notFound } from './route-input.ts';

/**
 * Usage as the routes show it: totals and groups from the ledger's aggregates in snake_case, money as USD
 * numbers converted once from the store's exact nano-USD sums, and the scope a caller may read.
 */

const dayMs = 86_400_000;

/** `group_by`: UTC day, model, provider instance or key. */
export const groupBySchema = z.enum(['day', 'model', 'provider', 'key']);

/** `from` / `to` (ISO 8601) and the ids that narrow a usage query, as the admin API and `/v1/usage` take them. */
export const usageFilterFields = {
  key_id: idSchema.optional(),
  project_id: idSchema.optional(),
  org_id: idSchema.optional(),
  from: instantSchema.optional(),
  to: instantSchema.optional(),
};

/** Checks that a time range is not empty or reversed. */
export function checkRange(from: number | undefined, to: number | undefined): void {
  if (from !== undefined && to !== undefined && from >= to) {
    throw new NexusError('invalid_request', "Invalid 'to': it must be later than 'from'.", { param: 'to' });
  }
}

const count = z.int().min(0);
const usd = z.number().min(0);

/** Usage totals in snake_case, money in USD. */
export const totalsWireFields = {
  requests: count,
  /** Upstream attempts, retries and failovers included. */
  attempts: count,
  prompt_tokens: count,
  completion_tokens: count,
  total_tokens: count,
  cost_usd: usd,
  /** What cache hits would have cost upstream. */
  savings_usd: usd,
  cache_hits: count,
};

/** SPEC §2.3's usage shape: totals, `group_by` and one group per day, model, provider or key. */
export const summaryWireFields = {
  ...totalsWireFields,
  group_by: groupBySchema.nullable(),
  groups: z.array(
    z.strictObject({
      /** The day (`2025-01-31`), model, provider instance or key id; null for requests that had none. */
      group: z.string().nullable(),
      ...totalsWireFields,
    }),
  ),
};

/** One request-log record (one upstream attempt, or attempt 0 for a request that made none). */
export const logRecordWireSchema = z.strictObject({
  request_id: z.string(),
  attempt: count,
  created_at: isoTimeSchema,
  org_id: z.string().nullable(),
  project_id: z.string().nullable(),
  key_id: z.string().nullable(),
  user_id: z.string().nullable(),
  provider: z.string().nullable(),
  model: z.string(),
  route: z.string(),
  status: z.int(),
  error_code: z.string().nullable(),
  prompt_tokens: count,
  completion_tokens: count,
  cached_tokens: count,
  cache_write_tokens: count,
  cost_usd: usd,
  savings_usd: usd,
  latency_ms: z.number().min(0),
  ttft_ms: z.number().min(0).nullable(),
  cache_result: z.enum(['HIT', 'HIT-SEMANTIC', 'MISS', 'BYPASS']).nullable(),
  streamed: z.boolean(),
  outcome: z.enum(['ok', 'failed', 'cancelled']),
});

/** Totals in snake_case, money in USD. */
export function totalsOut(totals: UsageTotals): z.output<z.ZodObject<typeof totalsWireFields>> {
  return {
    requests: totals.requests,
    attempts: totals.attempts,
    prompt_tokens: totals.promptTokens,
    completion_tokens: totals.completionTokens,
    total_tokens: totals.promptTokens + totals.completionTokens,
    cost_usd: nanoUsdToUsd(totals.costNanoUsd),
    savings_usd: nanoUsdToUsd(totals.savingsNanoUsd),
    cache_hits: totals.cacheHits,
  };
}

/** SPEC §2.3's usage shape: `{requests, prompt_tokens, completion_tokens, cost_usd, savings_usd, groups}`. */
export function summaryOut(
  summary: UsageSummary,
  groupBy: UsageGroupBy | undefined,
): z.output<z.ZodObject<typeof summaryWireFields>> {
  return {
    ...totalsOut(summary),
    group_by: groupBy ?? null,
    groups: summary.groups.map((group) => ({ group: group.group, ...totalsOut(group) })),
  };
}

/** One request-log record (one upstream attempt, or attempt 0 for a request that made none). */
export function logRecordOut(record: UsageRecord): z.output<typeof logRecordWireSchema> {
  return {
    request_id: record.requestId,
    attempt: record.attempt,
    created_at: isoTime(record.createdAt),
    org_id: record.orgId,
    project_id: record.projectId,
    key_id: record.keyId,
    user_id: record.userId,
    provider: record.provider,
    model: record.model,
    route: record.route,
    status: record.status,
    error_code: record.errorCode,
    prompt_tokens: record.promptTokens,
    completion_tokens: record.completionTokens,
    cached_tokens: record.cachedTokens,
    cache_write_tokens: record.cacheWriteTokens,
    cost_usd: nanoUsdToUsd(record.costNanoUsd),
    savings_usd: nanoUsdToUsd(record.savingsNanoUsd),
    latency_ms: record.latencyMs,
    ttft_ms: record.ttftMs,
    cache_result: record.cacheResult,
    streamed: record.streamed,
    outcome: record.outcome,
  };
}

/** Midnight UTC of the day of `nowMs`. */
export function startOfUtcDay(nowMs: number): number {
  return Math.floor(nowMs / dayMs) * dayMs;
}

/** The first instant of the UTC calendar month of `nowMs`. */
export function startOfUtcMonth(nowMs: number): number {
  const now = new Date(nowMs);
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
}

/**
 * The records a caller may read: everything for the master key (or the operator on a gateway without one); for
 * a tenant key, its project's (a key issued to an organization without a project: its organization's).
 */
export function callerScope(exchange: Exchange): UsageScope {
  const principal = exchange.principal;
  if (principal?.kind !== 'key') return {};
  const { orgId, projectId } = principal.key;
  return projectId === null ? { orgId } : { orgId, projectId };
}

/**
 * The caller's scope narrowed by the ids it asked for. A tenant naming another organization, project or key
 * gets 404 `not_found`, the same answer as for an id that does not exist, so ids of other tenants reveal nothing.
 */
export async function narrowScope(
  store: Store,
  exchange: Exchange,
  asked: { key_id?: string | undefined; project_id?: string | undefined; org_id?: string | undefined },
): Promise<UsageScope> {
  const own = callerScope(exchange);
  if (own.orgId === undefined) {
    return { orgId: asked.org_id, projectId: asked.project_id, keyId: asked.key_id };
  }
  if (asked.org_id !== undefined && asked.org_id !== own.orgId) throw notFound('organization');
  if (asked.project_id !== undefined) {
    const project = await fromStore(store.projects.get(asked.project_id, own));
    if (project === undefined) throw notFound('project');
  }
  if (asked.key_id !== undefined) {
    const key = await fromStore(store.apiKeys.get(asked.key_id, own));
    if (key === undefined) throw notFound('API key');
  }
  return {
    ...own,
    ...(asked.project_id === undefined ? {} : { projectId: asked.project_id }),
    keyId: asked.key_id,
  };
}
