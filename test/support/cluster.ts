/**
 * Helpers for the cluster suites: Nexus replicas as real processes sharing one store and one Redis, tenant keys
 * issued in that store as the admin API does, traffic spread over the replicas, and the two counts every
 * accounting test compares: upstream calls (seen by the fake) and usage records (read from the ledger table
 * with plain SQL, not through the code under test).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Store } from '../../src/store/sql/create-store.ts';
import type { FakeOpenAI } from './fake-openai.ts';
import { type NexusProcess, startNexus } from './nexus-process.ts';
import { reachable } from './services.ts';

/** The master key every replica is started with (tenant keys are checked with or without one). */
export const masterKey = 'nexus-cluster-master-key';

/**
 * Why a suite cannot run here, or undefined when it can: the first of `reasons` that is not undefined. Under CI
 * a missing service is a failure (CI starts them), so this throws there; elsewhere the suite's tests skip with
 * the reason. (A `describe`'s hooks have no `skip()`, so each test skips itself.)
 */
export function skipReason(...reasons: (string | undefined)[]): string | undefined {
  const reason = reasons.find((entry) => entry !== undefined);
  if (reason !== undefined && process.env.CI !== undefined && process.env.CI !== '') throw new Error(reason);
  return reason;
}

/** A message naming the service and how to start it when nothing listens at `url`. */
export async function unreachable(name: string, url: string, start: string): Promise<string | undefined> {
  return (await reachable(url)) ? undefined : `${name} is not reachable at ${url}; start it with: ${start}`;
}

/** Starts `count` replicas at once with the same env; if one fails to start, kills the others. */
export async function startReplicas(count: number, env: Record<string, string>): Promise<NexusProcess[]> {
  const started = await Promise.allSettled(
    Array.from({ length: count }, () =>
      startNexus({ HOST: '127.0.0.1', NEXUS_MASTER_KEY: masterKey, OPENAI_API_KEY: 'sk-upstream', ...env }),
    ),
  );
  const replicas = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    for (const replica of replicas) replica.kill();
    throw (failed as PromiseRejectedResult).reason;
  }
  return replicas;
}

/** A key in a fresh organization and project of the store, with the given limits and budget. */
export async function issueKey(store: Store, input: Parameters<Store['apiKeys']['create']>[0] = {}) {
  const org = await store.organizations.create({ name: `cluster org ${Math.random()}` });
  const project = await store.projects.create({ orgId: org.id, name: 'cluster project' });
  const created = await store.apiKeys.create({ projectId: project.id, ...input });
  return { secret: created.secret, keyId: created.key.id, projectId: project.id };
}

/**
 * Status of `GET /v1/models` with the key: identify runs, admission does not, so it shows whether the replica
 * knows the key (200) or not (401) without using any of its limits. 0 when the replica does not answer.
 */
