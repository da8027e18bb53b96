import type {
  Demand,
  LimitName,
  RateLimits,
  Scope,
  ScopeRef,
  ScopeSpend,
  SeedCounter,
  StoreCounter,
} from './limit-types.ts';
import { limitWindow } from './limit-window.ts';
import { usdToNanos } from './usd-nanos.ts';

/** Seed 003's limits, applied when limiting is enabled without values: 60 rpm, 1000 rph, 100 000 tokens. */
export const seedLimitDefaults: Readonly<Required<Pick<RateLimits, 'rpm' | 'rph' | 'token_budget'>>> = {
  rpm: 60,
  rph: 1000,
  token_budget: 100_000,
};

/**
 * The limits of a scope whose limiting is enabled: the values given win, `null` turns one limit off, and
 * the rest take seed 003's defaults (`seedLimitDefaults`). A scope that is not limited at all simply has no
 * `limits` (absent means unlimited).
 */
export function limitsWithDefaults(values: RateLimits = {}): RateLimits {
  return { ...seedLimitDefaults, ...definedOnly(values) };
}

/** One counter of an admission, with what a decision reports about it. */
export interface PlannedCounter extends StoreCounter {
  readonly scope: ScopeRef;
  readonly limit: LimitName;
  /** When the counter's window ends, epoch ms; undefined for the lifetime token budget. */
  readonly resetAtMs: number | undefined;
}

const rateLimitNames = ['rpm', 'rph', 'monthly_requests', 'tpm', 'token_budget'] as const;
const budgetNames = ['daily_usd', 'monthly_usd'] as const;

/**
 * Every counter a request touches: for each scope, each limit it has, in the window current at `nowMs`.
 * Requests count at once (`hold: false`); tokens and USD are held until settlement. A counter lives until its
 * window ends, plus `leaseMs` for counters with holds so a late settlement still finds it.
 * Throws a TypeError for a scope listed twice, a limit that is not a whole non-negative number, or a bad demand.
 */
export function planAdmission(
  scopes: readonly Scope[],
  demand: Demand,
  options: { readonly nowMs: number; readonly leaseMs: number },
): PlannedCounter[] {
  checkAmount('demand.tokens', demand.tokens);
  checkAmount('demand.costNanoUsd', demand.costNanoUsd);
  const seen = new Set<string>();
  const counters: PlannedCounter[] = [];
  for (const scope of scopes) {
    const known = scopeMemo(scope);
    const scopeKey = known.scopeKey;
    if (seen.has(scopeKey)) throw new TypeError(`scope ${scope.kind} ${scope.id} is listed twice`);
    seen.add(scopeKey);
    const add = (limit: LimitName, max: number, amount: number, hold: boolean) => {
      checkAmount(`${scope.kind} ${scope.id} ${limit}`, max);
      const { field, ttlMs, endMs } = counterAt(known, limit, hold, options);
      counters.push({ scopeKey, field, max, amount, hold, ttlMs, scope: known.ref, limit, resetAtMs: endMs });
    };
    for (const limit of rateLimitNames) {
      const max = scope.limits?.[limit];
      if (max === null || max === undefined) continue;
      if (limit === 'rpm' || limit === 'rph' || limit === 'monthly_requests') add(limit, max, 1, false);
      else add(limit, max, demand.tokens, true);
    }
    for (const limit of budgetNames) {
      const usd = scope.budget?.[limit];
      if (usd === null || usd === undefined) continue;
      add(limit, known.nanos(usd), demand.costNanoUsd, true);
    }
  }
  return counters;
}

/**
 * The counters a scope starts from, from what the ledger says it used (`spend`): its daily and monthly USD
 * budgets, its lifetime token budget and its monthly request quota, in the windows current at `nowMs`, each
 * only if the scope has that limit. Minute and hour windows are not seeded: they are over before a restart
 * matters. A counter lives as an admission's would (its window's end, plus `leaseMs` for held kinds).
 */
