import type { Selectable } from 'kysely';
import { StoreError } from './store-error.ts';
import type { UsageTable } from './tables.ts';
import type { AttemptOutcome, CacheResult, UsageRecord } from './usage-types.ts';

/** Longest text kept in a ledger column, in UTF-16 units; longer values (a 4 MB model name) are cut. */
export const usageTextLimit = 1_000;

const int32Max = 2_147_483_647;
const surrogates = /[\uD800-\uDFFF]/;
const loneSurrogates = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Ledger text comes partly from clients (the model name), and one record that PostgreSQL refuses would fail
 * its whole batch; so NUL and lone surrogates become U+FFFD and overlong text is cut, rather than refused.
 */
function ledgerText(value: string): string {
  const cut = value.length > usageTextLimit ? value.slice(0, usageTextLimit) : value;
  // The common case (no NUL, no surrogate at all) is found by two native scans, without the two replaces.
  if (!cut.includes('\u0000') && !surrogates.test(cut)) return cut;
  return cut.replaceAll('\u0000', '\uFFFD').replace(loneSurrogates, '\uFFFD');
}

function optionalLedgerText(value: string | null): string | null {
  return value === null ? null : ledgerText(value);
}

function integer(value: number, field: string, max = int32Max): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new StoreError('invalid_input', `usage ${field} must be an integer from 0 to ${max}, got ${value}`);
  }
  return value;
}

/**
 * A record as a row, checked: numbers must be non-negative integers that fit their columns. The usage writer
 * can call this when it takes a record, so a bad one is refused alone instead of failing a batch later.
 */
export function usageRecordToRow(record: UsageRecord): Selectable<UsageTable> {
  if (typeof record.requestId !== 'string' || record.requestId === '') {
    throw new StoreError('invalid_input', 'usage requestId must be a non-empty string');
  }
  return {
    request_id: ledgerText(record.requestId),
    attempt: integer(record.attempt, 'attempt'),
    created_at: integer(record.createdAt, 'createdAt', Number.MAX_SAFE_INTEGER),
    org_id: optionalLedgerText(record.orgId),
    project_id: optionalLedgerText(record.projectId),
    key_id: optionalLedgerText(record.keyId),
    user_id: optionalLedgerText(record.userId),
    provider: optionalLedgerText(record.provider),
    model: ledgerText(record.model),
    route: ledgerText(record.route),
    status: integer(record.status, 'status', 999),
    error_code: optionalLedgerText(record.errorCode),
    prompt_tokens: integer(record.promptTokens, 'promptTokens'),
    completion_tokens: integer(record.completionTokens, 'completionTokens'),
    cached_tokens: integer(record.cachedTokens, 'cachedTokens'),
    cache_write_tokens: integer(record.cacheWriteTokens, 'cacheWriteTokens'),
    cost_nano_usd: integer(record.costNanoUsd, 'costNanoUsd', Number.MAX_SAFE_INTEGER),
    savings_nano_usd: integer(record.savingsNanoUsd, 'savingsNanoUsd', Number.MAX_SAFE_INTEGER),
    latency_ms: integer(record.latencyMs, 'latencyMs'),
    ttft_ms: record.ttftMs === null ? null : integer(record.ttftMs, 'ttftMs'),
    cache_result: optionalLedgerText(record.cacheResult),
    streamed: record.streamed ? 1 : 0,
    outcome: ledgerText(record.outcome),
  };
}

export function usageRecordFromRow(row: Selectable<UsageTable>): UsageRecord {
  return {
    requestId: row.request_id,
    attempt: row.attempt,
    createdAt: row.created_at,
    orgId: row.org_id,
    projectId: row.project_id,
    keyId: row.key_id,
    userId: row.user_id,
    provider: row.provider,
    model: row.model,
    route: row.route,
    status: row.status,
    errorCode: row.error_code,
    promptTokens: row.prompt_tokens,
    completionTokens: row.completion_tokens,
    cachedTokens: row.cached_tokens,
    cacheWriteTokens: row.cache_write_tokens,
    costNanoUsd: row.cost_nano_usd,
    savingsNanoUsd: row.savings_nano_usd,
    latencyMs: row.latency_ms,
    ttftMs: row.ttft_ms,
    cacheResult: row.cache_result as CacheResult | null,
    streamed: row.streamed === 1,
    outcome: row.outcome as AttemptOutcome,
  };
}
