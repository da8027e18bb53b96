import { cacheKey, notCacheableReason, tenantPartition } from '../cache/cache-key.ts';
import { type CachePolicy, parseCachePolicy } from '../cache/cache-policy.ts';
import type {
  AnthropicMessageBody,
  CachedEntry,
  CacheKey,
  CacheKind,
  CacheStore,
  StreamFrames,
} from '../cache/cache-types.ts';
import type { Coalescer } from '../cache/coalescer.ts';
import type { SemanticMatcher, SharedPrompt } from '../cache/semantic/semantic-matcher.ts';
import { AnthropicStreamAccumulator } from '../cache/stream-accumulator.ts';
import { StreamFanout } from '../cache/stream-fanout.ts';
import type { Config } from '../config/schema.ts';
import { ClientClosedError } from '../core/call-signal.ts';
import { isNexusError } from '../core/errors.ts';
import type { StreamBatch } from '../providers/types.ts';
import { answerFromEntry, entryHeader, entryOf, wantsUsageChunk } from './cache-entries.ts';
import { FollowedStream, isUsageEvent, RecordingStream, usageShownAs } from './cache-streams.ts';
import type { Stage } from './compose.ts';
import type { GatewayRequest, MessagesBatch, Reply, ReplyStream } from './request.ts';
import { semanticPartition, semanticPrompt } from './semantic-prompt.ts';

/** The cache's parts, opened with the other state layers (services/open-services.ts). */
export interface CacheServices {
  readonly settings: Config['cache'];
  readonly store: CacheStore;
  /** Identical concurrent requests share one upstream call; absent when `cache.coalesce` is off. */
  readonly coalescer: Coalescer<Flight> | undefined;
  /** The semantic matcher (its embedder starts on first use), for the gateway, a route or a key opting in. */
  readonly semantic: SemanticMatcher;
  /** Shares remembered prompts with the other replicas (on Redis). */
  readonly semanticSync: SemanticSync | undefined;
  /** Closes the store, the sharing and the embedding thread (at shutdown). */
  close(): Promise<void>;
}

/** Where the replicas share the semantic cache's prompts (store/redis/semantic-store.ts). */
export interface SemanticSync {
  add(record: SharedPrompt): Promise<void>;
  clear(tenant: string): Promise<void>;
}

/**
 * What a request that led a coalesced flight leaves for the identical requests that waited on it: its stored
 * answer, its stream to follow from the start, or nothing to share (its answer could not be cached; each
 * waiting request then makes its own call).
 */
export type Flight =
  | { readonly kind: 'entry'; readonly entry: CachedEntry }
  | {
      readonly kind: 'stream';
      readonly fanout: StreamFanout<StreamBatch> | StreamFanout<MessagesBatch>;
      readonly provider: string;
      readonly model: string;
      /** What the leader's answer cost, once its stream is over. */
      readonly costUsd: () => number;
    }
  | { readonly kind: 'none' };

/** One request as the cache sees it. */
interface Lookup {
  readonly key: CacheKey;
  readonly kind: CacheKind;
  readonly policy: CachePolicy;
  /** Same key, same shape of answer: a stream follows a stream, JSON waits for JSON. */
  readonly flightKey: string;
  /** The semantic partition and prompt, when this request may use the semantic cache (and its vector, once embedded). */
  readonly semantic:
    | { readonly partition: string; readonly prompt: string; vector?: Float32Array | undefined }
    | undefined;
}

/**
 * The cache stage (SPEC §3.3), between deliver and meter: a request that may be cached is looked up by its
 * exact key (tenant partition + kind + model + canonical body: `cache/cache-key.ts`), then, when enabled, by
 * meaning (`cache/semantic/`). A hit is the reply, at no cost (`costUsd` 0, its original cost counted as a
 * saving), and nothing goes upstream. On a miss the request goes on to meter and dispatch, and its answer is
 * stored on the way out when it is complete and successful: a reply in one piece at once, a stream only after
 * it ended normally (a cut, failed or abandoned stream never is). Identical requests in flight at the same
 * time are coalesced: one leads, the others wait for its answer (JSON) or follow its stream from the first
 * byte, and count as hits. A follower is a client like any other: once the leader's stream has started, its
 * upstream call outlives the leader's own client while followers still read it. The store never fails a
 * request: an unreachable Redis is a miss.
 */