export function planSeed(
  scope: Scope,
  spend: ScopeSpend,
  options: { readonly nowMs: number; readonly leaseMs: number },
): SeedCounter[] {
  const known = scopeMemo(scope);
  const counters: SeedCounter[] = [];
  const add = (limit: LimitName, used: number, hold: boolean) => {
    if (!(Number.isSafeInteger(used) && used > 0)) return;
    const { field, ttlMs } = counterAt(known, limit, hold, options);
    counters.push({ scopeKey: known.scopeKey, field, used, ttlMs });
  };
  const limits = scope.limits;
  if (limits?.token_budget != null) add('token_budget', spend.tokens, true);
  if (limits?.monthly_requests != null) add('monthly_requests', spend.monthRequests, false);
  if (scope.budget?.daily_usd != null) add('daily_usd', spend.dayNanoUsd, true);
  if (scope.budget?.monthly_usd != null) add('monthly_usd', spend.monthNanoUsd, true);
  return counters;
}

/**
 * A limit's counter of a scope in the window current at `nowMs`: its field, how long it must live (the window's
 * end, plus `leaseMs` for held kinds, so a late settlement still finds it; undefined for the lifetime budget)
 * and when the window ends.
 */
function counterAt(
  known: ScopeMemo,
  limit: LimitName,
  hold: boolean,
  options: { readonly nowMs: number; readonly leaseMs: number },
): { field: string; ttlMs: number | undefined; endMs: number | undefined } {
  const window = limitWindow(limit, options.nowMs);
  const ttlMs =
    window.endMs === undefined ? undefined : window.endMs - options.nowMs + (hold ? options.leaseMs : 0);
  return { field: known.field(limit, window.label), ttlMs, endMs: window.endMs };
}

/** What planning derives from a scope alone: its store key, its counters' fields per window, its budgets in nano-USD. */
interface ScopeMemo {
  /** `limits:<kind>:<id>`: the record holding every counter of the scope. */
  readonly scopeKey: string;
  /** The scope's name alone, shared by its counters (a decision reports it). */
  readonly ref: ScopeRef;
  /** `<limit>:<label>`: the counter's field in the scope's record. */
  field(limit: LimitName, label: string): string;
  nanos(usd: number | string): number;
}

/**
 * Scopes are long-lived (the key directory builds them once per load), and an admission asks the same of
 * them every time: the scope's key and its counters' fields (built and hashed anew per request otherwise, 18
 * fields for a key, its project and its org; the current window's per limit) and the budgets in nano-USD
 * (parsed from decimal text otherwise). Kept per scope object.
 */
const memos = new WeakMap<Scope, ScopeMemo>();

function scopeMemo(scope: Scope): ScopeMemo {
  let memo = memos.get(scope);
  if (memo !== undefined) return memo;
  // encodeURIComponent leaves no ':' in the id, so the key names one scope only.
  const scopeKey = `limits:${scope.kind}:${encodeURIComponent(scope.id)}`;
  const fields = new Map<LimitName, { label: string; field: string }>();
  const nanos = new Map<number | string, number>();
  memo = {
    scopeKey,
    ref: { kind: scope.kind, id: scope.id },
    field(limit, label) {
      // The current window's field per limit; a new window replaces it.
      const last = fields.get(limit);
      if (last?.label === label) return last.field;
      const field = `${limit}:${label}`;
      fields.set(limit, { label, field });
      return field;
    },
    nanos(usd) {
      let value = nanos.get(usd);
      if (value === undefined) {
        value = usdToNanos(usd);
        nanos.set(usd, value);
      }
      return value;
    },
  };
  memos.set(scope, memo);
  return memo;
}

function checkAmount(name: string, value: number) {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${name} must be a whole non-negative number, got ${value}`);
  }
}

function definedOnly(values: RateLimits): RateLimits {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined));
}
