/**
 * The vocabulary of admission control (issue 14, items 4 and 5): scopes and their limits, what a request
 * asks for, and the port both counter stores implement (in-process: `memory-limit-store.ts`; shared across
 * replicas: `store/redis/limit-store.ts`).
 */

/** Who a request is counted against. A request is admitted against several scopes at once. */
export type ScopeKind = 'key' | 'project' | 'org' | 'user' | 'plan';

/** One scope, by kind and id (`{kind: 'project', id: 'p_123'}`). */
export interface ScopeRef {
  readonly kind: ScopeKind;
  readonly id: string;
}

/**
 * SPEC §2.3 `limits`. An absent or null field is unlimited; 0 refuses everything. Whole numbers.
 * Request and tokens-per-minute counts use fixed windows aligned to wall-clock (UTC) minutes and hours.
 */
export interface RateLimits {
  /** Requests per wall-clock minute. */
  readonly rpm?: number | null | undefined;
  /** Requests per wall-clock hour. */
  readonly rph?: number | null | undefined;
  /** Tokens (prompt + completion) per wall-clock minute. */
  readonly tpm?: number | null | undefined;
  /** Tokens (prompt + completion) in total, over the scope's lifetime. */
  readonly token_budget?: number | null | undefined;
  /** Requests per UTC calendar month: a plan's request quota (seed 000), set on a user. */
  readonly monthly_requests?: number | null | undefined;
}

/** SPEC §2.3 `budget`, in USD (decimal, e.g. `1.5`), per UTC day and UTC calendar month. Absent or null: unlimited. */
export interface UsdBudget {
  readonly daily_usd?: number | null | undefined;
  readonly monthly_usd?: number | null | undefined;
}

/** A scope with the limits that apply to it. */
export interface Scope extends ScopeRef {
  readonly limits?: RateLimits | null | undefined;
  readonly budget?: UsdBudget | null | undefined;
}

/** Every limit a decision can name, in SPEC §2.3's spelling. */
export type LimitName =
  | 'rpm'
  | 'rph'
  | 'monthly_requests'
  | 'tpm'
  | 'token_budget'
  | 'daily_usd'
  | 'monthly_usd';

/**
 * What a limit counts, and so how it behaves when the shared store is unreachable: `requests` (rpm, rph),
 * `tokens` (tpm, token_budget), `usd` (daily_usd, monthly_usd); a plan's monthly request quota counts requests.
 */
export type LimitKind = 'requests' | 'tokens' | 'usd';

export const kindOfLimit: Readonly<Record<LimitName, LimitKind>> = {
  rpm: 'requests',
  rph: 'requests',
  monthly_requests: 'requests',
  tpm: 'tokens',
  token_budget: 'tokens',
  daily_usd: 'usd',
  monthly_usd: 'usd',
};

/** What one request asks for at admission: its worst case, reserved until it settles. */
export interface Demand {
  /** Prompt token estimate + the request's max output tokens. A non-negative whole number. */
  readonly tokens: number;
  /** Worst-case cost in nano-USD (1 USD = 1e9), a non-negative safe integer (`usdToNanos`). */
  readonly costNanoUsd: number;
}

/** What one request really used, reported at settlement (same units as `Demand`). */
export interface Usage {
  readonly tokens: number;
  readonly costNanoUsd: number;
}

/**
 * Where one counter lives: its scope's record and its own field in it. Both are built once per scope and window
 * (`admission-plan.ts` keeps them), never per request.
 */
export interface CounterRef {
  /** The scope's record, a store key without the configured prefix: `limits:key:k1`. */
  readonly scopeKey: string;
  /**
   * The counter inside it, `<limit>:<window label>`: `rpm:20250101T1005`, `token_budget:total`. Letters, digits
   * and `_` on either side of the one `:` (the Redis scripts rely on it).
   */
  readonly field: string;
}

