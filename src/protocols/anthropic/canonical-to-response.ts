import { NexusError } from '../../core/errors.ts';
import type { ChatCompletion, Usage } from '../../core/openai-types.ts';
import type { Warning } from '../../core/warning.ts';
import type { Converted } from './request-to-canonical.ts';

/** Anthropic's `stop_reason` values that a canonical reply can produce. */
export type AnthropicStopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'refusal';

export interface AnthropicUsage {
  /** Prompt tokens that were neither read from nor written to the prompt cache. */
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export interface AnthropicTextBlock {
  type: 'text';
  text: string;
}

export interface AnthropicToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export type AnthropicContentBlock = AnthropicTextBlock | AnthropicToolUseBlock;

/** The Anthropic `message` object, as `POST /v1/messages` returns it. */
export interface AnthropicMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: AnthropicContentBlock[];
  stop_reason: AnthropicStopReason | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

/**
 * Canonical ChatCompletion → Anthropic `message`: the first choice's text (and refusal) as a text block, then
 * one `tool_use` block per tool call with its arguments parsed into `input`. An empty text is left out, as in
 * the streamed form. Arguments that are not a JSON object cannot be an Anthropic `input`: the block gets `{}`
 * and a warning says so.
 */
export function canonicalToAnthropic(completion: ChatCompletion): Converted<AnthropicMessage> {
  const warnings: Warning[] = [];
  const choice = completion.choices.find((candidate) => candidate.index === 0) ?? completion.choices[0];
  if (choice === undefined)
    throw new NexusError('upstream_error', 'The provider returned a reply without choices.');
  const id = anthropicMessageId(completion.id);
  const content: AnthropicContentBlock[] = [];
  const refusal = typeof choice.message.refusal === 'string' ? choice.message.refusal : '';
  const text = (choice.message.content ?? '') + refusal;
  if (text !== '') content.push({ type: 'text', text });
  (choice.message.tool_calls ?? []).forEach((call, index) => {
    const parsed = parseToolInput(call.function.arguments);
    const blockId = toolUseId(call.id, id, index);
    if (parsed === undefined) {
      warnings.push({
        param: 'tool_use',
        message: `Tool call ${blockId} had arguments that are not a JSON object; its input is {}.`,
      });
    }
    content.push({ type: 'tool_use', id: blockId, name: call.function.name, input: parsed ?? {} });
  });
  const usage = anthropicUsage(completion.usage);
  if (completion.usage === undefined) warnings.push(usageMissing);
  return {
    value: {
      id,
      type: 'message',
      role: 'assistant',
      model: completion.model,
      content,
      stop_reason: refusal !== '' ? 'refusal' : anthropicStopReason(choice.finish_reason),
      stop_sequence: null,
      usage,
    },
    warnings,
  };
}

export const usageMissing: Warning = {
  param: 'usage',
  message: 'The provider reported no token usage; usage counts are 0.',
};

/** OpenAI finish_reason → Anthropic stop_reason. Unknown non-null reasons count as a natural end. */
export function anthropicStopReason(finish: string | null | undefined): AnthropicStopReason | null {
  switch (finish) {
    case null:
    case undefined:
      return null;
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/**
 * OpenAI usage → Anthropic usage. OpenAI's `prompt_tokens` includes cached tokens; Anthropic's `input_tokens`
 * excludes both cache reads and cache writes, so `input_tokens = prompt − cached − cache creation`.
 */
export function anthropicUsage(usage: Usage | null | undefined): AnthropicUsage {
  if (usage == null) {
    return { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  }
  const cacheRead = count(usage.prompt_tokens_details?.cached_tokens);
  const cacheCreation = cacheCreationTokens(usage);
  return {
    input_tokens: Math.max(0, count(usage.prompt_tokens) - cacheRead - cacheCreation),
    output_tokens: count(usage.completion_tokens),
    cache_creation_input_tokens: cacheCreation,
    cache_read_input_tokens: cacheRead,
  };
}

/**
 * Prompt tokens written to the cache. OpenAI has no such field; providers that report it use one of these
 * (an Anthropic-backed canonical reply should use `prompt_tokens_details.cache_creation_tokens`).
 */
function cacheCreationTokens(usage: Usage): number {
  const details = usage.prompt_tokens_details as Record<string, unknown> | null | undefined;
  return count(
    details?.cache_creation_tokens ?? details?.cache_write_tokens ?? usage.cache_creation_input_tokens,
  );
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

/** `msg_` + the upstream id's own part, so a reply can be traced to the upstream call that made it. */
export function anthropicMessageId(upstreamId: string | undefined): string {
  const own = (upstreamId ?? '').replace(/^(chatcmpl-|msg_)/, '').replace(/[^\w-]/g, '');
  return `msg_${own === '' ? 'nexus' : own}`;
}

/** The tool call's own id when it has one; otherwise one derived from the message id and position. */
export function toolUseId(callId: string | undefined, messageId: string, index: number): string {
  return callId !== undefined && callId !== '' ? callId : `toolu_${messageId.slice(4)}_${index}`;
}

/** Arguments JSON → `input`; empty arguments are `{}`; undefined when they are not a JSON object. */
export function parseToolInput(argumentsJson: string): Record<string, unknown> | undefined {
  if (argumentsJson.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(argumentsJson);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
