/**
 * One record of the usage ledger: one upstream attempt of a request (or, for a request that needed no upstream
 * call, the request itself as attempt 0), written once; (requestId, attempt) is unique, so a batch written
 * twice is stored once. The SQL store persists exactly this shape (store/sql/usage-types.ts).
 */
export interface LedgerRecord {
  /** Nexus's own unique id for the request (never the client's `x-request-id`, which a client could reuse). */
  readonly requestId: string;
  /** 1 for the first upstream attempt, then 2, 3, ...; 0 for a request that made no upstream call. */
  readonly attempt: number;
  /** Epoch milliseconds when the attempt (or the request) started. */
  readonly createdAt: number;
  readonly orgId: string | null;
  readonly projectId: string | null;
  readonly keyId: string | null;
  readonly userId: string | null;
  /** The provider instance, `Groq (Key #1)`; null when nothing went upstream. */
  readonly provider: string | null;
  readonly model: string;
  /** The route, `/v1/chat/completions`. */
  readonly route: string;
  /** HTTP status: Nexus's answer for the serving attempt, the failure's for a failed one. */
  readonly status: number;
  readonly errorCode: string | null;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedTokens: number;
  readonly cacheWriteTokens: number;
  /** Integer nano-USD (1 USD = 1e9). */
  readonly costNanoUsd: number;
  readonly savingsNanoUsd: number;
  readonly latencyMs: number;
  readonly ttftMs: number | null;
  readonly cacheResult: 'HIT' | 'HIT-SEMANTIC' | 'MISS' | 'BYPASS' | null;
  readonly streamed: boolean;
  readonly outcome: 'ok' | 'failed' | 'cancelled';
}
