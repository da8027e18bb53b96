/** The usage ledger's records and query shapes (SPEC §3.5). Money is integer nano-USD (see money.ts). */

import type { LedgerRecord } from '../../ledger/usage-record.ts';

/** How the answer was found in the cache, as in `x-nexus-cache`. */
export type CacheResult = NonNullable<LedgerRecord['cacheResult']>;

/** How an upstream attempt ended: answered, failed (error or broken stream), or stopped by Nexus or the client. */
export type AttemptOutcome = LedgerRecord['outcome'];

/** One upstream attempt (or one cache answer), written once: (requestId, attempt) is unique. The ledger's own shape. */
export type UsageRecord = LedgerRecord;

/** Which records a query reads; all given fields must match, so a filter can only narrow. */
export interface UsageScope {
  readonly orgId?: string | undefined;
  readonly projectId?: string | undefined;
  readonly keyId?: string | undefined;
}

/** A time range in epoch milliseconds: `from` inclusive, `to` exclusive; either may be left open. */
export interface TimeRange {
  readonly from?: number | undefined;
  readonly to?: number | undefined;
}

/** How an aggregate is split: by UTC day, model, provider instance or key. */
export type UsageGroupBy = 'day' | 'model' | 'provider' | 'key';

export interface UsageAggregateQuery extends UsageScope, TimeRange {
  readonly groupBy?: UsageGroupBy | undefined;
}

/** Totals over a set of records. */
export interface UsageTotals {
  /** Distinct requests (a request retried on three instances is one request). */
  readonly requests: number;
  /** Records (upstream attempts and cache answers). */
  readonly attempts: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Exact sum in nano-USD. */
  readonly costNanoUsd: bigint;
  /** Exact sum in nano-USD. */
  readonly savingsNanoUsd: bigint;
  /** Requests answered from the response cache (exact or semantic). */
  readonly cacheHits: number;
}

export interface UsageGroup extends UsageTotals {
  /** The group's value: `YYYY-MM-DD` (UTC) for days, else the model, provider or key id (null: none). */
  readonly group: string | null;
}

export interface UsageSummary extends UsageTotals {
  /** Empty without `groupBy`; days ascending, other groups by cost descending then name. */
  readonly groups: readonly UsageGroup[];
}

export interface UsageLogQuery extends UsageScope, TimeRange {
  readonly model?: string | undefined;
  readonly status?: number | undefined;
  /** Records per page, 1 to 1000 (default 50). */
  readonly limit?: number | undefined;
  /** The previous page's `nextCursor`. */
  readonly cursor?: string | undefined;
}

export interface UsageLogPage {
  /** Newest first. */
  readonly data: readonly UsageRecord[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  readonly nextCursor: string | null;
}

/** What a scope spent since an instant (budgets and token budgets at boot). */
/** What one scope used in the windows its limits count in (the limiter's `ScopeSpend`), from the ledger. */
export interface LimitSpend {
  /** Nano-USD since the start of the UTC day asked for. */
  readonly dayNanoUsd: number;
  /** Nano-USD since the start of the UTC month asked for. */
  readonly monthNanoUsd: number;
  /** Prompt + completion tokens, ever. */
  readonly tokens: number;
  /** Requests admitted since the start of the month. */
  readonly monthRequests: number;
}

export interface SpendTotals {
  readonly costNanoUsd: bigint;
  /** Prompt + completion tokens. */
  readonly tokens: number;
  readonly requests: number;
}
