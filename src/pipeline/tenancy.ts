import type { UsageLedger } from '../ledger/usage-ledger.ts';
import type { LedgerRecord } from '../ledger/usage-record.ts';
import type { Limiter } from '../limits/limiter.ts';
import type { KeyDirectory } from '../tenancy/key-directory.ts';
import type { CacheServices } from './cache.ts';

/**
 * The state layers the pipeline's stages consult, opened when the gateway starts listening (the store is
 * asynchronous to open) and absent until then: tenant keys, the limiter, the usage ledger, the response cache.
 */
export interface TenancyServices {
  keys: KeyDirectory | undefined;
  limiter: Limiter | undefined;
  ledger: UsageLedger<LedgerRecord> | undefined;
  /** The response cache (exact, and semantic when enabled). */
  cache: CacheServices | undefined;
}
