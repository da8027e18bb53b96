import { nanoUsdToUsd, usdToNanoUsd } from './money.ts';
import { StoreError } from './store-error.ts';
import type { LimitColumns } from './tables.ts';
import type { Budget, BudgetInput, Limits, LimitsInput } from './tenancy-types.ts';

/** Between the JS shapes and the column values, with the checks both databases need. */

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A text value both databases store and return unchanged. PostgreSQL rejects NUL and both drivers turn a
 * lone UTF-16 surrogate into U+FFFD, so either would make the two dialects disagree or the value change on
 * the way in: they are refused instead.
 */
export function checkText(value: string, field: string): string {
  if (typeof value !== 'string') throw new StoreError('invalid_input', `${field} must be a string`);
  if (value.includes('\u0000')) throw new StoreError('invalid_input', `${field} must not contain NUL`);
  if (loneSurrogate.test(value)) {
    throw new StoreError('invalid_input', `${field} must be well-formed Unicode (a lone surrogate)`);
  }
  return value;
}

/** A non-negative safe integer, or null. */
export function checkCount(value: number | null, field: string): number | null {
  if (value === null) return null;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new StoreError('invalid_input', `${field} must be a non-negative integer or null`);
  }
  return value;
}

/** Epoch milliseconds, or null. */
export function checkInstant(value: number | null, field: string): number | null {
  return checkCount(value, field);
}

function nanoFromUsd(value: number | null, field: string): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new StoreError('invalid_input', `${field} must be a non-negative number of USD or null`);
  }
  try {
    return usdToNanoUsd(value);
  } catch {
    throw new StoreError('invalid_input', `${field} is too large`);
  }
}

/** Columns to write for the given limits and budget; fields left out are not touched. */
export function limitColumnValues(
  limits: LimitsInput | undefined,
  budget: BudgetInput | undefined,
): Partial<LimitColumns> {
  const values: Partial<LimitColumns> = {};
  if (limits?.rpm !== undefined) values.limit_rpm = checkCount(limits.rpm, 'limits.rpm');
  if (limits?.rph !== undefined) values.limit_rph = checkCount(limits.rph, 'limits.rph');
  if (limits?.tpm !== undefined) values.limit_tpm = checkCount(limits.tpm, 'limits.tpm');
  if (limits?.tokenBudget !== undefined) {
    values.limit_token_budget = checkCount(limits.tokenBudget, 'limits.tokenBudget');
  }
  if (budget?.dailyUsd !== undefined)
    values.budget_daily_nano_usd = nanoFromUsd(budget.dailyUsd, 'budget.dailyUsd');
  if (budget?.monthlyUsd !== undefined) {
    values.budget_monthly_nano_usd = nanoFromUsd(budget.monthlyUsd, 'budget.monthlyUsd');
  }
  return values;
}

/** Every limit column unset (unlimited), for inserts. */
export const noLimits: LimitColumns = {
  limit_rpm: null,
  limit_rph: null,
  limit_tpm: null,
  limit_token_budget: null,
  budget_daily_nano_usd: null,
  budget_monthly_nano_usd: null,
};

export function limitsFromRow(row: LimitColumns): Limits {
  return { rpm: row.limit_rpm, rph: row.limit_rph, tpm: row.limit_tpm, tokenBudget: row.limit_token_budget };
}

export function budgetFromRow(row: LimitColumns): Budget {
  return {
    dailyUsd: row.budget_daily_nano_usd === null ? null : nanoUsdToUsd(row.budget_daily_nano_usd),
    monthlyUsd: row.budget_monthly_nano_usd === null ? null : nanoUsdToUsd(row.budget_monthly_nano_usd),
  };
}

/** JSON for a text column; the value must survive a JSON round trip (no functions, no cycles). */
export function toJson(value: unknown, field: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    throw new StoreError('invalid_input', `${field} must be JSON`);
  }
  if (text === undefined) throw new StoreError('invalid_input', `${field} must be JSON`);
  // JSON.stringify escapes NUL and lone surrogates, so the text is always storable.
  return text;
}
