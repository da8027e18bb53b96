import type { ChatCompletion, ToolCall, Usage } from '../../core/openai-types.ts';
import type { Warning } from '../types.ts';
import { mapStopReason } from './map-stop-reason.ts';
import type { AnthropicResponse, AnthropicUsage } from './wire-types.ts';

/**
 * Anthropic Message → OpenAI `chat.completion`. Text blocks become the message content, `tool_use` blocks
 * become `tool_calls` (arguments are the JSON text of the input); other block kinds (thinking, server tool
 * results) have no OpenAI place and are reported.
 */
export function toChatCompletion(message: AnthropicResponse, warnings: Warning[]): ChatCompletion {
  const texts: string[] = [];
  const toolCalls: ToolCall[] = [];
  for (const block of message.content) {
    if (block.type === 'text' && typeof block.text === 'string') texts.push(block.text);
    else if (block.type === 'tool_use' && typeof block.id === 'string' && typeof block.name === 'string') {
      toolCalls.push({
        id: block.id,
        type: 'function',
        function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
      });
    } else reportDroppedBlock(block.type, warnings);
  }
  const content = texts.length > 0 ? texts.join('') : toolCalls.length > 0 ? null : '';
  return {
    id: message.id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: message.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content,
          refusal: null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        logprobs: null,
        finish_reason: mapStopReason(message.stop_reason, warnings),
      },
    ],
    usage: toUsage(message.usage ?? {}),
  };
}

/**
 * Anthropic usage → OpenAI usage. Anthropic's `input_tokens` excludes cached tokens; OpenAI's
 * `prompt_tokens` includes them, so the three input counts are added up. Cache reads are OpenAI's
 * `cached_tokens`; cache writes, which OpenAI does not report, go in `cache_creation_tokens` when given.
 */
export function toUsage(usage: AnthropicUsage): Usage {
  const input = usage.input_tokens ?? 0;
  const cacheRead = usage.cache_read_input_tokens ?? 0;
  const cacheCreation = usage.cache_creation_input_tokens;
  const promptTokens = input + cacheRead + (cacheCreation ?? 0);
  const completionTokens = usage.output_tokens ?? 0;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: {
      cached_tokens: cacheRead,
      ...(cacheCreation != null ? { cache_creation_tokens: cacheCreation } : {}),
    },
  };
}

/** Warns once per block kind that the OpenAI shape cannot carry. */
export function reportDroppedBlock(type: string, warnings: Warning[]): void {
  const message = `Anthropic returned a '${type}' content block, which the OpenAI format cannot carry; it was left out.`;
  if (!warnings.some((warning) => warning.message === message)) warnings.push({ param: 'content', message });
}

/** Checks the fields the converter relies on; returns a description of what is missing, or undefined. */
export function describeInvalidMessage(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return 'a body that is not an object';
  const record = body as Record<string, unknown>;
  if (typeof record.id !== 'string' || typeof record.model !== 'string')
    return 'a message without id or model';
  if (!Array.isArray(record.content)) return 'a message without content';
  return undefined;
}
