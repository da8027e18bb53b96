import type { CallSignal } from '../core/call-signal.ts';
import type { ChatRequest, EmbeddingsRequest, Usage } from '../core/openai-types.ts';
import type { Warning } from '../core/warning.ts';
import type { Headroom } from '../limits/limit-decision.ts';
import type { LimitName } from '../limits/limit-types.ts';
import type { RequestTrace } from '../observability/tracing.ts';
import type { AnthropicMessage } from '../protocols/anthropic/canonical-to-response.ts';
import type { CountTokensRequest, MessagesRequest } from '../protocols/anthropic/validate.ts';
import type {
  ChatResult,
  EmbeddingsResult,
  NativeEvent,
  StreamBatch,
  UpstreamTarget,
} from '../providers/types.ts';
import type { AttemptRecord } from '../resilience/attempt-record.ts';
import type { RoutePlan } from '../resilience/route-plan.ts';
import type { RoutingMode } from '../resilience/routing.ts';
import type { KeyPrincipal } from '../tenancy/key-directory.ts';

/** Request headers, lower-case names (node's `IncomingHttpHeaders` fits). */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * Who is asking, set by the identify stage: the operator's master key; a tenant key (`nk-…`, with its org,
 * project and the limits that bound it); or nobody in particular on a gateway without a master key (which then
 * serves loopback only).
 */
export type Principal =
  | { readonly kind: 'master' }
  | { readonly kind: 'open' }
  | { readonly kind: 'key'; readonly key: KeyPrincipal };

/**
 * What the client asked for, in canonical form, set by the route's parse stage. `messages` keeps the client's
 * own Anthropic body so that an Anthropic target receives it untranslated; any other target gets it converted.
 */
export type Operation =
  | { readonly kind: 'chat'; readonly body: ChatRequest; readonly cacheOptions?: CacheOptions | undefined }
  | {
      readonly kind: 'embeddings';
      readonly body: EmbeddingsRequest;
      readonly cacheOptions?: CacheOptions | undefined;
    }
  | {
      readonly kind: 'messages';
      readonly endpoint: 'messages' | 'count_tokens';
      readonly request: MessagesRequest | CountTokensRequest;
      /** The client's JSON body as received (validated, not rewritten). */
      readonly body: Readonly<Record<string, unknown>>;
      /** The client's protocol headers to pass on (`anthropic-version`, `anthropic-beta`), lower-case. */
      readonly headers: Readonly<Record<string, string>>;
    };

/** A route's own body fields for the cache (seed 004's `cache` and `cacheTtl`), apart from the canonical body. */
export interface CacheOptions {
  readonly cache?: boolean | undefined;
  readonly cacheTtl?: number | undefined;
}

/** Anthropic events of one upstream read (native, or translated from a canonical stream), with their usage. */
export type MessagesBatch = readonly NativeEvent[] & { readonly usage?: Usage | undefined };

/**
 * A streamed reply as the deliver stage reads it: the committed upstream stream (`CommittedStream`), a cached
 * answer replayed, or another request's stream followed (the cache stage's). `onEnd` runs its callback once,
 * when the stream is over however it ended.
 */
export interface ReplyStream<B> extends AsyncIterable<B> {
  onEnd(callback: () => void): void;
}

/** What dispatch (or the cache) produced, written by the route's deliver stage. */
export type Reply =
  | { readonly kind: 'chat'; readonly result: ChatResult }
  | { readonly kind: 'chat-stream'; readonly stream: ReplyStream<StreamBatch> }
  | { readonly kind: 'embeddings'; readonly result: EmbeddingsResult }
  /** An Anthropic message: the upstream's own JSON text (pass-through), or one translated from canonical. */
  | { readonly kind: 'messages'; readonly body: string | AnthropicMessage }
  | { readonly kind: 'messages-stream'; readonly stream: ReplyStream<MessagesBatch> };

/** The exact or semantic cache's verdict on a request (`x-nexus-cache`, the usage ledger). */
export type CacheResult = 'HIT' | 'HIT-SEMANTIC' | 'MISS' | 'BYPASS';

/** The admit stage's decision on a tenant key's request (for metrics): refused by which limit, if any. */
export interface Admission {
  readonly decision: 'admitted' | 'rate_limited' | 'insufficient_quota' | 'unavailable';
  readonly limit: LimitName | 'none';
}

