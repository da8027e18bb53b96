import { Redis } from 'ioredis';
import type {
  AdmissionResult,
  AdmissionWrite,
  CounterTotals,
  LimitStore,
  SettlementWrite,
} from '../../limits/limit-types.ts';
import { connected } from './breaker-store.ts';
import { admitScript, type LimitScript, settleScript } from './limit-scripts.ts';

/**
 * Rate-limit, token and budget counters shared by every replica on one Redis: one hash per limit, scope and
 * window, `<prefix>limits:<scope kind>:<scope id>:<limit>:<window>` (e.g.
 * `nexus:limits:key:k_1:rpm:20250131T2359`, `...:daily_usd:20250131`, `...:token_budget:total`) holding
 * `used` and `held:<minute>` fields, expiring with its window; the ids of settled reservations in sets
 * `<prefix>limits:settled:<minute>` (about 60 bytes per settled request, kept for the reservation TTL plus a
 * minute). One Lua script call for the admissions of one event-loop turn and one for its settlements
 * (`limit-scripts.ts`), each covering every scope in one call, called by EVALSHA and loaded on connect and
 * again whenever Redis answers NOSCRIPT (a restarted or flushed server).
 *
 * All keys of one admission are touched by one script, so on Redis Cluster they must share a slot: use a
 * hash tag as the prefix (`{nexus}:`). Windows come from the caller's clock: replicas keep theirs in sync
 * (NTP), or a skewed one counts near a boundary in the neighbouring window.
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
  constructor(url: string, options: { keyPrefix?: string; commandTimeoutMs?: number } = {}) {
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
    this.#redis.on('ready', () => {
      void this.#load().catch(() => {});
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
    for (const write of writes) {
      let values = '';
      for (const counter of write.counters) {
        keys.push(`${this.#prefix}${counter.scopeKey}:${counter.field}`);
        values += `${values === '' ? '' : ','}${counter.max},${counter.amount},${counter.hold ? 1 : 0},${counter.ttlMs ?? 0}`;
      }
      args.push(`held:${write.holdUntilMinute}|${write.counters.length}|${write.nowMs}|${values}`);
    }
    const reply = await this.#run(admitScript, keys, args);
    if (!Array.isArray(reply) || reply.length !== writes.length) {
      throw new Error(`unexpected reply from the admission script: ${JSON.stringify(reply).slice(0, 200)}`);
    }
    return writes.map((write, index) => admissionResult(reply[index], write.counters.length));
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
      for (const counter of write.counters) keys.push(`${this.#prefix}${counter.scopeKey}:${counter.field}`);
      args.push(
        `held:${write.holdUntilMinute}|${write.reservationId}|${write.rememberMs}|${write.counters.length}|${settlementValues(write)}`,
      );
    }
    await this.#run(settleScript, keys, args);
    return writes.map(() => undefined);
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

/** One admission's part of the script's reply: `<1|0>|<used1>,<held1>,...` (see `admitScript`). */
function admissionResult(part: unknown, counters: number): AdmissionResult {
  const text = typeof part === 'string' ? part : '';
  const values = text.length > 2 && text[1] === '|' ? text.slice(2).split(',') : [];
  if ((text[0] !== '1' && text[0] !== '0') || values.length !== 2 * counters) {
    throw new Error(`unexpected reply from the admission script: ${JSON.stringify(text.slice(0, 200))}`);
  }
  const totals: CounterTotals[] = new Array(counters);
  for (let index = 0; index < counters; index++) {
    totals[index] = { used: Number(values[2 * index]), held: Number(values[2 * index + 1]) };
  }
  return { admitted: text[0] === '1', totals };
}

/** Two values per counter, comma-separated: minus the amount reserved (or 0), the amount used. */
function settlementValues(write: SettlementWrite): string {
  let values = '';
  for (const counter of write.counters) {
    values += `${values === '' ? '' : ','}${counter.reserved === 0 ? 0 : -counter.reserved},${counter.actual}`;
  }
  return values;
}
