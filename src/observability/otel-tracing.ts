import {
  type Attributes,
  type Context,
  DiagLogLevel,
  defaultTextMapGetter,
  defaultTextMapSetter,
  diag,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import {
  parseKeyPairsIntoRecord,
  setGlobalErrorHandler,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';
import type {
  AttemptSpan,
  AttemptSpanEnd,
  AttemptSpanStart,
  RequestSpanEnd,
  RequestSpanStart,
  RequestTrace,
  StageFailure,
  StageSpan,
  Tracing,
  TracingOptions,
  TracingSettings,
} from './tracing-types.ts';

/**
 * The GenAI semantic conventions' names. They are experimental (and have moved out of
 * `@opentelemetry/semantic-conventions` into their own repository), so they are written here as strings, as
 * that package advises for unstable names, rather than imported from its megabyte-sized incubating entry.
 * `gen_ai.system` is the older name of `gen_ai.provider.name`; both are set, for backends of either age.
 */
const genAi = {
  operation: 'gen_ai.operation.name',
  system: 'gen_ai.system',
  providerName: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  maxTokens: 'gen_ai.request.max_tokens',
  temperature: 'gen_ai.request.temperature',
  topP: 'gen_ai.request.top_p',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  cacheReadTokens: 'gen_ai.usage.cache_read.input_tokens',
} as const;

/** Nexus's own attributes. */
const nexus = {
  requestId: 'nexus.request_id',
  errorCode: 'nexus.error_code',
  cache: 'nexus.cache',
  attempt: 'nexus.attempt',
  instance: 'nexus.instance',
  outcome: 'nexus.attempt.outcome',
  hedge: 'nexus.attempt.hedge',
  continuation: 'nexus.attempt.continuation',
  lastResort: 'nexus.attempt.last_resort',
  stream: 'nexus.stream',
} as const;

/** `gen_ai.provider.name` where the conventions name a provider differently from the catalogue's id. */
const wellKnownProviderNames: Readonly<Record<string, string>> = {
  azure: 'azure.ai.openai',
  gemini: 'gcp.gemini',
  mistral: 'mistral_ai',
  xai: 'x_ai',
};

const propagator = new W3CTraceContextPropagator();

/**
 * OpenTelemetry tracing: a BasicTracerProvider with a BatchSpanProcessor and the OTLP/HTTP (JSON) exporter.
 * No context manager and no global registration: spans are parented explicitly through the request's trace,
 * so nothing patches node:http or tracks async context on the hot path, and no library in the process
 * starts spans of its own.
 */
export function createOtelTracing(settings: TracingSettings, options: TracingOptions): Tracing {
  routeDiagnostics(options.warn);
  const resourceAttributes = parseKeyPairsIntoRecord(settings.resourceAttributes);
  const resource = defaultResource().merge(
    resourceFromAttributes({
      ...resourceAttributes,
      [ATTR_SERVICE_NAME]: settings.serviceName ?? resourceAttributes[ATTR_SERVICE_NAME] ?? 'nexus',
      [ATTR_SERVICE_VERSION]: resourceAttributes[ATTR_SERVICE_VERSION] ?? options.serviceVersion,
    }),
  );
  const exporter = new OTLPTraceExporter({
    url: settings.url,
    headers: Object.assign({}, ...settings.headers.map((text) => parseKeyPairsIntoRecord(text))),
  });
  const processor = new BatchSpanProcessor(
    exporter,
    settings.scheduleDelayMs === undefined ? {} : { scheduledDelayMillis: settings.scheduleDelayMs },
  );
  const provider = new BasicTracerProvider({
    resource,
    sampler: samplerOf(settings, options.warn),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('nexus', options.serviceVersion);
  return {
    startRequest: (start) => new OtelRequestTrace(tracer, start),
    // The last export's failure is the shutdown's (an export on the timer reports through the diagnostics).
    shutdown: () =>
      provider.shutdown().catch((error: unknown) => {
        options.warn(`the last spans could not be exported: ${messageOf(error)}`);
      }),
  };
}

let diagnostics: ((message: string) => void) | undefined;

/**
 * The SDK's own warnings and errors (a failed export, a bad setting) go to the gateway's log. OpenTelemetry's
 * diagnostic logger is one per process and complains when replaced, so it is set once and forwards to the
 * latest gateway's log (there is one per process, except in tests).
 */
function routeDiagnostics(warn: (message: string) => void): void {
  if (diagnostics === undefined) {
    const complain = (message: string, ...args: unknown[]) =>
      diagnostics?.([message, ...args.map(String)].join(' '));
    const quiet = () => {};
    diag.setLogger(
      { error: complain, warn: complain, info: quiet, debug: quiet, verbose: quiet },
      DiagLogLevel.WARN,
    );
    // A failed export on the timer lands here; the SDK's default prints the whole error as JSON.
    setGlobalErrorHandler((error) => diagnostics?.(`spans could not be exported: ${messageOf(error)}`));
  }
  diagnostics = warn;
}

class OtelRequestTrace implements RequestTrace {
  readonly traceId: string;
  readonly spanId: string;
  readonly #tracer: Tracer;
  readonly #span: Span;
  readonly #context: Context;
  #attemptParent: Context;

  constructor(tracer: Tracer, start: RequestSpanStart) {
    this.#tracer = tracer;
    const parent = propagator.extract(ROOT_CONTEXT, start.headers, defaultTextMapGetter);
    this.#span = tracer.startSpan(
      `${start.method} ${start.route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: start.method,
          [ATTR_URL_PATH]: start.path,
          [ATTR_URL_SCHEME]: 'http',
          [ATTR_HTTP_ROUTE]: start.route,
          [nexus.requestId]: start.requestId,
        },
      },
      parent,
    );
    const ids = this.#span.spanContext();
    this.traceId = ids.traceId;
    this.spanId = ids.spanId;
    this.#context = trace.setSpan(ROOT_CONTEXT, this.#span);
    this.#attemptParent = this.#context;
  }

  startStage(name: string): StageSpan {
    const span = this.#tracer.startSpan(name, { kind: SpanKind.INTERNAL }, this.#context);
    if (name === 'dispatch') this.#attemptParent = trace.setSpan(ROOT_CONTEXT, span);
    return new OtelStageSpan(span);
  }

  startAttempt(start: AttemptSpanStart): AttemptSpan {
    return new OtelAttemptSpan(this.#tracer, this.#attemptParent, start);
  }

  end(end: RequestSpanEnd): void {
    const span = this.#span;
    if (span.isRecording()) {
      const { status, errorCode } = end;
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      if (errorCode !== undefined) span.setAttribute(nexus.errorCode, errorCode);
      const model = end.requestedModels[0];
      if (model !== undefined) span.setAttribute(genAi.requestModel, model);
      if (end.cacheResult !== undefined) span.setAttribute(nexus.cache, end.cacheResult);
      // A 4xx is the client's failure, not the server's (HTTP conventions); a stream that broke after its
      // 200 is a failure although its status says otherwise; a client that left is neither.
      if (status >= 500 || (status < 400 && errorCode !== undefined && errorCode !== 'client_closed')) {
        span.setAttribute(ATTR_ERROR_TYPE, errorCode ?? String(status));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
    }
    span.end();
  }
}

class OtelStageSpan implements StageSpan {
  readonly #span: Span;

  constructor(span: Span) {
    this.#span = span;
  }

  end(failure?: StageFailure): void {
    if (failure !== undefined) {
      this.#span.setAttribute(nexus.errorCode, failure.code);
      if (failure.status >= 500) {
        this.#span.setAttribute(ATTR_ERROR_TYPE, failure.code);
        this.#span.setStatus({ code: SpanStatusCode.ERROR });
      }
    }
    this.#span.end();
  }
}

class OtelAttemptSpan implements AttemptSpan {
  readonly headers: Readonly<Record<string, string>>;
  readonly #span: Span;

  constructor(tracer: Tracer, parent: Context, start: AttemptSpanStart) {
    const attributes: Attributes = {
      [genAi.operation]: start.operation,
      [genAi.system]: start.provider,
      [genAi.providerName]: wellKnownProviderNames[start.provider] ?? start.provider,
      [genAi.requestModel]: start.model,
      [nexus.attempt]: start.attempt,
      [nexus.instance]: start.instance,
      ...serverOf(start.baseUrl),
    };
    if (start.maxTokens !== undefined) attributes[genAi.maxTokens] = start.maxTokens;
    if (start.temperature !== undefined) attributes[genAi.temperature] = start.temperature;
    if (start.topP !== undefined) attributes[genAi.topP] = start.topP;
    if (start.stream) attributes[nexus.stream] = true;
    this.#span = tracer.startSpan(
      `${start.operation} ${start.model}`,
      { kind: SpanKind.CLIENT, attributes },
      parent,
    );
    const headers: Record<string, string> = {};
    propagator.inject(trace.setSpan(ROOT_CONTEXT, this.#span), headers, defaultTextMapSetter);
    this.headers = headers;
  }

  end(end: AttemptSpanEnd): void {
    const span = this.#span;
    if (span.isRecording()) {
      span.setAttribute(nexus.outcome, end.outcome);
      if (end.responseModel !== undefined) span.setAttribute(genAi.responseModel, end.responseModel);
      const usage = end.usage;
      if (usage !== undefined) {
        span.setAttribute(genAi.inputTokens, usage.prompt_tokens);
        span.setAttribute(genAi.outputTokens, usage.completion_tokens);
        const cached = usage.prompt_tokens_details?.cached_tokens;
        if (typeof cached === 'number' && cached > 0) span.setAttribute(genAi.cacheReadTokens, cached);
      }
      if (end.hedge) span.setAttribute(nexus.hedge, true);
      if (end.continuation) span.setAttribute(nexus.continuation, true);
      if (end.lastResort) span.setAttribute(nexus.lastResort, true);
      if (end.errorCode !== undefined) span.setAttribute(nexus.errorCode, end.errorCode);
      if (end.outcome === 'failed') {
        span.setAttribute(ATTR_ERROR_TYPE, end.errorCode ?? 'failed');
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
    }
    span.end();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const servers = new Map<string, Attributes>();

/** `server.address` and `server.port` of an instance's base URL, parsed once per URL. */
function serverOf(baseUrl: string): Attributes {
  let attributes = servers.get(baseUrl);
  if (attributes === undefined) {
    attributes = {};
    try {
      const url = new URL(baseUrl);
      attributes[ATTR_SERVER_ADDRESS] = url.hostname;
      attributes[ATTR_SERVER_PORT] = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    } catch {}
    servers.set(baseUrl, attributes);
  }
  return attributes;
}

/** The sampler `OTEL_TRACES_SAMPLER` (`_ARG`) names; the SDK's default, parent-based always-on, otherwise. */
function samplerOf(settings: TracingSettings, warn: (message: string) => void): Sampler {
  const ratio = () => {
    const value = Number(settings.samplerArg);
    if (settings.samplerArg !== undefined && value >= 0 && value <= 1) return value;
    warn(`OTEL_TRACES_SAMPLER_ARG '${settings.samplerArg ?? ''}' is not a ratio in [0, 1]; using 1`);
    return 1;
  };
  switch (settings.sampler ?? 'parentbased_always_on') {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio());
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    default:
      warn(`OTEL_TRACES_SAMPLER '${settings.sampler}' is not one Nexus knows; using parentbased_always_on`);
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}