/**
 * One counter an admission checks and adds to: one limit of one scope in one window. An admission names each
 * counter (scope key and field) at most once.
 */
export interface StoreCounter extends CounterRef {
  /** The limit, in the counter's unit (requests, tokens or nano-USD). */
  readonly max: number;
  /** What this request adds, in the same unit. */
  readonly amount: number;
  /** True: the amount is held until settlement (tokens, USD); false: it counts at once and for good (requests). */
  readonly hold: boolean;
  /** How long the key must live from now (its window's end plus the settlement grace), ms; undefined: no expiry. */
  readonly ttlMs: number | undefined;
}

/** An admission, to be applied atomically: every counter has room, and then every counter is added to. */
export interface AdmissionWrite {
  /** The caller's clock, epoch ms: expired holds are those whose minute ended at or before it. */
  readonly nowMs: number;
  /** Epoch minute (ms / 60 000) at whose end this admission's holds lapse if never settled. */
  readonly holdUntilMinute: number;
  readonly counters: readonly StoreCounter[];
}

/** A counter's content before the admission: `used` (settled or counted) and `held` (live reservations). */
export interface CounterTotals {
  readonly used: number;
  readonly held: number;
}

export interface AdmissionResult {
  readonly admitted: boolean;
  /** One per counter, in the write's order, as found before this admission. */
  readonly totals: readonly CounterTotals[];
}

/** A settlement: each counter's hold is released and the real amount added to `used`, once. */
export interface SettlementWrite {
  /** Unique per reservation; a store that can be retried uses it so a settlement never applies twice. */
  readonly reservationId: string;
  readonly holdUntilMinute: number;
  readonly counters: readonly (CounterRef & { readonly reserved: number; readonly actual: number })[];
  /** How long a store must remember that this reservation was settled, ms. */
  readonly rememberMs: number;
}

/**
 * What the usage ledger says a scope has already used in the windows that outlive a process (a day, a
 * calendar month, for ever): what a gateway that starts (or a Redis that restarted empty) must count from,
 * or a restart would hand every tenant its budget again.
 */
export interface ScopeSpend {
  /** Nano-USD spent since the start of the current UTC day. */
  readonly dayNanoUsd: number;
  /** Nano-USD spent since the start of the current UTC calendar month. */
  readonly monthNanoUsd: number;
  /** Prompt + completion tokens, ever (the lifetime token budget). */
  readonly tokens: number;
  /** Requests admitted since the start of the current UTC calendar month (a plan's request quota). */
  readonly monthRequests: number;
}

/** A counter to start from a known amount (see `LimitStore.seed`). */
export interface SeedCounter extends CounterRef {
  readonly used: number;
  /** As `StoreCounter.ttlMs`: how long the counter must live from now; undefined: no expiry. */
  readonly ttlMs: number | undefined;
}

/**
 * Where counters live. Both calls are atomic: an admission is all or nothing across every counter, and a
 * refused admission writes nothing (apart from dropping holds that had already lapsed).
 *
 * Rule, identical in every implementation: a counter has room when `used + held < max` and
 * `used + held + amount <= max`, counting only holds that have not lapsed.
 */
export interface LimitStore {
  admit(write: AdmissionWrite): Promise<AdmissionResult>;
  settle(write: SettlementWrite): Promise<void>;
  /**
   * Raises each counter's used amount to `used` where it holds less (a counter the store does not have counts
   * as 0), never lowers one: a store that kept its counts already holds at least what the ledger says (a
   * request is settled before its record is written), so seeding it changes nothing, and seeding one that lost
   * them puts the ledger's amounts back, whenever it runs.
   */
  seed(counters: readonly SeedCounter[], nowMs: number): Promise<void>;
}

/** Whether a counter with these totals has room for `amount` under `max` (the rule of `LimitStore`). */
export function hasRoom(totals: CounterTotals, amount: number, max: number): boolean {
  const total = totals.used + totals.held;
  return total < max && total + amount <= max;
}
