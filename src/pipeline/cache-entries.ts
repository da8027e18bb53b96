import type { AnthropicMessageBody, CachedEntry, CachedUsage } from '../cache/cache-types.ts';
import { replayAnthropicMessage, replayChatCompletion } from '../cache/stream-replay.ts';
import type { EmbeddingsResponse, Usage } from '../core/openai-types.ts';
import { markComplete, type NativeEvent, type StreamBatch, type StreamEvent } from '../providers/types.ts';
import { completionOf, ReplayedStream, replayFrames } from './cache-streams.ts';
import type { GatewayRequest, MessagesBatch, Operation, Reply } from './request.ts';

/**
 * The cache stage's entries (pipeline/cache.ts): what a successful request stores, and a stored entry as the
 * reply a request asked for (JSON, or replayed as a stream).
 */

/** What every entry of a successful request says besides its answer; undefined for a failed one. */
export function entryHeader(request: GatewayRequest, tenant: string) {
  const target = request.target;
  if (target === undefined || request.errorCode !== undefined) return undefined;
  return {
    tenant,
    provider: target.instance.name,
    model: target.model,
    usage: cachedUsage(request.served?.usage),
    costUsd: request.costUsd ?? 0,
    createdAt: Date.now(),
  };
}

/** The entry for a reply in one piece, or undefined when it failed. */
export function entryOf(request: GatewayRequest, tenant: string): CachedEntry | undefined {
  const reply = request.reply;
  const common = entryHeader(request, tenant);
  if (reply === undefined || common === undefined) return undefined;
  switch (reply.kind) {
    case 'chat':
      return { ...common, kind: 'chat', body: reply.result.completion };
    case 'embeddings':
      return { ...common, kind: 'embeddings', body: reply.result.response };
    case 'messages': {
      const body = typeof reply.body === 'string' ? parseMessage(reply.body) : reply.body;
      return body === undefined
        ? undefined
        : { ...common, kind: 'messages', body: body as AnthropicMessageBody };
    }
    default:
      return undefined;
  }
}

function parseMessage(text: string): AnthropicMessageBody | undefined {
  try {
    const parsed = JSON.parse(text) as AnthropicMessageBody;
    return parsed?.type === 'message' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function cachedUsage(usage: Usage | undefined): CachedUsage {
  return { inputTokens: usage?.prompt_tokens ?? 0, outputTokens: usage?.completion_tokens ?? 0 };
}

/**
 * Answers the request from a stored entry: the reply in the shape asked for, at no cost. False when the entry
 * cannot answer it (another kind of answer), so the request goes on.
 */
export function answerFromEntry(
  request: GatewayRequest,
  entry: CachedEntry,
  result: 'HIT' | 'HIT-SEMANTIC',
  similarity?: number,
): boolean {
  const reply = replyFromEntry(request, entry);
  if (reply === undefined) return false;
  request.cacheResult = result;
  request.cacheHit = { provider: entry.provider, model: entry.model, savingsUsd: entry.costUsd, similarity };
  request.costUsd = 0;
  request.reply = reply;
  return true;
}

function replyFromEntry(request: GatewayRequest, entry: CachedEntry): Reply | undefined {
  if (entry.kind !== request.operation?.kind) return undefined;
  const streamed = request.streamed;
  switch (entry.kind) {
    case 'chat': {
      const includeUsage = wantsUsageChunk(request.operation);
      if (entry.frames !== undefined) {
        if (streamed) return { kind: 'chat-stream', stream: replayFrames(entry.frames, includeUsage) };
        const completion = completionOf(entry.frames);
        return completion === undefined
          ? undefined
          : { kind: 'chat', result: { completion, raw: undefined } };
      }
      if (!streamed) return { kind: 'chat', result: { completion: entry.body, raw: undefined } };
      const chunks = replayChatCompletion(entry.body, { includeUsage });
      const events: StreamEvent[] = chunks.map((chunk) => ({ chunk, raw: undefined }));
      return { kind: 'chat-stream', stream: new ReplayedStream<StreamBatch>([markComplete(events)]) };
    }
    case 'embeddings':
      return { kind: 'embeddings', result: { response: entry.body as EmbeddingsResponse, raw: undefined } };
    case 'messages': {
      if (!streamed) return { kind: 'messages', body: entry.body as never };
      const events: NativeEvent[] = replayAnthropicMessage(entry.body).map((event) => ({
        event: event.type,
        data: JSON.stringify(event),
      }));
      return { kind: 'messages-stream', stream: new ReplayedStream<MessagesBatch>([events]) };
    }
  }
}

/** Whether a streamed chat request asked for the final usage chunk (`stream_options.include_usage`). */
export function wantsUsageChunk(operation: Operation | undefined): boolean {
  return operation?.kind === 'chat' && operation.body.stream_options?.include_usage === true;
}
