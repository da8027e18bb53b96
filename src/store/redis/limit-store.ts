import { Redis } from 'ioredis';
import type {
  AdmissionResult,
  AdmissionWrite,
  CounterRef,
  CounterTotals,
  LimitStore,
  SeedCounter,
  SettlementWrite,
} from '../../limits/limit-types.ts';
import { connected } from './breaker-store.ts';
import { admitScript, type LimitScript, seedScript, settleScript } from './limit-scripts.ts';

/**
 * Rate-limit, token and budget counters shared by every replica on one Redis: one hash per scope,
 * `<prefix>limits:<scope kind>:<scope id>` (e.g. `nexus:limits:key:k_1`), with the fields of each limit's
 * current window: `<limit>:<window>` holds what is used, `<limit>:<window>:<minute>` what is held until the end
 * of that epoch minute (e.g. `rpm:20250131T2359` = 12, `daily_usd:20250131:29000000` = 1500000,
 * `token_budget:total` = 48000). An admission of a key, its project and its org reads and writes 3 hashes, one
 * command each way per hash, where the layout this replaced before any release (one hash per limit, scope and
 * window; no keys of it need migrating) took 18 keys and two commands per counter. Fields of a past window are
 * deleted by the next admission that reads the hash; a hash expires with the latest window it holds, and never
 * while it holds the lifetime token budget (see `admitScript`). The ids of settled reservations live in sets
 * `<prefix>limits:settled:<minute>` (about 60 bytes per settled request, kept for the reservation TTL plus a
 * minute). One Lua script call for the admissions of one event-loop turn and one for its settlements
 * (`limit-scripts.ts`), each covering every scope in one call, called by EVALSHA and loaded on connect and
 * again whenever Redis answers NOSCRIPT (a restarted or flushed server).
 *
 * All keys of one admission are touched by one script, so on Redis Cluster they must share a slot: use a
 * hash tag as the prefix (`{nexus}:`). Windows come from the caller's clock: replicas keep theirs in sync
 * (NTP), or a skewed one counts near a boundary in the neighbouring window; one whose clock is behind may
 * find the window it is still in already deleted by a replica that moved on, and count it from zero for as
 * long as it lags.
 *
 * Errors are not retried here: a failed call rejects at once (no offline queue, no resend of a command
 * whose reply was lost, `commandTimeoutMs` for a server that hangs), and the limiter applies its outage
 * policy. ioredis keeps reconnecting in the background.
 */
