/**
 * The tenancy entities as the store returns them (camelCase, timestamps in epoch milliseconds). SPEC §2.3:
 * organization ⊃ project ⊃ API key, users in organizations; `limits` and `budget` fields that are null mean
 * unlimited.
 */

/** Rate limits; null is unlimited. */
export interface Limits {
  /** Requests per minute. */
  readonly rpm: number | null;
  /** Requests per hour. */
  readonly rph: number | null;
  /** Tokens (prompt + completion) per minute. */
  readonly tpm: number | null;
  /** Total tokens allowed. */
  readonly tokenBudget: number | null;
}

/** Spend limits in USD; null is unlimited. Stored as integer nano-USD, so up to 9 decimals are exact. */
export interface Budget {
  readonly dailyUsd: number | null;
  readonly monthlyUsd: number | null;
}

/** Limits to set: a field given as null clears it (unlimited), an absent field keeps its value. */
export type LimitsInput = { readonly [Field in keyof Limits]?: number | null | undefined };

/** Budget to set: a field given as null clears it (unlimited), an absent field keeps its value. */
export type BudgetInput = { readonly [Field in keyof Budget]?: number | null | undefined };

/**
 * Narrows a read, change or delete to one tenant: a row outside the scope is treated as missing, so ids
 * from another organization or project never reach or reveal anything.
 */
export interface TenantScope {
  readonly orgId?: string | undefined;
  readonly projectId?: string | undefined;
}

export interface Organization {
  readonly id: string;
  readonly name: string;
  readonly limits: Limits;
  readonly budget: Budget;
  readonly createdAt: number;
}

export interface Project {
  readonly id: string;
  readonly orgId: string;
  readonly name: string;
  readonly limits: Limits;
  readonly budget: Budget;
  /** Whether the project brings its own provider keys (the ciphertext itself is read separately). */
  readonly hasProviderKeys: boolean;
  readonly createdAt: number;
}

export interface User {
  readonly id: string;
  readonly orgId: string;
  readonly email: string;
  readonly name: string;
  /** Plan name (seed 000: `free`, upgraded by the billing webhook). */
  readonly plan: string;
  /** Requests allowed by the plan; null is unlimited. */
  readonly requestQuota: number | null;
  readonly createdAt: number;
}

/** An API key as listed and shown: never its secret nor its hash. */
export interface ApiKey {
  readonly id: string;
  /** The key's first characters (`nk-` and 9 more), for telling keys apart. */
  readonly keyPrefix: string;
  readonly name: string;
  readonly orgId: string;
  readonly projectId: string | null;
  readonly userId: string | null;
  /** Models the key may call; null is every model. */
  readonly models: readonly string[] | null;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly limits: Limits;
  readonly budget: Budget;
  /** Epoch milliseconds after which the key stops working; null never. */
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
}

/** An API key with its hash: only for the gateway's in-memory key table, never for a listing. */
export interface ApiKeyCredential extends ApiKey {
  /** SHA-256 of the whole key, lower-case hex. */
  readonly keyHash: string;
}