export async function keyStatus(replica: NexusProcess, secret: string): Promise<number> {
  try {
    const response = await fetch(`${replica.origin}/v1/models`, {
      headers: { authorization: `Bearer ${secret}` },
      signal: AbortSignal.timeout(5_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

/** Waits until every replica answers the key with `status` (200: loaded; 401: refused). */
export async function untilEveryReplica(
  replicas: readonly NexusProcess[],
  secret: string,
  status: number,
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(
    async () =>
      (await Promise.all(replicas.map((replica) => keyStatus(replica, secret)))).every((s) => s === status),
    `every replica answers the key with ${status}`,
    timeoutMs,
  );
}

/** One request's fate as the client saw it. */
export interface Outcome {
  readonly replica: number;
  /** HTTP status; 0 when the connection failed (a replica that has exited). */
  readonly status: number;
  /** The error body's `code`, or `stream_broken` for a 200 stream without `[DONE]`. */
  readonly code: string | undefined;
  readonly retryAfter: string | null;
  readonly rateLimitLimit: string | null;
  /** `performance.now()` when sent and when the answer was complete. */
  readonly sentAt: number;
  readonly doneAt: number;
}

export interface ChatOptions {
  /** Goes into the user message, so the fake's calls of one test can be told apart. */
  readonly marker: string;
  readonly stream?: boolean | undefined;
  readonly maxTokens?: number | undefined;
}

/** A chat completion (JSON or SSE, read to the end) through one replica with a tenant key. */
export async function chat(
  replicas: readonly NexusProcess[],
  index: number,
  secret: string,
  options: ChatOptions,
): Promise<Outcome> {
  const replica = index % replicas.length;
  const sentAt = performance.now();
  const body = {
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: `cluster test ${options.marker}` }],
    max_tokens: options.maxTokens ?? 16,
    stream: options.stream === true,
  };
  try {
    const response = await fetch(`${replicas[replica]!.origin}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await response.text();
    let code: string | undefined;
    if (response.status !== 200) code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
    else if (options.stream === true && !text.includes('data: [DONE]')) code = 'stream_broken';
    return {
      replica,
      status: response.status,
      code,
      retryAfter: response.headers.get('retry-after'),
      rateLimitLimit: response.headers.get('x-ratelimit-limit'),
      sentAt,
      doneAt: performance.now(),
    };
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code ?? 'connection_failed';
    return {
      replica,
      status: 0,
      code,
      retryAfter: null,
      rateLimitLimit: null,
      sentAt,
      doneAt: performance.now(),
    };
  }
}

/** Runs `count` calls of `task(index)`, at most `concurrency` at a time, and returns their results in order. */
export async function spread<T>(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const index = next++;
        results[index] = await task(index);
      }
    }),
  );
  return results;
}

/**
 * Traffic that keeps flowing until stopped: `workers` loops, each sending one request after another (with
 * `pauseMs` between them, so the replicas are busy but the 2-core machine is not saturated), round-robin.
 */
export class Flow {
  readonly outcomes: Outcome[] = [];
  #running = true;
  readonly #loops: Promise<void>[];

  constructor(send: (index: number) => Promise<Outcome>, workers: number, pauseMs: number) {
    let next = 0;
    this.#loops = Array.from({ length: workers }, async () => {
      while (this.#running) {
        this.outcomes.push(await send(next++));
        if (pauseMs > 0) await sleep(pauseMs);
      }
    });
  }

  /** Stops sending and resolves once every request in flight has its answer. */
  async stop(): Promise<Outcome[]> {
    this.#running = false;
    await Promise.all(this.#loops);
    return this.outcomes;
  }
}

/** Counts answers by status (and code), e.g. `{ "200": 57, "429 rate_limited": 183 }`, for messages. */
export function tally(outcomes: readonly Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { status, code } of outcomes) {
    const name = code === undefined ? String(status) : `${status} ${code}`;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

/** The fake's chat calls that carry `marker`: the upstream calls of one test. */
export function upstreamCalls(fake: FakeOpenAI, marker: string): number {
  return fake
    .callsTo('/chat/completions')
    .filter((call) => JSON.stringify(call.body).includes(`cluster test ${marker}`)).length;
}

/** What the ledger table holds for a key: records of upstream calls, records without one, and their cost. */
export interface LedgerCounts {
  /** Records with a provider: one per upstream attempt. */
  readonly upstream: number;
  /** Records without one (refused by a limit, or answered without an upstream). */
  readonly local: number;
  readonly costNanoUsd: bigint;
}

/** Reads the ledger for one key with plain SQL (`schema.usage`), independent of the store's own queries. */
export async function ledgerCounts(url: string, schema: string, keyId: string): Promise<LedgerCounts> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ upstream: string; local: string; cost: string }>(
      `select count(*) filter (where provider is not null) as upstream,
              count(*) filter (where provider is null) as local,
              coalesce(sum(cost_nano_usd), 0)::text as cost
         from "${schema}".usage where key_id = $1`,
      [keyId],
    );
    const row = rows[0]!;
    return { upstream: Number(row.upstream), local: Number(row.local), costNanoUsd: BigInt(row.cost) };
  } finally {
    await client.end();
  }
}

/**
 * Reads the ledger until it holds the `expected` counts (replicas write their records in batches, each within
 * a few hundred ms) or `timeoutMs` passes; returns the last counts read, for the test to assert on.
 */
export async function untilLedger(
  read: () => Promise<LedgerCounts>,
  expected: { readonly upstream: number; readonly local?: number | undefined },
  timeoutMs = 15_000,
): Promise<LedgerCounts> {
  const deadline = Date.now() + timeoutMs;
  const matches = (counts: LedgerCounts) =>
    counts.upstream === expected.upstream &&
    (expected.local === undefined || counts.local === expected.local);
  let counts = await read();
  while (!matches(counts) && Date.now() < deadline) {
    await sleep(100);
    counts = await read();
  }
  return counts;
}

/** Drops a PostgreSQL schema and everything in it. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Deletes every Redis key under `prefix`. */
export async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * Limit windows are UTC wall-clock windows (minutes for rpm). When less than `needMs` is left of the current
 * one, waits for the next to begin, so that a burst of traffic lands in one window. Returns that window's number.
 */
export async function withinOneWindow(windowMs: number, needMs: number): Promise<number> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < needMs) await sleep(left + 50);
  return Math.floor(Date.now() / windowMs);
}

export async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(25);
  }
}
