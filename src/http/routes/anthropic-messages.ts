import { isNexusError, NexusError } from '../../core/errors.ts';
import type { ChatRequest, Usage } from '../../core/openai-types.ts';
import { completeChat, openChatStream } from '../../core/pipeline.ts';
import { usageCost } from '../../core/usage-cost.ts';
import { canonicalToAnthropic } from '../../protocols/anthropic/canonical-to-response.ts';
import { anthropicErrorEvent } from '../../protocols/anthropic/errors.ts';
import { anthropicToCanonical } from '../../protocols/anthropic/request-to-canonical.ts';
import { createStreamTranslator, serializeEvent } from '../../protocols/anthropic/stream-to-events.ts';
import { validateCountTokensRequest, validateMessagesRequest } from '../../protocols/anthropic/validate.ts';
import type {
  CallContext,
  ChatStream,
  NativeEvent,
  NativeMessagesRequest,
  ProviderAdapter,
  UpstreamTarget,
  Warning,
} from '../../providers/types.ts';
import { readExchangeJson } from '../body.ts';
import type { Exchange, Gateway, Route } from '../exchange.ts';
import { requestRouting } from '../request-routing.ts';
import { sendJson } from '../respond.ts';
import { describeTarget, formatUsd } from '../serve-chat.ts';
import { drained, sseHeaders } from '../sse-writer.ts';

/**
 * Anthropic's Messages API served by Nexus, so Anthropic clients (the official SDKs, Claude Code) can use any
 * provider. Stages after validation: peek at the resolved target; if its adapter speaks Messages natively
 * (`nativeMessages`), pass the request through untouched; otherwise translate it to the canonical request,
 * run the same pipeline calls as `/v1/chat/completions`, and translate the reply (JSON, or the exact
 * Anthropic event sequence). Errors render in Anthropic's shape (`errorShape: 'anthropic'`).
 */
export const anthropicRoutes: readonly Route[] = [
  {
    method: 'POST',
    path: '/v1/messages',
    authenticated: true,
    errorShape: 'anthropic',
    handler: serveMessages,
  },
  {
    method: 'POST',
    path: '/v1/messages/count_tokens',
    authenticated: true,
    errorShape: 'anthropic',
    handler: serveCountTokens,
  },
];

async function serveMessages(gateway: Gateway, exchange: Exchange): Promise<void> {
  const body = await readExchangeJson(gateway, exchange);
  const request = validateMessagesRequest(body);
  const context = callContext(exchange);
  const { target, adapter } = peekTarget(gateway, request.model);
  if (adapter.nativeMessages !== undefined) {
    if (request.stream === true) exchange.record.stream = true;
    const call = nativeCall(exchange, 'messages', body);
    await serveNative(gateway, exchange, { target, adapter, call, context });
    return;
  }
  const translated = anthropicToCanonical(request, {
    maxTokensField: target.instance.provider.quirks.maxTokensField,
  });
  context.warnings.push(...translated.warnings);
  if (exchange.request.headers['anthropic-beta'] !== undefined) {
    context.warnings.push({
      param: 'anthropic-beta',
      message: 'The anthropic-beta header applies to Anthropic models only; it was not sent.',
    });
  }
  if (translated.value.stream === true) {
    exchange.record.stream = true;
    await serveTranslatedStream(gateway, exchange, translated.value, context);
    return;
  }
  const routing = requestRouting(exchange);
  const {
    target: served,
    result,
    upstreamMs,
  } = await completeChat(gateway.pipeline, translated.value, context, routing);
  const reply = canonicalToAnthropic(result.completion);
  context.warnings.push(...reply.warnings);
  describeTarget(exchange, served, context.warnings);
  setCost(exchange, usageCost(served.modelSpec, result.completion.usage));
  setLatency(exchange, upstreamMs);
  sendJson(exchange.response, 200, reply.value);
}

/**
 * Token counting is answered only by an upstream that can count (an Anthropic model, passed through). For any
 * other target it is a 400: an estimate would be a different tokenizer's guess, and clients use this count
 * to decide what fits in a context window, so a wrong number is worse than a clear refusal.
 */
