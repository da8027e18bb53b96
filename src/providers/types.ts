import type { ModelSpec, ProviderSpec } from '../catalog/types.ts';
import type { CallSignal } from '../core/call-signal.ts';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatRequest,
  EmbeddingsRequest,
  EmbeddingsResponse,
  Usage,
} from '../core/openai-types.ts';
import type { Warning } from '../core/warning.ts';

/**
 * The contract between the pipeline and a provider adapter. Adapters are pure converters plus one HTTP
 * exchange: canonical (OpenAI-shaped) request in, canonical response or chunk stream out. They never import
 * each other; anything three of them need lives in src/providers/shared/.
 */

/** One credential of one provider: the unit that routing, health and breakers will track. */
export interface ProviderInstance {
  /** Stable id, `<provider>#<n>`. */
  readonly id: string;
  /** Display name, `"Groq (Key #1)"`; also accepted as a model name that pins the instance. */
  readonly name: string;
  readonly provider: ProviderSpec;
  /** Base URL with any override applied, without a trailing slash. */
  readonly baseUrl: string;
  /** Never logged or echoed. */
  readonly apiKey: string | undefined;
  /** Provider API version from config (`providers.<id>.apiVersion`, `<ID>_API_VERSION`), when set. */
  readonly apiVersion: string | undefined;
  /** Extra headers from the catalogue quirks and config, already interpolated. */
  readonly headers: Readonly<Record<string, string>>;
}

/** What the router hands to an adapter: where to send and which model to ask for. */
export interface UpstreamTarget {
  readonly instance: ProviderInstance;
  /** The provider's own model id. */
  readonly model: string;
  /**
   * `<instance id>/<model>`: the unit a circuit breaker tracks (one key serving one model, LiteLLM's
   * "deployment"), so a model that fails on a key never blocks the key's other models.
   */
  readonly deployment: string;
  /** Catalogue entry, when the model is catalogued (prices, context window). */
  readonly modelSpec: ModelSpec | undefined;
}

export type { Warning };

export interface CallContext {
  readonly requestId: string;
  /** Aborted when the client goes away or the request deadline passes. */
  readonly signal: CallSignal;
  /** Adapters push what they dropped or changed; each attempt has its own list (its AttemptRecord's). */
  readonly warnings: Warning[];
  /** The attempt's W3C trace context (`traceparent`, `tracestate`) to send upstream, when tracing is on. */
  readonly traceHeaders?: Readonly<Record<string, string>> | undefined;
}

export interface ChatResult {
  readonly completion: ChatCompletion;
  /** The upstream body text when it is already a valid OpenAI reply; lets the edge skip re-serialising. */
  readonly raw: string | undefined;
}

export interface StreamEvent {
  /**
   * The chunk as an object. An adapter may compute it lazily from `raw` on first access (the OpenAI-compatible
   * reader does, for chunks that matched the template of a parsed one, see providers/shared/chunk-template.ts):
   * read it only where the chunk's content is needed, not to look for usage (see StreamBatch.usage). A lazy
   * getter may throw a NexusError (`stream_interrupted`) if `raw` turns out malformed; the template reader's
   * chunks are valid JSON by construction, so for them it does not.
   */
  readonly chunk: ChatCompletionChunk;
  /** The upstream `data:` text when it is already a valid OpenAI chunk. */
  readonly raw: string | undefined;
  /** Read for accounting but not sent to the client (the usage chunk a client did not ask for). */
  readonly hidden?: true;
}

/**
 * The events decoded from one upstream read. `complete` marks the batch that carried the protocol's end
 * marker (`data: [DONE]`): the answer is whole, so the edge may finish the client's stream with this batch
 * (one write instead of two) while the adapter reads the upstream body to its end. `usage` is set on the batch
 * that carried a chunk with token usage (the last one's, when there were several): accounting reads it there
 * instead of touching every event's chunk. Every producer of batches sets it (`batchOf` for events built
 * whole).
 */
export type StreamBatch = readonly StreamEvent[] & {
  readonly complete?: true;
  readonly usage?: Usage;
};

/** Marks `batch` as the one that completed the answer (see StreamBatch). */
export function markComplete(batch: StreamEvent[]): StreamBatch {
  return Object.assign(batch, { complete: true as const });
}