export class RedisLimitStore implements LimitStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  /** Admissions asked for in this turn of the event loop, sent together on the next. */
  readonly #admissions = new TurnBatch<AdmissionWrite, AdmissionResult>((writes) => this.#admitAll(writes));
  /** Settlements asked for in this turn of the event loop, sent together on the next. */
  readonly #settlements = new TurnBatch<SettlementWrite, undefined>((writes) => this.#settleAll(writes));

  /** `keyPrefix` (default `nexus:`) separates deployments sharing one Redis; `commandTimeoutMs` default 1000. */
  /**
   * `onReconnect` runs each time the connection is ready again after it was lost: a Redis that restarted may
   * have come back empty (the gateway seeds its counters from the ledger again then).
   */
  constructor(
    url: string,
    options: { keyPrefix?: string; commandTimeoutMs?: number; onReconnect?: () => void } = {},
  ) {
    this.#prefix = options.keyPrefix ?? 'nexus:';
    this.#redis = new Redis(url, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      // A script whose reply was lost may have run: resending it would count a request twice.
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.commandTimeoutMs ?? 1000,
    });
    // Errors surface through the promises of the calls that fail; the connection retries by itself.
    this.#redis.on('error', () => {});
    let connectedBefore = false;
    this.#redis.on('ready', () => {
      void this.#load().catch(() => {});
      if (connectedBefore) options.onReconnect?.();
      connectedBefore = true;
    });
  }

  /** Resolves once connected (used at boot, so a misconfigured URL is reported early). */
  async ready(timeoutMs = 5000): Promise<void> {
    await connected(this.#redis, timeoutMs);
  }

  /**
   * Admissions are sent together as well: those asked for in one turn of the event loop go in one script call
   * on the next (`admitScript`, which runs them in order, each atomically across its counters), so a busy
   * gateway makes one round trip for the requests that arrived together instead of one each. A failed call
   * rejects every admission in it (the limiter applies its outage policy to each).
   */
  admit(write: AdmissionWrite): Promise<AdmissionResult> {
    return this.#admissions.add(write);
  }

  async #admitAll(writes: readonly AdmissionWrite[]): Promise<AdmissionResult[]> {
    const keys: string[] = [];
    const args: string[] = [];
    const orders: (readonly number[] | undefined)[] = [];
    for (const write of writes) {
      const counters = write.counters;
      const groups = byScope(counters);
      for (const scopeKey of groups.scopeKeys) keys.push(this.#prefix + scopeKey);
      args.push(admissionArgument(write, groups));
      orders.push(groups.order);
    }
    const reply = await this.#run(admitScript, keys, args);
    if (!Array.isArray(reply) || reply.length !== writes.length) {
      throw new Error(`unexpected reply from the admission script: ${JSON.stringify(reply).slice(0, 200)}`);
    }
    return writes.map((write, index) => admissionResult(reply[index], write.counters.length, orders[index]));
  }

  /**
   * Settlements are sent together: those asked for in one turn of the event loop go in one script call on the
   * next (`settleScript`), so a busy gateway makes about one round trip per admission instead of two. A
   * settlement is off the reply's path (the client has its answer), and until it lands the hold only makes
   * limits stricter, never looser. A failed call rejects every settlement in it; each is idempotent (its
   * reservation id), so the limiter resends them.
   */
  settle(write: SettlementWrite): Promise<void> {
    return this.#settlements.add(write);
  }

  async #settleAll(writes: readonly SettlementWrite[]): Promise<undefined[]> {
    const keys: string[] = [];
    const args: string[] = [];
    for (const write of writes) {
      keys.push(`${this.#prefix}limits:settled:${write.holdUntilMinute}`);
      const groups = byScope(write.counters);
      for (const scopeKey of groups.scopeKeys) keys.push(this.#prefix + scopeKey);
      args.push(settlementArgument(write, groups));
    }
    await this.#run(settleScript, keys, args);
    return writes.map(() => undefined);
  }

  /** One script call (`seedScript`): each scope's counters set where its hash has none of them yet. */
  async seed(counters: readonly SeedCounter[]): Promise<void> {
    const byKey = new Map<string, Array<[string, number, number]>>();
    for (const counter of counters) {
      const key = this.#prefix + counter.scopeKey;
      let fields = byKey.get(key);
      if (fields === undefined) {
        fields = [];
        byKey.set(key, fields);
      }
      fields.push([counter.field, counter.used, counter.ttlMs ?? -1]);
    }
    if (byKey.size === 0) return;
    await this.#run(
      seedScript,
      [...byKey.keys()],
      [...byKey.values()].map((fields) => JSON.stringify(fields)),
    );
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }

  /** EVALSHA; a server that does not know the script (restarted, flushed) gets it loaded, then the call again. */
  async #run(script: LimitScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    try {
      return await this.#redis.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      // NOSCRIPT means the script did not run, so calling it again cannot count anything twice.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      await this.#redis.script('LOAD', script.lua);
      return await this.#redis.evalsha(script.sha, keys.length, ...keys, ...args);
    }
  }

  async #load(): Promise<void> {
    await Promise.all([admitScript, settleScript].map((script) => this.#redis.script('LOAD', script.lua)));
  }
}

/**
 * Calls asked for in one turn of the event loop, handed together to `send` on the next (`setImmediate`): each
 * caller's promise settles with its own result (`send` returns them in order), or with the error of the call
 * they shared.
 */
class TurnBatch<W, R> {
  readonly #send: (writes: readonly W[]) => Promise<readonly R[]>;
  #pending: Array<{ write: W; resolve: (result: R) => void; reject: (error: unknown) => void }> = [];

  constructor(send: (writes: readonly W[]) => Promise<readonly R[]>) {
    this.#send = send;
  }

  add(write: W): Promise<R> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ write, resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    let results: readonly R[];
    try {
      results = await this.#send(batch.map((entry) => entry.write));
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    for (const [index, entry] of batch.entries()) entry.resolve(results[index] as R);
  }
}

/**
 * Counters grouped by scope, as the scripts take them: the scopes' keys (unprefixed), the number of counters
 * of each and, only when the counters of a scope were not listed together, the order to send them in
 * (indexes into `counters`). The planner lists each scope's counters together, so that order is almost never
 * needed.
 */
