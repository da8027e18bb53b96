import { randomBytes } from 'node:crypto';
import { NexusError } from '../../core/errors.ts';
import type { ChatCompletion, FinishReason, ToolCall, Usage } from '../../core/openai-types.ts';
import type { GoogleToolCallExtra } from './messages.ts';
import type { GeminiCandidate, GeminiPart, GeminiResponse, GeminiUsageMetadata } from './wire.ts';

/** Gemini `generateContent` reply → OpenAI `chat.completion`. */
export function toChatCompletion(
  response: GeminiResponse,
  model: string,
  providerName: string,
): ChatCompletion {
  throwIfPromptBlocked(response, providerName);
  const candidates = response.candidates ?? [];
  if (candidates.length === 0) {
    throw new NexusError('upstream_error', `${providerName} returned a reply without candidates.`);
  }
  const completion: ChatCompletion = {
    id: completionId(response),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: response.modelVersion ?? model,
    choices: candidates.map((candidate, position) => {
      const parts = answerParts(candidate);
      const text = parts.flatMap((part) => (typeof part.text === 'string' ? [part.text] : []));
      const toolCalls = toToolCalls(parts, 0);
      return {
        index: candidate.index ?? position,
        message: {
          role: 'assistant' as const,
          content: text.length > 0 ? text.join('') : null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: mapFinishReason(candidate.finishReason, toolCalls.length > 0) ?? 'stop',
        logprobs: null,
      };
    }),
  };
  if (response.usageMetadata !== undefined) completion.usage = toUsage(response.usageMetadata);
  return completion;
}

/**
 * A prompt refused by Gemini's safety filters arrives as a 2xx reply with `promptFeedback.blockReason` and
 * no candidates. It is a content-policy refusal, the same on every retry, so it is the client's 400.
 */
export function throwIfPromptBlocked(response: GeminiResponse, providerName: string): void {
  const reason = response.promptFeedback?.blockReason;
  if (reason === undefined || (response.candidates?.length ?? 0) > 0) return;
  throw new NexusError(
    'upstream_bad_request',
    `${providerName} blocked the prompt (${reason}): it violates the provider's content policy, so retrying ` +
      'the same request will not help.',
  );
}

export function completionId(response: GeminiResponse): string {
  return `chatcmpl-${response.responseId ?? randomBytes(12).toString('hex')}`;
}

/** The parts that make up the answer: thought summaries are reasoning, not content. */
export function answerParts(candidate: GeminiCandidate): GeminiPart[] {
  return (candidate.content?.parts ?? []).filter((part) => part.thought !== true);
}

/**
 * Function-call parts → OpenAI tool calls. Gemini's API gives calls no id, so ids are `call_<n>` numbered
 * from `first` within the candidate; the thought signature rides along where Google's own OpenAI-compatible
 * endpoint puts it, so a client that sends the message back unchanged keeps Gemini 3 multi-turn tools working.
 */
export function toToolCalls(
  parts: readonly GeminiPart[],
  first: number,
): Array<ToolCall & GoogleToolCallExtra> {
  const calls: Array<ToolCall & GoogleToolCallExtra> = [];
  for (const part of parts) {
    const call = part.functionCall;
    if (typeof call?.name !== 'string') continue;
    const toolCall: ToolCall & GoogleToolCallExtra = {
      id: call.id ?? `call_${first + calls.length}`,
      type: 'function',
      function: { name: call.name, arguments: JSON.stringify(call.args ?? {}) },
    };
    if (typeof part.thoughtSignature === 'string') {
      toolCall.extra_content = { google: { thought_signature: part.thoughtSignature } };
    }
    calls.push(toolCall);
  }
  return calls;
}

/** Gemini finish reason → OpenAI's; undefined while the candidate is still going. */
export function mapFinishReason(reason: string | undefined, hasToolCalls: boolean): FinishReason | undefined {
  switch (reason) {
    case undefined:
    case '':
      return undefined;
    case 'MAX_TOKENS':
      return 'length';
    case 'SAFETY':
    case 'RECITATION':
    case 'BLOCKLIST':
    case 'PROHIBITED_CONTENT':
    case 'SPII':
    case 'IMAGE_SAFETY':
    case 'IMAGE_PROHIBITED_CONTENT':
      return 'content_filter';
    default:
      // STOP, and the reasons OpenAI has no word for (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, ...).
      return hasToolCalls ? 'tool_calls' : 'stop';
  }
}

/**
 * Gemini usage → OpenAI usage. `promptTokenCount` already includes cached tokens, as OpenAI's
 * `prompt_tokens` does; tool-use prompt tokens (search results fed back) are billed as input too; thinking
 * tokens are billed as output and reported as reasoning tokens.
 */
export function toUsage(metadata: GeminiUsageMetadata): Usage {
  const prompt = (metadata.promptTokenCount ?? 0) + (metadata.toolUsePromptTokenCount ?? 0);
  const thoughts = metadata.thoughtsTokenCount ?? 0;
  const completion = (metadata.candidatesTokenCount ?? 0) + thoughts;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    // Never more than the prompt: cost accounting rejects that as impossible.
    prompt_tokens_details: { cached_tokens: Math.min(metadata.cachedContentTokenCount ?? 0, prompt) },
    completion_tokens_details: { reasoning_tokens: thoughts },
  };
}
