import { NexusError } from '../core/errors.ts';
import type { ChatRequest } from '../core/openai-types.ts';
import type { Warning } from '../core/warning.ts';
import { canonicalToAnthropic } from '../protocols/anthropic/canonical-to-response.ts';
import { anthropicToCanonical } from '../protocols/anthropic/request-to-canonical.ts';
import { createStreamTranslator } from '../protocols/anthropic/stream-to-events.ts';
import { canonicalUsage, usageInText } from '../protocols/anthropic/usage.ts';
import type { MessagesRequest } from '../protocols/anthropic/validate.ts';
import type { ChatStream, NativeEvent, NativeMessagesRequest, UpstreamTarget } from '../providers/types.ts';
import type { RoutePlan } from '../resilience/route-plan.ts';
import { planOf } from './attempt-options.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { chatBatchUsage } from './dispatch-chat.ts';
import { dispatchOneShot } from './dispatch-one-shot.ts';
import { dispatchStream } from './dispatch-stream.ts';
import type { GatewayRequest, MessagesBatch, Operation } from './request.ts';

type MessagesOperation = Extract<Operation, { kind: 'messages' }>;

/**
 * Dispatch for Anthropic's Messages API (`/v1/messages`), under the same resilience layer as chat: key
 * rotation, the toggle, breakers, retries, hedging and failover. Each attempt is served natively by a target
 * whose adapter speaks Messages (the client's body with only `model` replaced, so every Anthropic feature
 * reaches it), or translated for any other (the request to canonical, the reply back to Anthropic's shape);
 * so a request for an Anthropic model fails over to, say, an OpenAI fallback of its model group when the
 * Anthropic instances fail. Streams of either kind commit on the first content event, so failures before it
 * fail over invisibly. `count_tokens` goes to native targets only: Nexus does not estimate counts.
 */
export async function dispatchMessages(
  dependencies: PipelineDependencies,
  request: GatewayRequest,
  operation: MessagesOperation,
): Promise<void> {
  if (operation.endpoint === 'count_tokens') {
    await dispatchMessagesOneShot(
      dependencies,
      request,
      operation,
      nativeOnly(dependencies, planOf(request), operation),
    );
    return;
  }
  if (operation.body.stream === true) {
    await dispatchMessagesStream(dependencies, request, operation);
    return;
  }
  await dispatchMessagesOneShot(dependencies, request, operation, planOf(request));
}

async function dispatchMessagesOneShot(
  dependencies: PipelineDependencies,
  request: GatewayRequest,
  operation: MessagesOperation,
  plan: RoutePlan,
): Promise<void> {
  const body = await dispatchOneShot(dependencies, request, plan, async (target, context, attempt) => {
    const adapter = dependencies.registry.adapterFor(target.instance);
    if (adapter.nativeMessages !== undefined) {
      const reply = await adapter.nativeMessages(target, nativeCall(operation), context);
      if (reply.kind !== 'json') throw new Error('a native Messages call without stream returned events');
      if (operation.endpoint === 'messages') attempt.usage = canonicalUsage(usageInText(reply.body));
      return reply.body;
    }
    const canonical = translate(operation, target, context.warnings);
    const result = await adapter.chat(target, canonical, context);
    attempt.usage = result.completion.usage ?? undefined;
    attempt.responseModel = result.completion.model;
    const reply = canonicalToAnthropic(result.completion);
    context.warnings.push(...reply.warnings);
    return reply.value;
  });
  request.reply = { kind: 'messages', body };
}

async function dispatchMessagesStream(
  dependencies: PipelineDependencies,
  request: GatewayRequest,
  operation: MessagesOperation,
): Promise<void> {
  const stream = await dispatchStream<MessagesBatch>(dependencies, request, {
    open: async (target, context) => {
      const adapter = dependencies.registry.adapterFor(target.instance);
      if (adapter.nativeMessages !== undefined) {
        const reply = await adapter.nativeMessages(target, nativeCall(operation), context);
        if (reply.kind !== 'events') throw new Error('a native Messages stream returned a JSON body');
        return nativeBatches(reply.events, target.instance.name);
      }
      const canonical = translate(operation, target, context.warnings);
      return translatedBatches(await adapter.chatStream(target, canonical, context), context.warnings);
    },
    isReal: (batch) => batch.some(isRealEvent),
    usageOf: (batch) => batch.usage,
  });
  request.reply = { kind: 'messages-stream', stream };
}

function nativeCall(operation: MessagesOperation): NativeMessagesRequest {
  return { endpoint: operation.endpoint, body: operation.body, headers: operation.headers };
}

/** The Anthropic request in canonical form for a target that does not speak Messages; notes go on the attempt. */
function translate(operation: MessagesOperation, target: UpstreamTarget, warnings: Warning[]): ChatRequest {
  const translated = anthropicToCanonical(operation.request as MessagesRequest, {
    maxTokensField: target.instance.provider.quirks.maxTokensField,
  });
  warnings.push(...translated.warnings);
  if (operation.headers['anthropic-beta'] !== undefined) {
    warnings.push({
      param: 'anthropic-beta',
      message: 'The anthropic-beta header applies to Anthropic models only; it was not sent.',
    });
  }
  return translated.value;
}