interface ScopeGroups {
  readonly scopeKeys: readonly string[];
  readonly counts: readonly number[];
  readonly order: readonly number[] | undefined;
}

function byScope(counters: readonly CounterRef[]): ScopeGroups {
  const scopeKeys: string[] = [];
  const counts: number[] = [];
  for (const counter of counters) {
    const last = scopeKeys.length - 1;
    if (last >= 0 && scopeKeys[last] === counter.scopeKey) counts[last]!++;
    else if (scopeKeys.includes(counter.scopeKey)) return regrouped(counters);
    else {
      scopeKeys.push(counter.scopeKey);
      counts.push(1);
    }
  }
  return { scopeKeys, counts, order: undefined };
}

function regrouped(counters: readonly CounterRef[]): ScopeGroups {
  const indexes = new Map<string, number[]>();
  counters.forEach((counter, index) => {
    const list = indexes.get(counter.scopeKey);
    if (list === undefined) indexes.set(counter.scopeKey, [index]);
    else list.push(index);
  });
  const lists = [...indexes.values()];
  return { scopeKeys: [...indexes.keys()], counts: lists.map((list) => list.length), order: lists.flat() };
}

/**
 * One admission's argument, a JSON array (see `admitScript`): hold minute, time, number of scopes; per scope
 * its number of counters and its TTL (the longest of the counters it adds to, -1 when one of them never
 * expires, 0 when it adds to none); per counter its field, max, amount and `1` to hold. Fields are limit names
 * and window labels, which need no escaping.
 */
function admissionArgument(write: AdmissionWrite, groups: ScopeGroups): string {
  const counters = write.counters;
  const order = groups.order;
  let head = `[${write.holdUntilMinute},${write.nowMs},${groups.counts.length}`;
  let body = '';
  let index = 0;
  for (const count of groups.counts) {
    let ttl = 0;
    for (const end = index + count; index < end; index++) {
      const counter = counters[order === undefined ? index : order[index]!]!;
      body += `,"${counter.field}",${counter.max},${counter.amount},${counter.hold ? 1 : 0}`;
      if (counter.amount !== 0 && ttl >= 0) {
        ttl = counter.ttlMs === undefined ? -1 : Math.max(ttl, counter.ttlMs);
      }
    }
    head += `,${count},${ttl}`;
  }
  return `${head}${body}]`;
}

/**
 * One settlement's argument, a JSON array (see `settleScript`): hold minute, reservation id, how long to
 * remember it (ms), number of scopes, the number of counters of each; per counter its field, minus the amount
 * reserved and the amount used, as decimal strings (the script hands them to HINCRBY).
 */
function settlementArgument(write: SettlementWrite, groups: ScopeGroups): string {
  const counters = write.counters;
  const order = groups.order;
  let text = `[${write.holdUntilMinute},${JSON.stringify(write.reservationId)},${write.rememberMs},${groups.counts.length},${groups.counts.join(',')}`;
  for (let index = 0; index < counters.length; index++) {
    const counter = counters[order === undefined ? index : order[index]!]!;
    text += `,"${counter.field}","${counter.reserved === 0 ? 0 : -counter.reserved}","${counter.actual}"`;
  }
  return `${text}]`;
}

/**
 * One admission's part of the script's reply: `<1|0>|<used1>,<held1>,...` (see `admitScript`), in the order the
 * counters were sent (`order`, when not the write's).
 */
function admissionResult(
  part: unknown,
  counters: number,
  order: readonly number[] | undefined,
): AdmissionResult {
  const text = typeof part === 'string' ? part : '';
  const values = text.length > 2 && text[1] === '|' ? text.slice(2).split(',') : [];
  if ((text[0] !== '1' && text[0] !== '0') || values.length !== 2 * counters) {
    throw new Error(`unexpected reply from the admission script: ${JSON.stringify(text.slice(0, 200))}`);
  }
  const totals: CounterTotals[] = new Array(counters);
  for (let index = 0; index < counters; index++) {
    totals[order === undefined ? index : order[index]!] = {
      used: Number(values[2 * index]),
      held: Number(values[2 * index + 1]),
    };
  }
  return { admitted: text[0] === '1', totals };
}
