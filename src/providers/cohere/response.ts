import { NexusError } from '../../core/errors.ts';
import type { ChatCompletion, FinishReason, ToolCall, Usage } from '../../core/openai-types.ts';
import type { CohereChatResponse, CohereUsage } from './wire.ts';

/**
 * Cohere v2 replies → OpenAI shapes. Text comes from `message.content[].text` (a reasoning model's
 * `thinking` parts have no place in a Chat Completion and are left out); the `tool_plan` Cohere writes before
 * tool calls becomes the message content when there is no other text, as OpenAI models put that sentence in
 * `content` too.
 */

/**
 * Cohere finish reason → OpenAI's. `ERROR` and `TIMEOUT` mean the answer is incomplete, so they are not
 * mapped to a finish reason at all: the caller turns them into an error (see `failedGeneration`).
 */
export function mapFinishReason(reason: string | undefined): FinishReason | 'failed' {
  switch (reason) {
    case 'MAX_TOKENS':
      return 'length';
    case 'TOOL_CALL':
      return 'tool_calls';
    case 'ERROR':
    case 'TIMEOUT':
      return 'failed';
    default:
      // COMPLETE, STOP_SEQUENCE, and anything newer Cohere may add.
      return 'stop';
  }
}

/** The error for a generation Cohere ended with `ERROR` or `TIMEOUT`. */
export function failedGeneration(
  reason: string | undefined,
  providerName: string,
  detail: string | undefined,
  midStream: boolean,
): NexusError {
  const what = `${providerName} ended the generation with ${reason ?? 'an error'}${detail ? `: ${detail}` : ''}.`;
  if (midStream) return new NexusError('stream_interrupted', what);
  return new NexusError(reason === 'TIMEOUT' ? 'upstream_timeout' : 'upstream_error', what);
}

/**
 * Usage in OpenAI's terms: `tokens` (everything the model read and wrote, cached prompt tokens included)
 * when present, else `billed_units`; `cached_tokens` becomes `prompt_tokens_details.cached_tokens`.
 */
export function toUsage(usage: CohereUsage | null | undefined): Usage {
  const prompt = usage?.tokens?.input_tokens ?? usage?.billed_units?.input_tokens ?? 0;
  const completion = usage?.tokens?.output_tokens ?? usage?.billed_units?.output_tokens ?? 0;
  const result: Usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
  const cached = usage?.cached_tokens;
  // billed_units leave out what the cache served, so a cached count can exceed them; never report more.
  if (typeof cached === 'number') result.prompt_tokens_details = { cached_tokens: Math.min(cached, prompt) };
  return result;
}

/** Arguments of a call without parameters arrive empty; OpenAI clients parse them as JSON. */
export function argumentsText(text: string | null | undefined): string {
  return text == null || text === '' ? '{}' : text;
}

export function toChatCompletion(
  reply: CohereChatResponse,
  model: string,
  providerName: string,
): ChatCompletion {
  const finish = mapFinishReason(reply.finish_reason);
  if (finish === 'failed') throw failedGeneration(reply.finish_reason, providerName, undefined, false);
  const message = reply.message ?? {};
  const text = (message.content ?? [])
    .filter((part) => part.type === 'text' && typeof part.text === 'string')
    .map((part) => part.text)
    .join('');
  const toolCalls: ToolCall[] = (message.tool_calls ?? []).map((call, index) => ({
    id: call.id ?? `call_${index}`,
    type: 'function',
    function: { name: call.function?.name ?? '', arguments: argumentsText(call.function?.arguments) },
  }));
  const plan = message.tool_plan ?? '';
  const content = text !== '' ? text : plan !== '' ? plan : toolCalls.length > 0 ? null : '';
  return {
    id: reply.id ?? `cohere-${Date.now()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: finish,
        logprobs: null,
      },
    ],
    usage: toUsage(reply.usage),
  };
}
