/**
 * Errors the store raises for its callers to turn into 4xx answers. Anything else (a lost connection, a
 * driver fault) is thrown as it came.
 */

/** `invalid_input`: a value the store cannot take; `not_found`: a referenced entity does not exist (or is in
 * another tenant's scope); `conflict`: a unique value (an email) is taken. */
export type StoreErrorCode = 'invalid_input' | 'not_found' | 'conflict';

export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
}

/** Whether a driver error is a unique-constraint violation (SQLite or PostgreSQL). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Whether a driver error is a foreign-key violation (SQLite or PostgreSQL). */
export function isForeignKeyViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}
