import type { z } from 'zod';
import type { ChatCompletion } from '../core/openai-types.ts';
import type { Reply } from '../pipeline/request.ts';
import type { EdgeStage, Exchange } from './exchange.ts';
import type { seed004ChatReplySchema, seed004EmbeddingsReplySchema } from './reply-schemas.ts';
import { addRateLimitHeaders, addWarnings, headerText, sendJson } from './respond.ts';
import { anthropicFraming, openAIFraming, writeSse } from './sse-writer.ts';

/**
 * Deliver stages: each route's protocol writes `exchange.reply` in its own shape on the way out of the chain
 * (after meter has priced a reply in one piece). Headers on every reply: `x-nexus-provider`, `x-nexus-model`,
 * `x-nexus-warnings` (the request's and the serving attempt's only), `x-nexus-latency-ms` (time in Nexus:
 * the whole request minus the wait on upstreams), and `x-nexus-cost-usd` for replies in one piece.
 */
export type ChatShape = 'openai' | 'seed-004';

export function deliverChat(shape: ChatShape): EdgeStage {
  return async function deliverChatReply(exchange, next) {
    await next();
    const reply = replyOf(exchange);
    if (reply.kind === 'chat-stream') {
      await writeSse(exchange, reply.stream, openAIFraming, () => describeServed(exchange));
      return;
    }
    if (reply.kind !== 'chat') throw unexpected(reply);
    describeServed(exchange);
    const { completion, raw } = reply.result;
    if (shape === 'seed-004') sendJson(exchange.response, 200, seed004Chat(exchange, completion));
    else sendJson(exchange.response, 200, raw ?? completion);
  };
}

export function deliverEmbeddings(shape: ChatShape): EdgeStage {
  return async function deliverEmbeddingsReply(exchange, next) {
    await next();
    const reply = replyOf(exchange);
    if (reply.kind !== 'embeddings') throw unexpected(reply);
    describeServed(exchange);
    const { response, raw } = reply.result;
    if (shape === 'openai') {
      sendJson(exchange.response, 200, raw ?? response);
      return;
    }
    const body: z.output<typeof seed004EmbeddingsReplySchema> = {
      success: true as const,
      data: {
        object: 'list',
        data: response.data,
        model: response.model,
        usage: {
          promptTokens: response.usage?.prompt_tokens ?? 0,
          totalTokens: response.usage?.total_tokens ?? 0,
        },
        cost: exchange.costUsd ?? 0,
        cached: exchange.cacheHit !== undefined,
        latencyMs: Math.round(performance.now() - exchange.receivedAt),
      },
    };
    sendJson(exchange.response, 200, body);
  };
}

/** `/v1/messages` and `count_tokens`: an Anthropic message (passed through or translated), or its event stream. */
export const deliverMessages: EdgeStage = async function deliverMessagesReply(exchange, next) {
  await next();
  const reply = replyOf(exchange);
  if (reply.kind === 'messages-stream') {
    await writeSse(exchange, reply.stream, anthropicFraming, () => describeServed(exchange));
    return;
  }
  if (reply.kind !== 'messages') throw unexpected(reply);
  describeServed(exchange);
  sendJson(exchange.response, 200, reply.body);
};

/** Names the serving instance and model, its warnings, the time spent in Nexus and, when known, the cost. */
export function describeServed(exchange: Exchange): void {
  const { response } = exchange;
  const target = exchange.target;
  const hit = exchange.cacheHit;
  if (hit !== undefined) {
    response.setHeader('x-nexus-provider', headerText(hit.provider));
    response.setHeader('x-nexus-model', headerText(hit.model));
  } else if (target !== undefined) {
    response.setHeader('x-nexus-provider', headerText(target.instance.name));
    response.setHeader('x-nexus-model', headerText(target.model));
  }
  if (exchange.cacheResult !== undefined) {
    response.setHeader('x-nexus-cache', exchange.cacheResult);
    if (hit?.similarity !== undefined)
      response.setHeader('x-nexus-cache-similarity', hit.similarity.toFixed(4));
  }
  addWarnings(response, exchange.replyWarnings());
  addRateLimitHeaders(response, exchange.rateLimit);
  if (exchange.costUsd !== undefined && (!exchange.streamed || hit !== undefined)) {
    response.setHeader('x-nexus-cost-usd', formatUsd(exchange.costUsd));
  }
  const latencyMs = performance.now() - exchange.receivedAt - exchange.upstreamMs;
  response.setHeader('x-nexus-latency-ms', Math.max(0, latencyMs).toFixed(2));
}

/** A decimal string without exponent notation (`0.0000015`, never `1.5e-6`). */
export function formatUsd(value: number): string {
  return value.toFixed(10).replace(/\.?0+$/, '') || '0';
}

function replyOf(exchange: Exchange): Reply {
  const reply = exchange.reply;
  if (reply === undefined) throw new Error('deliver stage: dispatch left no reply');
  return reply;
}

function unexpected(reply: Reply): Error {
  return new Error(`deliver stage: a '${reply.kind}' reply on a route that does not serve it`);
}

function seed004Chat(
  exchange: Exchange,
  completion: ChatCompletion,
): z.output<typeof seed004ChatReplySchema> {
  const usage = completion.usage;
  return {
    success: true as const,
    data: {
      id: completion.id,
      model: completion.model,
      choices: completion.choices,
      usage: {
        promptTokens: usage?.prompt_tokens ?? 0,
        completionTokens: usage?.completion_tokens ?? 0,
        totalTokens: usage?.total_tokens ?? 0,
      },
      cost: exchange.costUsd ?? 0,
      cached: exchange.cacheHit !== undefined,
      latencyMs: Math.round(performance.now() - exchange.receivedAt),
    },
  };
}