/** A request answered from the cache: what served the stored answer, and what the hit saved. */
export interface CacheHit {
  /** The instance and model that produced the stored answer. */
  readonly provider: string;
  readonly model: string;
  /** What the stored answer cost when it was made, USD: the hit costs nothing, this is its saving. */
  readonly savingsUsd: number;
  /** Cosine similarity of the matched prompt, for a semantic hit. */
  readonly similarity?: number | undefined;
}

export interface GatewayRequestInit {
  readonly id: string;
  /** `performance.now()` when the request arrived. */
  readonly receivedAt: number;
  readonly method: string;
  readonly path: string;
  readonly headers: RequestHeaders;
  readonly signal: CallSignal;
}

/**
 * The one request object: created by the edge's receive stage, then filled in by each stage of the chain in
 * order (docs/architecture.md lists who writes and who reads each field). Every field exists from the start,
 * so its shape never changes on the hot path.
 */
export class GatewayRequest {
  /** `x-request-id`, echoed when well-formed, else generated. */
  readonly id: string;
  readonly receivedAt: number;
  readonly method: string;
  readonly path: string;
  readonly headers: RequestHeaders;
  /** Aborted when the client disconnects or the request deadline passes. */
  readonly signal: CallSignal;
  /**
   * What dispatch runs the upstream call under: `signal`, or, for the leader of a coalesced stream (the cache
   * stage), one that outlives the client while requests following that stream still read it.
   */
  upstreamSignal: CallSignal;
  /** receive (the edge), when tracing is on: the request's span, parent of its stages' and attempts' spans. */
  trace: RequestTrace | undefined = undefined;
  /** identify */
  principal: Principal | undefined = undefined;
  /** parse (the route's protocol) */
  operation: Operation | undefined = undefined;
  /** plan: the model names the client asked for (its model, then its own fallbacks), for a key's `models` list. */
  requestedModels: readonly string[] = [];
  /** admit: the tightest limit of the key's scopes after this request, for `X-RateLimit-*`. */
  rateLimit: Headroom | undefined = undefined;
  /** admit: its decision on a tenant key's request, and the limit that refused it (`none` when admitted). */
  admission: Admission | undefined = undefined;
  /** plan: `X-Routing-Mode`, when valid */
  routingMode: RoutingMode | undefined = undefined;
  /** plan */
  plan: RoutePlan | undefined = undefined;
  /** dispatch: one record per upstream attempt, in order (retries, failover, hedges, continuations). */
  readonly attempts: AttemptRecord[] = [];
  /** dispatch: the attempt whose answer the client receives (the resumed one after a continuation). */
  served: AttemptRecord | undefined = undefined;
  /** dispatch */
  reply: Reply | undefined = undefined;
  /** Milliseconds spent waiting on upstreams until the reply was ready (for streams: until the first token). */
  upstreamMs = 0;
  /** The request's own notes (an unknown routing mode, an untranslatable header); attempts keep theirs. */
  readonly warnings: Warning[] = [];
  /** meter: the sum of the priced attempts, USD; undefined while none could be priced. */
  costUsd: number | undefined = undefined;
  /** cache: its verdict, when the request was one the cache could answer. */
  cacheResult: CacheResult | undefined = undefined;
  /** cache: set when the reply came from the cache (no upstream attempt was made for it). */
  cacheHit: CacheHit | undefined = undefined;
  /** The catalogue code of a failure, also of a stream that broke after it started (its status stays 200). */
  errorCode: string | undefined = undefined;
  #status = 200;

  constructor(init: GatewayRequestInit) {
    this.id = init.id;
    this.receivedAt = init.receivedAt;
    this.method = init.method;
    this.path = init.path;
    this.headers = init.headers;
    this.signal = init.signal;
    this.upstreamSignal = init.signal;
  }

  /** The HTTP status answered (the edge reads it off its response). */
  get status(): number {
    return this.#status;
  }

  set status(value: number) {
    this.#status = value;
  }

  /** The target that serves the reply, once dispatch has one. */
  get target(): UpstreamTarget | undefined {
    return this.served?.target;
  }

  /** Whether the client asked for a stream. */
  get streamed(): boolean {
    const operation = this.operation;
    if (operation === undefined || operation.kind === 'embeddings') return false;
    return operation.body.stream === true;
  }

  /** Warnings the reply reports: the request's own, then the serving attempt's. */
  replyWarnings(): readonly Warning[] {
    const served = this.served?.warnings;
    if (served === undefined || served.length === 0) return this.warnings;
    if (this.warnings.length === 0) return served;
    return [...this.warnings, ...served];
  }
}