export function createCacheStage(tenancy: {
  /** Opened with the other state layers (`TenancyServices`), absent until then. */
  readonly cache: CacheServices | undefined;
}): Stage<GatewayRequest> {
  return async function cache(request, next) {
    const services = tenancy.cache;
    const lookup = services === undefined ? undefined : lookupOf(request, services);
    if (services === undefined || lookup === undefined) return next();
    const { policy } = lookup;
    if (!policy.read) {
      request.cacheResult = 'BYPASS';
      await next();
      if (policy.write) remember(request, services, lookup);
      return;
    }
    request.cacheResult = 'MISS';
    const entry = await services.store.get(lookup.key);
    if (entry !== undefined && answerFromEntry(request, entry, 'HIT')) return;
    const semantic = lookup.semantic === undefined ? undefined : await semanticHit(services, lookup);
    if (
      semantic !== undefined &&
      answerFromEntry(request, semantic.entry, 'HIT-SEMANTIC', semantic.similarity)
    ) {
      return;
    }
    const coalescer = services.coalescer;
    if (coalescer === undefined) {
      await next();
      remember(request, services, lookup);
      return;
    }
    const flight = await coalescer.run(lookup.flightKey, () => lead(request, next, services, lookup), {
      signal: request.signal,
    });
    if (flight.role === 'leader') return;
    if (!follow(request, flight.value)) {
      await next();
      remember(request, services, lookup);
    }
  };
}

const noCacheOptions = {};

/** The request's key, policy and partitions, or undefined when it is not one the cache answers. */
function lookupOf(request: GatewayRequest, services: CacheServices): Lookup | undefined {
  const { operation, principal } = request;
  if (operation === undefined || principal === undefined) return undefined;
  const settings = services.settings;
  // A key's own policy wins over its route's, which wins over the gateway's; with the cache off for the
  // request, it is not in play at all.
  const policyOf =
    (principal.kind === 'key' ? principal.key.cache : undefined) ?? settings.routes[request.path];
  if (policyOf === undefined ? !settings.enabled : policyOf === 'off') return undefined;
  const kind: CacheKind = operation.kind;
  const body = operation.body as Readonly<Record<string, unknown>>;
  const endpoint = operation.kind === 'messages' ? operation.endpoint : undefined;
  if (notCacheableReason(kind, body, endpoint) !== undefined) return undefined;
  const { value: policy, warnings } = parseCachePolicy(
    (operation.kind === 'messages' ? undefined : operation.cacheOptions) ?? noCacheOptions,
    request.headers,
    { enabled: true, ttlSeconds: settings.ttlSeconds },
  );
  for (const warning of warnings) request.warnings.push(warning);
  if (!policy.read && !policy.write) {
    request.cacheResult = 'BYPASS';
    return undefined;
  }
  const model = operation.kind === 'messages' ? operation.request.model : operation.body.model;
  const tenant = tenantPartition(
    principal.kind === 'key'
      ? { kind: 'key', orgId: principal.key.orgId, projectId: principal.key.projectId }
      : principal,
  );
  const key = cacheKey({ tenant, kind, model, body });
  const semanticOn = policyOf === 'semantic' || (policyOf === undefined && settings.semantic.enabled);
  const prompt = semanticOn ? semanticPrompt(operation, settings.semantic) : undefined;
  return {
    key,
    kind,
    policy,
    flightKey: `${key.tenant}\u0000${key.digest}\u0000${request.streamed ? 'stream' : 'json'}`,
    semantic:
      prompt === undefined
        ? undefined
        : {
            partition: semanticPartition(tenant, kind, model, operation, settings.semantic.embedder),
            prompt,
          },
  };
}

/** The stored answer of the nearest earlier prompt of the same partition, when the matcher accepts it. */
async function semanticHit(
  services: CacheServices,
  lookup: Lookup,
): Promise<{ entry: CachedEntry; similarity: number } | undefined> {
  const matcher = services.semantic;
  const semantic = lookup.semantic;
  if (semantic === undefined) return undefined;
  let found: Awaited<ReturnType<SemanticMatcher['lookup']>>;
  try {
    found = await matcher.lookup(semantic.partition, semantic.prompt);
  } catch {
    // The embedder failed (it could not load, say): a miss, never a failed request.
    return undefined;
  }
  const hit = found.hit;
  semantic.vector = found.vector;
  if (hit === undefined) return undefined;
  const entry = await services.store.get({ tenant: lookup.key.tenant, digest: hit.id });
  if (entry === undefined || entry.kind !== lookup.kind) {
    // Its answer expired or was purged: the prompt goes too.
    matcher.forget(semantic.partition, hit.id);
    return undefined;
  }
  return { entry, similarity: hit.similarity };
}