/** The plan reduced to the targets that can count tokens natively; a 400 when none can. */
function nativeOnly(
  dependencies: PipelineDependencies,
  plan: RoutePlan,
  operation: MessagesOperation,
): RoutePlan {
  const native = (target: UpstreamTarget) =>
    dependencies.registry.adapterFor(target.instance).nativeMessages !== undefined;
  const steps = plan.steps
    .map((step) => ({ ...step, targets: step.targets.filter(({ target }) => native(target)) }))
    .filter((step) => step.targets.length > 0);
  if (steps.length === 0) {
    const first = plan.steps[0]?.targets[0]?.target;
    throw new NexusError(
      'unsupported_capability',
      `Token counting needs a provider that counts natively (Anthropic's Messages API); '${operation.request.model}' is served by ${first?.instance.name ?? 'no provider'}, which cannot. Nexus does not estimate counts.`,
      { param: 'model' },
    );
  }
  return { ...plan, steps, contextFallback: undefined };
}

const realEvents = new Set(['content_block_delta', 'message_delta', 'message_stop']);

function isRealEvent(event: NativeEvent): boolean {
  return event.event !== undefined && realEvents.has(event.event);
}

/**
 * A native Anthropic stream in Nexus's terms: batches as they arrived, with the canonical usage attached to
 * each batch that changed it (`message_start` has the input side, `message_delta` the cumulative totals).
 * An `error` event before the first content event is a failure of the attempt (it fails over invisibly); after
 * it, the event is forwarded to the client as Anthropic sent it and the stream ends as interrupted.
 */
async function* nativeBatches(
  events: AsyncIterable<readonly NativeEvent[]>,
  providerName: string,
): AsyncGenerator<MessagesBatch, void, undefined> {
  const usage: Record<string, unknown> = {};
  let real = false;
  for await (const batch of events) {
    let changed = false;
    let upstreamError: NativeEvent | undefined;
    for (const event of batch) {
      if (event.event === 'message_start') {
        Object.assign(usage, usageInText(event.data, 'message'));
        changed = true;
      } else if (event.event === 'message_delta') {
        Object.assign(usage, usageInText(event.data));
        changed = true;
      } else if (event.event === 'error') {
        upstreamError = event;
      }
      if (isRealEvent(event)) real = true;
    }
    if (upstreamError !== undefined && !real) {
      throw new NexusError(
        'upstream_error',
        `${providerName} reported an error before the first token: ${errorMessageOf(upstreamError.data)}`,
      );
    }
    yield changed ? Object.assign(batch as NativeEvent[], { usage: canonicalUsage(usage) }) : batch;
    if (upstreamError !== undefined) throw forwardedError(providerName, upstreamError.data);
  }
}

/**
 * The failure of a stream whose upstream sent its own `error` event, already forwarded to the client as it
 * came: the stream is interrupted, but the client needs no second error event (`clientNotified`).
 */
function forwardedError(providerName: string, data: string): NexusError {
  return Object.assign(
    new NexusError(
      'stream_interrupted',
      `${providerName} reported an error mid-stream: ${errorMessageOf(data)}`,
    ),
    { clientNotified: true },
  );
}

/** Whether the client already received this failure as an event of the stream itself. */
export function clientNotified(error: unknown): boolean {
  return (error as { clientNotified?: unknown } | null)?.clientNotified === true;
}

function errorMessageOf(data: string): string {
  try {
    const parsed = JSON.parse(data) as { error?: { type?: unknown; message?: unknown } };
    const type = typeof parsed.error?.type === 'string' ? parsed.error.type : 'error';
    const message = typeof parsed.error?.message === 'string' ? parsed.error.message : '';
    return `${type}${message === '' ? '' : `: ${message.slice(0, 500)}`}`;
  } catch {
    return 'an unreadable error event';
  }
}

/**
 * A canonical stream as Anthropic events: each upstream batch becomes the events it translates to, with its
 * usage; the closing `message_delta` and `message_stop` come only after the canonical stream completed.
 */
async function* translatedBatches(
  stream: ChatStream,
  warnings: Warning[],
): AsyncGenerator<MessagesBatch, void, undefined> {
  const translator = createStreamTranslator();
  for await (const batch of stream) {
    const events: NativeEvent[] = [];
    for (const event of batch) {
      for (const translated of translator.push(event.chunk)) events.push(asEvent(translated));
    }
    const usage = chatBatchUsage(batch);
    if (usage !== undefined) yield Object.assign(events, { usage });
    else if (events.length > 0) yield events;
  }
  const closing = translator.finish().map(asEvent);
  // Headers are gone by now; these reach the attempt's record and the access log.
  warnings.push(...translator.warnings);
  yield closing;
}

function asEvent(event: { type: string }): NativeEvent {
  return { event: event.type, data: JSON.stringify(event) };
}