async function serveCountTokens(gateway: Gateway, exchange: Exchange): Promise<void> {
  const body = await readExchangeJson(gateway, exchange);
  const request = validateCountTokensRequest(body);
  const context = callContext(exchange);
  const { target, adapter } = peekTarget(gateway, request.model);
  if (adapter.nativeMessages === undefined) {
    throw new NexusError(
      'unsupported_capability',
      `Token counting needs a provider that counts natively (Anthropic's Messages API); '${request.model}' is served by ${target.instance.name}, which cannot. Nexus does not estimate counts.`,
      { param: 'model' },
    );
  }
  const call = nativeCall(exchange, 'count_tokens', body);
  await serveNative(gateway, exchange, { target, adapter, call, context });
}

/**
 * Which instance the pipeline would serve this model with, to choose between pass-through and translation
 * (and the output-limit field name). Resolution errors (unknown model, unconfigured provider) surface here.
 */
function peekTarget(gateway: Gateway, model: string): { target: UpstreamTarget; adapter: ProviderAdapter } {
  const target = gateway.pipeline.resolver.resolve(model, 'chat');
  return { target, adapter: gateway.pipeline.registry.adapterFor(target.instance) };
}

function callContext(exchange: Exchange): CallContext {
  const warnings: Warning[] = [];
  exchange.record.warnings = warnings;
  return { requestId: exchange.requestId, signal: exchange.signal, warnings };
}