/**
 * Runs the request as the flight's leader and says what the requests waiting on it may share. A stream's
 * fanout exists before the upstream call, which runs under its `upstreamSignal`: the leader's client leaving
 * then cancels the call only when no follower is left reading.
 */
async function lead(
  request: GatewayRequest,
  next: () => Promise<void>,
  services: CacheServices,
  lookup: Lookup,
): Promise<Flight> {
  const fanout = request.streamed ? fanoutFor(request) : undefined;
  if (fanout !== undefined) request.upstreamSignal = fanout.upstreamSignal(request.signal);
  try {
    await next();
  } catch (error) {
    fanout?.fail(error);
    throw error;
  }
  const reply = request.reply;
  if (reply?.kind === 'chat-stream' || reply?.kind === 'messages-stream') {
    const recorded = recordStream(request, reply, services, lookup, fanout);
    const target = request.target;
    if (recorded === undefined || target === undefined) return { kind: 'none' };
    return {
      kind: 'stream',
      fanout: recorded,
      provider: target.instance.name,
      model: target.model,
      costUsd: () => request.costUsd ?? 0,
    };
  }
  fanout?.end();
  if (reply === undefined) return { kind: 'none' };
  const entry = entryOf(request, lookup.key.tenant);
  if (entry === undefined) return { kind: 'none' };
  if (lookup.policy.write) store(services, lookup, entry);
  return { kind: 'entry', entry };
}

/** A fanout of the batches the request's stream will carry. */
function fanoutFor(request: GatewayRequest): StreamFanout<StreamBatch> | StreamFanout<MessagesBatch> {
  return request.operation?.kind === 'chat'
    ? new StreamFanout<StreamBatch>()
    : new StreamFanout<MessagesBatch>();
}

/**
 * A waiting request takes the leader's answer: its stored answer as a hit, or its stream from the first
 * batch. False when there is nothing to share (or the stream can no longer be joined from its start).
 */
function follow(request: GatewayRequest, flight: Flight): boolean {
  if (flight.kind === 'none') return false;
  if (flight.kind === 'entry') return answerFromEntry(request, flight.entry, 'HIT');
  const subscription = flight.fanout.subscribe(request.signal);
  if (subscription === undefined) return false;
  const wantsUsage = wantsUsageChunk(request.operation);
  const hit = { provider: flight.provider, model: flight.model, savingsUsd: 0 };
  request.cacheResult = 'HIT';
  request.cacheHit = hit;
  request.costUsd = 0;
  const stream = new FollowedStream<StreamBatch | MessagesBatch>(
    subscription as AsyncIterator<StreamBatch | MessagesBatch>,
    (batch) => (request.operation?.kind === 'chat' ? usageShownAs(batch as StreamBatch, wantsUsage) : batch),
  );
  // The leader's cost is known once its stream is over, which is before a follower's ends.
  stream.onEnd(() => {
    request.cacheHit = { ...hit, savingsUsd: flight.costUsd() };
  });
  request.reply =
    request.operation?.kind === 'chat'
      ? { kind: 'chat-stream', stream: stream as ReplyStream<StreamBatch> }
      : { kind: 'messages-stream', stream: stream as ReplyStream<MessagesBatch> };
  return true;
}

/** Stores the request's answer on the way out (a stream once it has ended normally). */
function remember(request: GatewayRequest, services: CacheServices, lookup: Lookup): void {
  const reply = request.reply;
  if (reply === undefined) return;
  if (reply.kind === 'chat-stream' || reply.kind === 'messages-stream') {
    recordStream(request, reply, services, lookup, undefined);
    return;
  }
  const entry = entryOf(request, lookup.key.tenant);
  if (entry !== undefined) store(services, lookup, entry);
}

