/**
 * Distributed tracing as the gateway sees it: one span per request, one per stage that does I/O, one per
 * upstream attempt. The OpenTelemetry implementation (`otel-tracing.ts`) is imported only when an OTLP
 * endpoint is configured (`startTracing`), so a gateway without one never loads the SDK; the request path then
 * holds `undefined` where a trace would be and pays one null check per span site.
 *
 * The shapes below are structural on purpose: the gateway's own request and attempt records satisfy them, so
 * ending a span passes the record itself, and this folder imports nothing of the pipeline or resilience layer.
 */
export interface Tracing {
  /** The SERVER span of one request, under the client's `traceparent` when it sent a valid one. */
  startRequest(start: RequestSpanStart): RequestTrace;
  /** Exports the spans still buffered and stops; at shutdown, after the last request ended. */
  shutdown(): Promise<void>;
}

export interface RequestSpanStart {
  readonly method: string;
  readonly path: string;
  /** The route's pattern, `/v1/admin/orgs/:id`: the span's name, low in cardinality. */
  readonly route: string;
  readonly requestId: string;
  /** The client's headers, lower-case; `traceparent` and `tracestate` are read. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** What the request span records when the request is over (the gateway's request object fits). */
export interface RequestSpanEnd {
  readonly status: number;
  /** The catalogue code of a failure, also of a stream that broke after it started. */
  readonly errorCode: string | undefined;
  /** The model names the client asked for, its own first. */
  readonly requestedModels: readonly string[];
  readonly cacheResult: string | undefined;
}

/** One request's trace: its ids (for the access log), and the spans of its stages and attempts. */
export interface RequestTrace {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** The request span's id, 16 lower-case hex digits. */
  readonly spanId: string;
  /** A child span for one stage's own work; the `dispatch` stage's span is the parent of the attempts. */
  startStage(name: string): StageSpan;
  /** A CLIENT span for one upstream attempt, child of the dispatch span (of the request's before there is one). */
  startAttempt(start: AttemptSpanStart): AttemptSpan;
  end(end: RequestSpanEnd): void;
}

/** A stage that failed by itself: its catalogue code and HTTP status (500 for a bug). */
export interface StageFailure {
  readonly code: string;
  readonly status: number;
}

export interface StageSpan {
  end(failure?: StageFailure): void;
}

export interface AttemptSpanStart {
  /** GenAI operation: `chat`, `embeddings`, or `count_tokens`. */
  readonly operation: string;
  /** The catalogue's provider id, `openai`. */
  readonly provider: string;
  /** The instance's display name, `"Groq (Key #1)"`. */
  readonly instance: string;
  /** The instance's base URL, for `server.address` and `server.port`. */
  readonly baseUrl: string;
  /** The model asked of the upstream. */
  readonly model: string;
  /** 1 for the request's first attempt. */
  readonly attempt: number;
  readonly maxTokens: number | undefined;
  readonly temperature: number | undefined;
  readonly topP: number | undefined;
  readonly stream: boolean;
}

/** What an attempt span records at the attempt's verdict (the attempt's record fits). */
export interface AttemptSpanEnd {
  readonly outcome: string;
  readonly errorCode: string | undefined;
  readonly usage:
    | {
        readonly prompt_tokens: number;
        readonly completion_tokens: number;
        readonly prompt_tokens_details?: { readonly cached_tokens?: number | undefined } | null | undefined;
      }
    | undefined;
  readonly responseModel: string | undefined;
  readonly hedge: boolean;
  readonly continuation: boolean;
  readonly lastResort: boolean;
}

export interface AttemptSpan {
  /** The W3C trace context to send upstream with this attempt (`traceparent`, `tracestate`): it is the parent. */
  readonly headers: Readonly<Record<string, string>>;
  end(end: AttemptSpanEnd): void;
}

/**
 * The OpenTelemetry settings Nexus reads from its environment (process.env in production); the exporter and
 * the SDK read the rest themselves (`OTEL_EXPORTER_OTLP_TIMEOUT`, `_COMPRESSION`, `_CERTIFICATE`,
 * `OTEL_BSP_MAX_QUEUE_SIZE`, span limits).
 */
export interface TracingSettings {
  /** Where spans are POSTed: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`. */
  readonly url: string;
  /** `OTEL_EXPORTER_OTLP_HEADERS` then `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, as written (`k=v,k2=v2`). */
  readonly headers: readonly string[];
  readonly serviceName: string | undefined;
  /** `OTEL_RESOURCE_ATTRIBUTES`, as written. */
  readonly resourceAttributes: string | undefined;
  readonly sampler: string | undefined;
  readonly samplerArg: string | undefined;
  /** `OTEL_BSP_SCHEDULE_DELAY`, milliseconds between exports. */
  readonly scheduleDelayMs: number | undefined;
}

/** What the tracing implementation needs of the gateway besides its settings. */
export interface TracingOptions {
  readonly serviceVersion: string;
  /** Where the SDK's own complaints go (an export that failed, a bad sampler name). */
  readonly warn: (message: string) => void;
}