function nativeCall(
  exchange: Exchange,
  endpoint: NativeMessagesRequest['endpoint'],
  body: unknown,
): NativeMessagesRequest {
  const headers: Record<string, string> = {};
  for (const name of ['anthropic-version', 'anthropic-beta']) {
    const value = exchange.request.headers[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  return { endpoint, body: body as Record<string, unknown>, headers };
}

async function serveTranslatedStream(
  gateway: Gateway,
  exchange: Exchange,
  request: ChatRequest,
  context: CallContext,
): Promise<void> {
  const { target, result: stream } = await openChatStream(
    gateway.pipeline,
    request,
    context,
    requestRouting(exchange),
  );
  const onUsage = (usage: Usage) => {
    exchange.record.costUsd = usageCost(target.modelSpec, usage);
  };
  await streamToClient(exchange, target, context, translatedEvents(stream, context.warnings, onUsage));
}

/** The canonical stream as Anthropic SSE text, one string per upstream batch, closing events last. */
async function* translatedEvents(
  stream: ChatStream,
  warnings: Warning[],
  onUsage: (usage: Usage) => void,
): AsyncGenerator<string, void, undefined> {
  const translator = createStreamTranslator();
  for await (const batch of stream) {
    if (batch.usage !== undefined) onUsage(batch.usage);
    let text = '';
    for (const event of batch) {
      for (const translated of translator.push(event.chunk)) text += serializeEvent(translated);
    }
    if (text !== '') yield text;
  }
  const closing = translator.finish();
  // Headers are gone by now; these warnings reach the access log.
  warnings.push(...translator.warnings);
  yield closing.map(serializeEvent).join('');
}

interface NativeCall {
  readonly target: UpstreamTarget;
  readonly adapter: ProviderAdapter;
  readonly call: NativeMessagesRequest;
  readonly context: CallContext;
}

/**
 * Pass-through to an upstream that speaks Messages. Recorded in the instance stats like any attempt; it does
 * not fail over (failover would have to translate the request for a different provider).
 */
async function serveNative(gateway: Gateway, exchange: Exchange, native: NativeCall): Promise<void> {
  const { target, adapter, call, context } = native;
  const { stats } = gateway.pipeline;
  const started = performance.now();
  stats.started(target.instance.id);
  let reply: Awaited<ReturnType<NonNullable<ProviderAdapter['nativeMessages']>>>;
  try {
    reply = await adapter.nativeMessages!(target, call, context);
  } catch (error) {
    stats.finished(target.instance.id, false, performance.now() - started);
    throw error;
  }
  if (reply.kind === 'json') {
    stats.finished(target.instance.id, true, performance.now() - started);
    describeTarget(exchange, target, context.warnings);
    if (call.endpoint === 'messages') setCost(exchange, costOfAnthropic(target, usageIn(reply.body)));
    setLatency(exchange, performance.now() - started);
    sendJson(exchange.response, 200, reply.body);
    return;
  }
  let ok = false;
  const usage: Record<string, unknown> = {};
  const onEvent = (event: NativeEvent) => {
    if (event.event === 'message_start') Object.assign(usage, usageIn(event.data, 'message'));
    else if (event.event === 'message_delta') Object.assign(usage, usageIn(event.data));
    else if (event.event === 'message_stop') ok = true;
    else if (event.event === 'error') exchange.record.errorCode = 'stream_interrupted';
  };
  try {
    await streamToClient(exchange, target, context, nativeEvents(reply.events, onEvent));
  } finally {
    exchange.record.costUsd = costOfAnthropic(target, usage);
    stats.finished(target.instance.id, ok, performance.now() - started);
  }
}

async function* nativeEvents(
  events: AsyncIterable<readonly NativeEvent[]>,
  onEvent: (event: NativeEvent) => void,
): AsyncGenerator<string, void, undefined> {
  for await (const batch of events) {
    let text = '';
    for (const event of batch) {
      onEvent(event);
      const name = event.event === undefined ? '' : `event: ${event.event}\n`;
      text += `${name}${event.data
        .split('\n')
        .map((line) => `data: ${line}`)
        .join('\n')}\n\n`;
    }
    if (text !== '') yield text;
  }
}

/**
 * Writes SSE text as it comes, one write per upstream batch, waiting for `drain` when the client is slower
 * than the upstream. A failure before the first byte propagates (the edge answers with a status); after it,
 * the stream ends with one Anthropic `error` event and never with `message_stop`.
 */
async function streamToClient(
  exchange: Exchange,
  target: UpstreamTarget,
  context: CallContext,
  texts: AsyncIterable<string>,
): Promise<void> {
  const { response } = exchange;
  let started = false;
  const start = () => {
    started = true;
    describeTarget(exchange, target, context.warnings);
    response.setHeader('x-nexus-latency-ms', (performance.now() - exchange.startedAt).toFixed(2));
    response.writeHead(200, sseHeaders);
  };
  try {
    for await (const text of texts) {
      if (text === '') continue;
      if (!started) start();
      if (!response.write(text)) await drained(response);
    }
  } catch (error) {
    // A client that left gets nothing more; the deadline (a NexusError reason) still gets its error event.
    const reason: unknown = exchange.signal.aborted ? exchange.signal.reason : undefined;
    if (!started || (reason !== undefined && !isNexusError(reason))) throw error;
    const cause = isNexusError(reason) ? reason : error;
    const failure = isNexusError(cause)
      ? cause
      : new NexusError('stream_interrupted', 'The stream broke after it started.', { cause });
    exchange.record.errorCode = failure.code;
    if (!response.writableEnded && !response.destroyed) {
      response.end(anthropicErrorEvent(failure, exchange.requestId));
    }
    return;
  }
  if (!started) start();
  response.end();
}

function setCost(exchange: Exchange, cost: number | undefined) {
  exchange.record.costUsd = cost;
  if (cost !== undefined) exchange.response.setHeader('x-nexus-cost-usd', formatUsd(cost));
}

/** Time spent in Nexus: the whole request minus the upstream's share. */
function setLatency(exchange: Exchange, upstreamMs: number) {
  const latencyMs = performance.now() - exchange.startedAt - upstreamMs;
  exchange.response.setHeader('x-nexus-latency-ms', Math.max(0, latencyMs).toFixed(2));
}

/** Anthropic usage excludes cache reads and writes from `input_tokens`; each is priced at its own rate. */
function costOfAnthropic(target: UpstreamTarget, usage: Record<string, unknown>): number | undefined {
  if (usage.output_tokens === undefined) return undefined;
  const cached = tokens(usage.cache_read_input_tokens);
  const written = tokens(usage.cache_creation_input_tokens);
  return usageCost(target.modelSpec, {
    prompt_tokens: tokens(usage.input_tokens) + cached + written,
    completion_tokens: tokens(usage.output_tokens),
    total_tokens: 0,
    prompt_tokens_details: { cached_tokens: cached, cache_creation_tokens: written },
  });
}

/** The `usage` object of an Anthropic JSON text (a message, or an event's `message`), non-null fields only. */
function usageIn(json: string, container?: 'message'): Record<string, unknown> {
  try {
    const parsed = JSON.parse(json) as Record<string, { usage?: unknown } | undefined> & { usage?: unknown };
    const usage = container === undefined ? parsed.usage : parsed[container]?.usage;
    if (usage === null || typeof usage !== 'object') return {};
    return Object.fromEntries(Object.entries(usage).filter(([, value]) => value != null));
  } catch {
    return {};
  }
}

function tokens(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0;
}
