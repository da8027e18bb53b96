import type { ChatCompletion, EmbeddingsResponse } from '../../core/openai-types.ts';
import type { ChatResult, EmbeddingsResult, UpstreamTarget } from '../types.ts';
import { type JsonReply, unreadableReply } from './upstream-exchange.ts';

/**
 * An OpenAI chat reply as a ChatResult (OpenAI-compatible providers and Azure OpenAI): passed through as sent,
 * with its text kept so the edge need not re-serialise it, once it has its choices.
 */
export function openAIChatResult(target: UpstreamTarget, reply: JsonReply): ChatResult {
  const completion = reply.value as ChatCompletion;
  if (!Array.isArray(completion.choices)) throw unreadableReply(target, 'a reply without choices');
  return { completion, raw: reply.raw };
}

/** An OpenAI embeddings reply as an EmbeddingsResult: passed through as sent, once it has its data. */
export function openAIEmbeddingsResult(target: UpstreamTarget, reply: JsonReply): EmbeddingsResult {
  const response = reply.value as EmbeddingsResponse;
  if (!Array.isArray(response.data)) throw unreadableReply(target, 'a reply without data');
  return { response, raw: reply.raw };
}
