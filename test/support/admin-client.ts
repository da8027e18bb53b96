import assert from 'node:assert/strict';
import type { TestGateway } from './gateway.ts';

/** A reply as the admin tests read it: status, headers, raw text and parsed JSON (undefined when not JSON). */
export interface ApiReply {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

/** The parsed body as the shape a test expects (the assertions that read it check it). */
export function json<T>(reply: ApiReply): T {
  return reply.body as T;
}

interface ErrorBody {
  error?: { code?: string; param?: string | null };
  success?: boolean;
}

export interface CallOptions {
  /** A JSON value, or a raw string sent as is. */
  body?: unknown;
  /** The bearer key; none when undefined. */
  key?: string | undefined;
  /** More request headers (a webhook's signature). */
  headers?: Record<string, string> | undefined;
}

/** Calls a running gateway with a 10 s abort, so a hang fails the test instead of stalling it. */
export async function call(
  gateway: TestGateway,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<ApiReply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(`${gateway.origin}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, text, body: parsed };
}

/** Asserts an OpenAI-shaped error with this status and code (and `param`, when given). */
export function assertError(reply: ApiReply, status: number, code: string, param?: string | null): void {
  const body = json<ErrorBody | undefined>(reply);
  assert.equal(reply.status, status, reply.text.slice(0, 500));
  assert.equal(body?.error?.code, code, reply.text.slice(0, 500));
  if (param !== undefined) assert.equal(body?.error?.param, param, reply.text.slice(0, 500));
  assert.ok(reply.text.length < 2_000, 'the error does not echo a huge value back');
}

/** Asserts a seed-004 error envelope with this status and code. */
export function assertSeedError(reply: ApiReply, status: number, code: string): void {
  const body = json<ErrorBody | undefined>(reply);
  assert.equal(reply.status, status, reply.text.slice(0, 500));
  assert.equal(body?.success, false, reply.text.slice(0, 500));
  assert.equal(body?.error?.code, code, reply.text.slice(0, 500));
}

/** The admin API's shapes, as far as the tests read them. */
export interface LimitsWire {
  rpm: number | null;
  rph: number | null;
  tpm: number | null;
  token_budget: number | null;
}

export interface BudgetWire {
  daily_usd: number | null;
  monthly_usd: number | null;
}

export interface OrgWire {
  id: string;
  object: string;
  name: string;
  limits: LimitsWire;
  budget: BudgetWire;
  created_at: string;
}

export interface ProjectWire extends OrgWire {
  org_id: string;
  has_provider_keys: boolean;
}

export interface UserWire {
  id: string;
  org_id: string;
  email: string;
  name: string;
  plan: string;
  request_quota: number | null;
}

export interface KeyWire {
  id: string;
  key?: string;
  key_prefix: string;
  name: string;
  status: 'active' | 'revoked' | 'expired';
  org_id: string;
  project_id: string | null;
  user_id: string | null;
  models: string[] | null;
  metadata: Record<string, unknown>;
  limits: LimitsWire;
  budget: BudgetWire;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface ListWire<T> {
  object: 'list';
  data: T[];
}

export interface TotalsWire {
  requests: number;
  attempts: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost_usd: number;
  savings_usd: number;
}

export interface UsageWire extends TotalsWire {
  groups: Array<TotalsWire & { group: string | null }>;
}

/** Seed 004's envelope. */
export interface Envelope<T> {
  success: boolean;
  data: T;
}