/** Attaches the usage of the batch's usage chunk (see StreamBatch). */
export function markUsage(batch: StreamEvent[], usage: Usage): StreamEvent[] & { readonly usage: Usage } {
  return Object.assign(batch, { usage });
}

/**
 * A batch of events whose chunks were built whole (translating adapters): attaches the usage of the last
 * chunk that carries one. Not for lazily parsed events, whose producer knows their usage from its scan.
 */
export function batchOf(events: StreamEvent[]): StreamEvent[] & { readonly usage?: Usage } {
  for (let index = events.length - 1; index >= 0; index--) {
    const usage = events[index]?.chunk.usage;
    if (usage != null) return markUsage(events, usage);
  }
  return events;
}

/**
 * Whether a chunk is the answer's first real event: content, a tool call, any other non-empty delta field, a
 * finish or usage (a role-only chunk is not). A stream is committed to the client only after one.
 */
export function isSubstantialChunk(chunk: ChatCompletionChunk): boolean {
  if (chunk.usage != null) return true;
  return chunk.choices.some(
    (choice) =>
      choice.finish_reason != null ||
      (typeof choice.delta.content === 'string' && choice.delta.content !== '') ||
      (choice.delta.tool_calls?.length ?? 0) > 0 ||
      Object.keys(choice.delta).some(
        (key) => key !== 'role' && key !== 'content' && choice.delta[key] != null,
      ),
  );
}

/**
 * A started stream: the upstream accepted the request (2xx and headers received). Each item holds the events
 * decoded from one upstream read, so the edge can write them in one syscall without delaying any of them.
 * Iteration throws a NexusError (`stream_interrupted`) when the upstream breaks, sends a malformed event or
 * ends before the answer is complete; it never ends quietly on a truncated answer.
 */
export type ChatStream = AsyncIterable<StreamBatch>;

export interface EmbeddingsResult {
  readonly response: EmbeddingsResponse;
  readonly raw: string | undefined;
}

/**
 * A request in Anthropic's Messages protocol, passed through untranslated to an upstream that speaks it
 * (`POST /v1/messages` and `/v1/messages/count_tokens` inbound, when the target is Anthropic).
 */
export interface NativeMessagesRequest {
  readonly endpoint: 'messages' | 'count_tokens';
  /** The client's JSON body as received (validated, not rewritten); the adapter replaces only `model`. */
  readonly body: Readonly<Record<string, unknown>>;
  /** The client's protocol headers to pass on, lower-case: `anthropic-version`, `anthropic-beta`. */
  readonly headers: Readonly<Record<string, string>>;
}

/** One upstream SSE event, to be forwarded as it arrived. */
export interface NativeEvent {
  /** The `event:` field; undefined when the upstream sent none. */
  readonly event: string | undefined;
  readonly data: string;
}

/**
 * The upstream's 2xx answer: its JSON body text, or its event stream in batches (one per upstream read). The
 * stream ends normally only after `message_stop`, or right after forwarding the upstream's own `error`
 * event; a cut or an early end throws `stream_interrupted` after yielding whatever arrived intact.
 */
export type NativeMessagesReply =
  | { readonly kind: 'json'; readonly body: string }
  | { readonly kind: 'events'; readonly events: AsyncIterable<readonly NativeEvent[]> };

export interface ProviderAdapter {
  chat(target: UpstreamTarget, request: ChatRequest, context: CallContext): Promise<ChatResult>;
  /** Resolves once the upstream has accepted the stream; rejects with a NexusError before any byte otherwise. */
  chatStream(target: UpstreamTarget, request: ChatRequest, context: CallContext): Promise<ChatStream>;
  /** Absent when the wire format has no embeddings endpoint. */
  embeddings?(
    target: UpstreamTarget,
    request: EmbeddingsRequest,
    context: CallContext,
  ): Promise<EmbeddingsResult>;
  /**
   * Present only on adapters whose upstream speaks Anthropic's Messages protocol: serves `/v1/messages`
   * without translation, so every Anthropic feature (cache_control, thinking, citations, server tools,
   * count_tokens) reaches it intact. Rejects with a NexusError before any byte on a non-2xx reply.
   */
  nativeMessages?(
    target: UpstreamTarget,
    request: NativeMessagesRequest,
    context: CallContext,
  ): Promise<NativeMessagesReply>;
}
