import type { ModelSpec, ProviderSpec } from '../catalog/types.ts';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatRequest,
  EmbeddingsRequest,
  EmbeddingsResponse,
} from '../core/openai-types.ts';

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
  /** Catalogue entry, when the model is catalogued (prices, context window). */
  readonly modelSpec: ModelSpec | undefined;
}

/** A parameter that could not be passed on as given; reported in `x-nexus-warnings` and the request log. */
export interface Warning {
  readonly param: string;
  readonly message: string;
}

export interface CallContext {
  readonly requestId: string;
  /** Aborted when the client goes away or the request deadline passes. */
  readonly signal: AbortSignal;
  /** Adapters push what they dropped or changed. */
  readonly warnings: Warning[];
}

export interface ChatResult {
  readonly completion: ChatCompletion;
  /** The upstream body text when it is already a valid OpenAI reply; lets the edge skip re-serialising. */
  readonly raw: string | undefined;
}

export interface StreamEvent {
  readonly chunk: ChatCompletionChunk;
  /** The upstream `data:` text when it is already a valid OpenAI chunk. */
  readonly raw: string | undefined;
  /** Read for accounting but not sent to the client (the usage chunk a client did not ask for). */
  readonly hidden?: true;
}

/**
 * A started stream: the upstream accepted the request (2xx and headers received). Each item holds the events
 * decoded from one upstream read, so the edge can write them in one syscall without delaying any of them.
 * Iteration throws a NexusError (`stream_interrupted`) when the upstream breaks, sends a malformed event or
 * ends before the answer is complete; it never ends quietly on a truncated answer.
 */
export type ChatStream = AsyncIterable<readonly StreamEvent[]>;

export interface EmbeddingsResult {
  readonly response: EmbeddingsResponse;
  readonly raw: string | undefined;
}

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
}
