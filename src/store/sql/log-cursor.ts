import { StoreError } from './store-error.ts';

/** Where a page of the request log ended: the last record's position in newest-first order. */
export interface LogPosition {
  readonly createdAt: number;
  readonly requestId: string;
  readonly attempt: number;
}

/** An opaque cursor (base64url of the position); clients pass it back unchanged. */
export function encodeLogCursor(position: LogPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.requestId, position.attempt])).toString(
    'base64url',
  );
}

/** The position a cursor names; invalid_input for anything that is not a cursor this store made. */
export function decodeLogCursor(cursor: string): LogPosition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new StoreError('invalid_input', 'cursor is not valid');
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 3 ||
    !Number.isSafeInteger(parsed[0]) ||
    typeof parsed[1] !== 'string' ||
    !Number.isSafeInteger(parsed[2])
  ) {
    throw new StoreError('invalid_input', 'cursor is not valid');
  }
  return { createdAt: parsed[0] as number, requestId: parsed[1], attempt: parsed[2] as number };
}