/** Stores an entry (and its prompt for the semantic cache) without holding the reply up. */
function store(services: CacheServices, lookup: Lookup, entry: CachedEntry): void {
  void services.store.set(lookup.key, entry, lookup.policy.ttlSeconds);
  if (lookup.semantic !== undefined) void rememberPrompt(services, lookup);
}

/** The semantic matcher learns the prompt (embedded once), and the other replicas with it. */
async function rememberPrompt(services: CacheServices, lookup: Lookup): Promise<void> {
  const matcher = services.semantic;
  const semantic = lookup.semantic;
  if (semantic === undefined) return;
  try {
    const vector = semantic.vector ?? (await matcher.vectorOf(semantic.prompt));
    if (vector === undefined) return;
    const { partition, prompt } = semantic;
    await matcher.remember(partition, lookup.key.digest, prompt, vector);
    await services.semanticSync?.add({
      tenant: lookup.key.tenant,
      partition,
      id: lookup.key.digest,
      text: prompt,
      vector,
      expiresAt: Date.now() + lookup.policy.ttlSeconds * 1000,
    });
  } catch {
    // Not remembered: a later paraphrase is a miss, nothing worse.
  }
}

/**
 * Puts a recorder on the request's stream: every batch goes to the client as before (and, for a flight's
 * leader, to the requests following it through `fanout`, made by `fanoutFor` for this very request); when the
 * stream has ended normally and the accumulated answer is whole, it is stored. Returns the fanout.
 */
function recordStream(
  request: GatewayRequest,
  reply: Extract<Reply, { kind: 'chat-stream' | 'messages-stream' }>,
  services: CacheServices,
  lookup: Lookup,
  shared: StreamFanout<StreamBatch> | StreamFanout<MessagesBatch> | undefined,
): StreamFanout<StreamBatch> | StreamFanout<MessagesBatch> | undefined {
  const save = (answer: { body: AnthropicMessageBody } | { frames: StreamFrames } | undefined) => {
    const common = entryHeader(request, lookup.key.tenant);
    if (!lookup.policy.write || answer === undefined || common === undefined) return;
    store(
      services,
      lookup,
      'frames' in answer
        ? { ...common, kind: 'chat', frames: answer.frames }
        : { ...common, kind: 'messages', body: answer.body },
    );
  };
  if (reply.kind === 'chat-stream') {
    // The chunks' own text, not parsed: the usage chunk (hidden or not) apart, every other one in order.
    const fanout = shared as StreamFanout<StreamBatch> | undefined;
    const chunks: string[] = [];
    let usage: string | null = null;
    const recorder = new RecordingStream<StreamBatch>(reply.stream, fanout, (batch) => {
      if (!lookup.policy.write) return;
      for (const event of batch) {
        const text = event.raw ?? JSON.stringify(event.chunk);
        if (batch.usage !== undefined && isUsageEvent(event)) usage = text;
        else if (event.hidden !== true) chunks.push(text);
      }
    });
    recorder.onComplete(() => save(chunks.length === 0 ? undefined : { frames: { chunks, usage } }));
    request.reply = { kind: 'chat-stream', stream: recorder };
    return fanout;
  }
  const fanout = shared as StreamFanout<MessagesBatch> | undefined;
  const accumulator = lookup.policy.write ? new AnthropicStreamAccumulator() : undefined;
  const recorder = new RecordingStream<MessagesBatch>(reply.stream, fanout, (batch) => {
    if (accumulator === undefined) return;
    for (const event of batch) accumulator.add(JSON.parse(event.data) as { type: string });
  });
  recorder.onComplete(() => {
    const body = accumulator?.result();
    save(body === undefined ? undefined : { body });
  });
  request.reply = { kind: 'messages-stream', stream: recorder };
  return fanout;
}

/** A stream flight stays joinable while the leader's stream runs; an answer in one piece is stored by then. */
export function keepFlight(flight: Flight): Promise<unknown> {
  return flight.kind === 'stream' ? flight.fanout.done : Promise.resolve();
}

/** The leader's own client left before its answer could be shared: its followers run again, never get it. */
export function leaderLeft(error: unknown): boolean {
  return error instanceof ClientClosedError;
}

/** A failure every identical request would meet too (its body is refused): followers get it at once. */
export function sharedFailure(error: unknown): boolean {
  return (
    isNexusError(error) &&
    error.status >= 400 &&
    error.status < 500 &&
    error.status !== 408 &&
    error.status !== 429
  );
}
