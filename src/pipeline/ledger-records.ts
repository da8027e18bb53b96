import { countOf } from '../core/count.ts';
import { type ErrorCode, errorCatalog } from '../core/errors.ts';
import { timeOrderedId } from '../ledger/time-ordered-id.ts';
import type { LedgerRecord } from '../ledger/usage-record.ts';
import type { AttemptRecord } from '../resilience/attempt-record.ts';
import type { GatewayRequest } from './request.ts';

/**
 * The ledger's records of one finished request: one per upstream attempt (numbered from 1, each with its own
 * provider, tokens and priced cost, so a retried or resumed request is billed per attempt, once), or one
 * attempt-0 record when nothing went upstream (refused by a limit, a bad request). Keyed by a fresh id of
 * Nexus's own (time-ordered, see ledger/time-ordered-id.ts), never the client's `x-request-id`.
 */
export function ledgerRecords(request: GatewayRequest): LedgerRecord[] {
  const startedAt = Date.now() - Math.round(performance.now() - request.receivedAt);
  const requestId = timeOrderedId(startedAt);
  const principal = request.principal;
  const key = principal?.kind === 'key' ? principal.key : undefined;
  const owner = {
    orgId: key?.orgId ?? null,
    projectId: key?.projectId ?? null,
    keyId: key?.keyId ?? null,
    userId: key?.userId ?? null,
  };
  const streamed = request.streamed;
  const route = request.path;
  const cacheResult = request.cacheResult ?? null;
  if (request.attempts.length === 0) {
    // Nothing went upstream: refused by a limit, a bad request, or answered from the cache (its saving noted).
    const hit = request.cacheHit;
    return [
      {
        requestId,
        attempt: 0,
        createdAt: startedAt,
        ...owner,
        provider: hit?.provider ?? null,
        model: hit?.model ?? requestedModel(request),
        route,
        status: request.status,
        errorCode: request.errorCode ?? null,
        ...noTokens,
        savingsNanoUsd: nanos(hit?.savingsUsd),
        latencyMs: Math.round(performance.now() - request.receivedAt),
        ttftMs: null,
        cacheResult,
        streamed,
        outcome: request.errorCode === undefined ? 'ok' : 'failed',
      },
    ];
  }
  return request.attempts.map((attempt, index) => ({
    requestId,
    attempt: index + 1,
    createdAt: startedAt,
    ...owner,
    provider: attempt.instance,
    model: attempt.model,
    route,
    status: attemptStatus(request, attempt),
    errorCode: attempt.errorCode ?? null,
    ...tokensOf(attempt),
    latencyMs: attempt.ms ?? 0,
    ttftMs: attempt.ttftMs ?? null,
    cacheResult,
    streamed,
    outcome: attempt.outcome === 'pending' ? 'cancelled' : attempt.outcome,
  }));
}

const noTokens = {
  promptTokens: 0,
  completionTokens: 0,
  cachedTokens: 0,
  cacheWriteTokens: 0,
  costNanoUsd: 0,
  savingsNanoUsd: 0,
};

function tokensOf(attempt: AttemptRecord) {
  const usage = attempt.usage;
  if (usage === undefined) return { ...noTokens, costNanoUsd: nanos(attempt.costUsd) };
  const details = usage.prompt_tokens_details as Record<string, unknown> | null | undefined;
  return {
    promptTokens: countOf(usage.prompt_tokens),
    completionTokens: countOf(usage.completion_tokens),
    cachedTokens: countOf(details?.cached_tokens),
    cacheWriteTokens: countOf(details?.cache_creation_tokens),
    costNanoUsd: nanos(attempt.costUsd),
    savingsNanoUsd: 0,
  };
}

/** The serving attempt has the request's status; a failed one its error's; one that was stopped, 499. */
function attemptStatus(request: GatewayRequest, attempt: AttemptRecord): number {
  if (attempt.outcome === 'ok') return request.status;
  if (attempt.outcome === 'cancelled' || attempt.outcome === 'pending') return 499;
  const code = attempt.errorCode as ErrorCode | undefined;
  return code !== undefined && code in errorCatalog ? errorCatalog[code].status : 502;
}

function requestedModel(request: GatewayRequest): string {
  const operation = request.operation;
  if (operation === undefined) return '';
  return operation.kind === 'messages' ? operation.request.model : operation.body.model;
}

function nanos(usd: number | undefined): number {
  return usd === undefined ? 0 : Math.round(usd * 1e9);
}
