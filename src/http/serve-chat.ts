import { clientLeft } from '../core/call-signal.ts';
import { isNexusError, NexusError } from '../core/errors.ts';
import type { ChatCompletion, ChatRequest, Usage } from '../core/openai-types.ts';
import { completeChat, openChatStream } from '../core/pipeline.ts';
import { usageCost } from '../core/usage-cost.ts';
import type { CallContext, UpstreamTarget, Warning } from '../providers/types.ts';
import type { Exchange, Gateway } from './exchange.ts';
import { requestRouting } from './request-routing.ts';
import { addWarnings, headerText, sendJson } from './respond.ts';
import { endWithStreamError, pumpChatStream, sseHeaders, streamStarted } from './sse-writer.ts';

/** How the reply body is shaped: OpenAI's own, or seed 004's `{success, data}` envelope. */
export type ChatReplyShape = 'openai' | 'seed-004';

/**
 * Runs a validated chat request through the pipeline and writes the reply: JSON for a plain request, SSE for
 * `stream: true`. Errors before the first byte propagate to the edge (which renders them with a status);
 * errors after it end the stream with an error event, never with `[DONE]`.
 */
export async function serveChat(
  gateway: Gateway,
  exchange: Exchange,
  request: ChatRequest,
  shape: ChatReplyShape,
): Promise<void> {
  const warnings: Warning[] = [];
  exchange.record.warnings = warnings;
  const context: CallContext = { requestId: exchange.requestId, signal: exchange.signal, warnings };
  if (request.stream === true) {
    exchange.record.stream = true;
    await serveStream(gateway, exchange, request, context);
    return;
  }
  const { target, result, upstreamMs } = await completeChat(
    gateway.pipeline,
    request,
    context,
    requestRouting(exchange),
  );
  const cost = costOf(target, result.completion.usage);
  describeTarget(exchange, target, warnings);
  exchange.record.costUsd = cost;
  const { response } = exchange;
  if (cost !== undefined) response.setHeader('x-nexus-cost-usd', formatUsd(cost));
  const latencyMs = performance.now() - exchange.startedAt - upstreamMs;
  response.setHeader('x-nexus-latency-ms', latencyMs.toFixed(2));
  if (shape === 'seed-004') {
    sendJson(
      response,
      200,
      seed004Envelope(result.completion, cost, Math.round(performance.now() - exchange.startedAt)),
    );
    return;
  }
  sendJson(response, 200, result.raw ?? result.completion);
}

async function serveStream(gateway: Gateway, exchange: Exchange, request: ChatRequest, context: CallContext) {
  // The target whose usage the client is billed for; it changes if a broken stream resumes elsewhere.
  let served: UpstreamTarget | undefined;
  const { target, result: stream } = await openChatStream(gateway.pipeline, request, context, {
    ...requestRouting(exchange),
    onResumed: (next) => {
      served = next;
      exchange.record.provider = next.instance.name;
      exchange.record.model = next.model;
    },
  });
  const { response } = exchange;
  try {
    await pumpChatStream(
      response,
      stream,
      () => {
        describeTarget(exchange, target, context.warnings);
        response.setHeader('x-nexus-latency-ms', (performance.now() - exchange.startedAt).toFixed(2));
        response.writeHead(200, sseHeaders);
      },
      (usage) => {
        exchange.record.costUsd = costOf(served ?? target, usage);
      },
    );
  } catch (error) {
    // The client left: nobody to tell. The deadline passed: the client gets an error event like any other break.
    if (!streamStarted(error) || clientLeft(exchange.signal)) throw error;
    const failure = isNexusError(error)
      ? error
      : new NexusError('stream_interrupted', 'The stream broke after it started.', { cause: error });
    exchange.record.errorCode = failure.code;
    endWithStreamError(response, failure);
  }
}

/** Names the serving instance and model in the headers and the access record, with the adapter's warnings. */
export function describeTarget(exchange: Exchange, target: UpstreamTarget, warnings: readonly Warning[]) {
  const { response, record } = exchange;
  record.provider = target.instance.name;
  record.model = target.model;
  response.setHeader('x-nexus-provider', headerText(target.instance.name));
  response.setHeader('x-nexus-model', headerText(target.model));
  addWarnings(response, warnings);
}

function costOf(target: UpstreamTarget, usage: Usage | undefined): number | undefined {
  return usageCost(target.modelSpec, usage);
}

/** A decimal string without exponent notation (`0.0000015`, never `1.5e-6`). */
export function formatUsd(value: number): string {
  return value.toFixed(10).replace(/\.?0+$/, '') || '0';
}

function seed004Envelope(completion: ChatCompletion, cost: number | undefined, latencyMs: number) {
  const usage = completion.usage;
  return {
    success: true,
    data: {
      id: completion.id,
      model: completion.model,
      choices: completion.choices,
      usage: {
        promptTokens: usage?.prompt_tokens ?? 0,
        completionTokens: usage?.completion_tokens ?? 0,
        totalTokens: usage?.total_tokens ?? 0,
      },
      cost: cost ?? 0,
      cached: false,
      latencyMs,
    },
  };
}
