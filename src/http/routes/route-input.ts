import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import { NexusError } from '../../core/errors.ts';
import { formatPath } from '../../core/validate-request.ts';
import type { Services } from '../../services/open-services.ts';
import { StoreError } from '../../store/sql/store-error.ts';
import { readExchangeJson } from '../body.ts';
import type { Exchange, Gateway } from '../exchange.ts';

/**
 * What the admin, usage and seed-project routes share: strict validation of bodies and query strings into
 * `invalid_request` 400s that name the field, ids from the path, the store's errors as catalogue errors, and
 * who may call what.
 */

// NUL: PostgreSQL refuses it in text, so a query carrying one would fail instead of finding nothing; a lone
// surrogate becomes U+FFFD on the way into either database, so it could match a different value.
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether both databases take and compare `text` as it is (no NUL, no lone UTF-16 surrogate). */
export function isStorable(text: string): boolean {
  return !text.includes('\u0000') && !loneSurrogate.test(text);
}

/** Text used to look something up (an id, a model name): bounded, and compared the same on both databases. */
export function lookupText(maxLength: number) {
  return z
    .string()
    .min(1)
    .max(maxLength)
    .refine(isStorable, 'must not contain NUL or a lone UTF-16 surrogate');
}

/** Where a value came from, for the wording of its errors. */
type Subject = 'body' | 'query';

const shown = (text: string) => (text.length > 100 ? `${text.slice(0, 100)}…` : text);

/**
 * Validates a value against a schema whose objects are strict: an unknown field, a wrong type or a value out of
 * range is a 400 `invalid_request` naming the field (`limits.rpm`), never echoing a huge value back.
 */
export function validateInput<T>(schema: z.ZodType<T>, value: unknown, subject: Subject = 'body'): T {
  if (subject === 'body' && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw new NexusError('invalid_request', 'The request body must be a JSON object.');
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const where = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const name = where === '' ? issue.keys[0]! : `${where}.${issue.keys[0]!}`;
    const what = subject === 'query' ? 'query parameter' : 'field';
    throw new NexusError('invalid_request', `Unknown ${what} '${shown(name)}'.`, { param: shown(name) });
  }
  const missing = issue.code === 'invalid_type' && valueAt(value, issue.path) === undefined;
  const detail = missing ? 'this field is required' : issue.message.replace(/^Invalid input: /, '');
  const label = where === '' ? (subject === 'query' ? 'query string' : 'request body') : `'${where}'`;
  throw new NexusError('invalid_request', `Invalid ${label}: ${detail}.`, {
    param: where === '' ? undefined : where,
  });
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** Reads the JSON body (under the body limit and the request deadline) and validates it. */
export async function readBody<T>(gateway: Gateway, exchange: Exchange, schema: z.ZodType<T>): Promise<T> {
  return validateInput(schema, await readExchangeJson(gateway, exchange));
}

/** The query string as an object of strings, validated; a parameter given twice is a 400. */
export function readQuery<T>(exchange: Exchange, schema: z.ZodType<T>): T {
  const url = exchange.request.url ?? '';
  const at = url.indexOf('?');
  const fields: Record<string, string> = {};
  if (at !== -1) {
    for (const [name, value] of new URLSearchParams(url.slice(at + 1))) {
      if (Object.hasOwn(fields, name)) {
        throw new NexusError('invalid_request', `Query parameter '${shown(name)}' is given twice.`, {
          param: shown(name),
        });
      }
      fields[name] = value;
    }
  }
  return validateInput(schema, fields, 'query');
}

/** The id after a prefix route's prefix (`/v1/admin/orgs/{id}`); one that cannot be an id is simply not found. */
export function pathId(exchange: Exchange, prefix: string, what: string): string {
  let id: string | undefined;
  try {
    id = decodeURIComponent(exchange.path.slice(prefix.length));
  } catch {
    id = undefined;
  }
  if (id === undefined || id === '' || id.length > 200 || id.includes('/') || !isStorable(id)) {
    throw notFound(what);
  }
  return id;
}

/** 404 `not_found` for an entity that is missing or outside the caller's scope (the two look the same). */
export function notFound(what: string): NexusError {
  return new NexusError('not_found', `No ${what} with this id.`);
}

/** The opened state layers; they open before the server listens, so their absence is a bug. */
export function servicesOf(gateway: Gateway): Services {
  const services = gateway.services.current;
  if (services === undefined) throw new NexusError('internal_error', 'The store is not open.');
  return services;
}

/** Runs a store call, turning its StoreError into the catalogue's 400, 404 or 409. */
export async function fromStore<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (!(error instanceof StoreError)) throw error;
    const message = `${error.message.charAt(0).toUpperCase()}${error.message.slice(1)}.`;
    if (error.code === 'not_found') throw new NexusError('not_found', message);
    if (error.code === 'conflict') throw new NexusError('conflict', message);
    throw new NexusError('invalid_request', message);
  }
}

/**
 * Admin routes need the master key, or no key at all on a gateway without one (which serves loopback only);
 * a tenant key is valid but not enough: 403.
 */
export function requireAdmin(exchange: Exchange): void {
  if (exchange.principal?.kind === 'key') {
    throw new NexusError('permission_denied', 'The admin API needs the master key, not a tenant key.');
  }
}

/** Answers 204 with no body (a delete or a revocation). */
export function sendNoContent(response: ServerResponse): void {
  response.writeHead(204).end();
}

const isoInstant =
  /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/;

/**
 * An instant as ISO 8601 text: a date (`2025-01-31`, midnight UTC) or a date-time with its offset
 * (`2025-01-31T12:00:00Z`); out: epoch milliseconds. Impossible dates (`2025-02-30`) are refused, not rolled over.
 */
export const instantSchema = z
  .string()
  .max(40)
  // What /openapi.json says of the text a client sends (the check itself is the transform's).
  .meta({
    description: 'ISO 8601: a date (midnight UTC) or a date-time with its offset.',
    examples: ['2025-01-31', '2025-01-31T12:00:00Z'],
  })
  .transform((text, context) => {
    const match = isoInstant.exec(text);
    const ms = Date.parse(text);
    const [year, month, day] = (match ?? []).slice(1, 4).map(Number);
    const calendar = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 1));
    if (match === null || !Number.isFinite(ms) || ms < 0 || calendar.getUTCDate() !== day) {
      context.addIssue({
        code: 'custom',
        message: 'expected an ISO 8601 date or date-time with an offset (2025-01-31 or 2025-01-31T12:00:00Z)',
      });
      return z.NEVER;
    }
    return ms;
  });

/** An instant as a reply shows it: ISO 8601 in UTC with milliseconds (`isoTime`). */
export const isoTimeSchema = z.iso.datetime();

/** An integer given as decimal digits in a query string. */
export function queryInteger(min: number, max: number) {
  return z
    .string()
    .regex(/^\d{1,15}$/, 'expected an integer')
    .meta({ description: `An integer from ${min} to ${max}.` })
    .transform(Number)
    .pipe(z.int().min(min).max(max));
}

/** Epoch milliseconds as ISO 8601 text (`2025-01-31T12:00:00.000Z`); null stays null. */
export function isoTime(ms: number): string;
export function isoTime(ms: number | null): string | null;
export function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
