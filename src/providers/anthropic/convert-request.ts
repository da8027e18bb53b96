import { NexusError } from '../../core/errors.ts';
import type { ChatMessage, ChatRequest, ContentPart, ToolCall } from '../../core/openai-types.ts';
import type { UpstreamTarget, Warning } from '../types.ts';
import { acceptsSamplingParameters } from './api-version.ts';
import { convertToolChoice, convertTools, type Warn } from './convert-tools.ts';
import type {
  AnthropicContentBlock,
  AnthropicImageBlock,
  AnthropicMessage,
  AnthropicRequest,
  AnthropicTextBlock,
  AnthropicToolResultBlock,
  AnthropicToolUseBlock,
} from './wire-types.ts';

/** Sent when neither the request nor the catalogue gives an output limit; Anthropic requires one. */
export const fallbackMaxTokens = 4096;

/** Request fields this converter translates; any other field is reported and not sent. */
const handledFields = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'top_k',
  'stop',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'user',
]);

/** Values of unsupported fields that ask for OpenAI's default behaviour, so dropping them changes nothing. */
const harmlessValues: Record<string, (value: unknown) => boolean> = {
  n: (value) => value === 1,
  logprobs: (value) => value === false,
  store: (value) => value === false,
  presence_penalty: (value) => value === 0,
  frequency_penalty: (value) => value === 0,
  response_format: (value) => (value as { type?: unknown }).type === 'text',
};

/**
 * Canonical (OpenAI Chat Completions) request → Anthropic Messages request. Every field that cannot be
 * carried over as given is reported in `warnings`; content Anthropic cannot accept at all (a tool call whose
 * arguments are not JSON, an image URL that is neither https nor a data URL) is a 400 naming the field.
 */
export function toAnthropicRequest(
  target: UpstreamTarget,
  request: ChatRequest,
  warnings: Warning[],
): AnthropicRequest {
  const warn: Warn = (param, message) => {
    if (!warnings.some((known) => known.param === param && known.message === message)) {
      warnings.push({ param, message });
    }
  };
  const { system, messages } = convertMessages(request.messages, warn);
  const body: AnthropicRequest = {
    model: target.model,
    messages,
    max_tokens: maxTokens(target, request, warn),
  };
  if (system.length === 1) body.system = system[0]!.text;
  else if (system.length > 1) body.system = system;

  convertSampling(target, request, body, warn);
  const stop = request.stop;
  if (typeof stop === 'string') body.stop_sequences = [stop];
  else if (Array.isArray(stop) && stop.length > 0) body.stop_sequences = stop.map(String);
  if (typeof request.user === 'string') body.metadata = { user_id: request.user };

  const tools = convertTools(request.tools, warn);
  if (tools.length > 0) body.tools = tools;
  const choice = convertToolChoice(request.tool_choice, warn);
  // Without tools a choice means nothing; Anthropic would reject it, so it is sent only alongside tools.
  if (choice !== undefined && tools.length > 0) body.tool_choice = choice;
  else if (choice?.type === 'any' || choice?.type === 'tool') {
    warn('tool_choice', 'No tools were given, so tool_choice was not sent.');
  }
  if (request.parallel_tool_calls === false && tools.length > 0 && body.tool_choice?.type !== 'none') {
    body.tool_choice = { ...(body.tool_choice ?? { type: 'auto' }), disable_parallel_tool_use: true };
  }

  for (const [field, value] of Object.entries(request)) {
    if (handledFields.has(field) || value == null || harmlessValues[field]?.(value) === true) continue;
    warn(
      field,
      field === 'n'
        ? `Anthropic returns one choice; 'n' (${String(value)}) was not sent.`
        : `Anthropic does not support '${field}'; it was not sent.`,
    );
  }
  return body;
}

function convertSampling(target: UpstreamTarget, request: ChatRequest, body: AnthropicRequest, warn: Warn) {
  const { temperature, top_p: topP, top_k: topK } = request;
  const version = target.instance.apiVersion;
  if (!acceptsSamplingParameters(version)) {
    for (const [param, value] of [
      ['temperature', temperature],
      ['top_p', topP],
      ['top_k', topK],
    ] as const) {
      if (value != null) warn(param, `Anthropic API version ${version} rejects '${param}'; it was not sent.`);
    }
    return;
  }
  if (temperature != null) {
    body.temperature = Math.min(Math.max(temperature, 0), 1);
    if (body.temperature !== temperature) {
      warn(
        'temperature',
        `Anthropic accepts temperature 0..1; ${temperature} was sent as ${body.temperature}.`,
      );
    }
  }
  if (topP != null) body.top_p = topP;
  if (typeof topK === 'number') body.top_k = topK;
}

function maxTokens(target: UpstreamTarget, request: ChatRequest, warn: Warn): number {
  const { max_completion_tokens: completion, max_tokens: legacy } = request;
  if (completion != null && legacy != null && completion !== legacy) {
    warn('max_tokens', `Both limits were given; Anthropic was sent max_completion_tokens (${completion}).`);
  }
  const requested = completion ?? legacy;
  if (requested != null) return requested;
  const catalogued = target.modelSpec?.maxOutputTokens ?? null;
  const chosen = catalogued ?? fallbackMaxTokens;
  warn(
    'max_tokens',
    `Anthropic requires max_tokens; Nexus sent ${chosen} (${catalogued === null ? 'its default' : "the model's maximum"}).`,
  );
  return chosen;
}

function convertMessages(
  input: readonly ChatMessage[],
  warn: Warn,
): { system: AnthropicTextBlock[]; messages: AnthropicMessage[] } {
  const system: AnthropicTextBlock[] = [];
  const turns: AnthropicMessage[] = [];
  const append = (role: AnthropicMessage['role'], blocks: AnthropicContentBlock[]) => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    // Anthropic expects alternating turns: consecutive same-role messages become one turn.
    if (last?.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };
  input.forEach((message, index) => {
    const path = `messages[${index}]`;
    if (message.name !== undefined)
      warn('messages[].name', 'Anthropic has no message names; they were not sent.');
    switch (message.role) {
      case 'system':
      case 'developer': {
        if (turns.length > 0) {
          warn(
            `${path}.role`,
            `Anthropic takes one system prompt; the ${message.role} message was moved into it.`,
          );
        }
        for (const block of convertContent(message.content, path, warn)) {
          if (block.type === 'text') system.push(block);
          else
            warn(
              `${path}.content`,
              `Anthropic's system prompt holds only text; an ${block.type} was dropped.`,
            );
        }
        return;
      }
      case 'user':
        append('user', convertContent(message.content, path, warn));
        return;
      case 'assistant':
        append('assistant', [
          ...convertContent(message.content, path, warn),
          ...(message.tool_calls ?? []).map((call, at) => toolUse(call, `${path}.tool_calls[${at}]`)),
        ]);
        return;
      case 'tool':
        append('user', [toolResult(message, path, warn)]);
        return;
      default:
        warn(`${path}.role`, `Anthropic has no '${message.role}' role; the message was not sent.`);
    }
  });
  for (const turn of turns) {
    // Anthropic wants a user turn's tool results before any text that follows them.
    if (turn.role === 'user') {
      turn.content = [
        ...turn.content.filter((block) => block.type === 'tool_result'),
        ...turn.content.filter((block) => block.type !== 'tool_result'),
      ];
    }
  }
  return { system, messages: turns };
}

function convertContent(
  content: ChatMessage['content'],
  path: string,
  warn: Warn,
): Array<AnthropicTextBlock | AnthropicImageBlock> {
  if (content == null) return [];
  // Anthropic rejects empty text blocks, and an empty string carries nothing.
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  const blocks: Array<AnthropicTextBlock | AnthropicImageBlock> = [];
  content.forEach((part: ContentPart, index) => {
    const partPath = `${path}.content[${index}]`;
    if (part.type === 'text' && typeof part.text === 'string') {
      if (part.text !== '') blocks.push({ type: 'text', text: part.text });
    } else if (part.type === 'image_url' && typeof part.image_url === 'object' && part.image_url !== null) {
      const image = part.image_url as { url: string; detail?: string };
      if (image.detail !== undefined && image.detail !== 'auto') {
        warn('image_url.detail', "Anthropic has no image 'detail' setting; it was not sent.");
      }
      blocks.push(imageBlock(image.url, `${partPath}.image_url.url`));
    } else {
      warn(partPath, `Anthropic cannot take a '${part.type}' content part here; it was not sent.`);
    }
  });
  return blocks;
}

function imageBlock(url: string, param: string): AnthropicImageBlock {
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  const comma = url.indexOf(',');
  const header = comma === -1 ? '' : url.slice(0, comma).toLowerCase();
  if (header.startsWith('data:') && header.endsWith(';base64')) {
    const mediaType = header.slice('data:'.length, -';base64'.length).split(';')[0] ?? '';
    if (mediaType !== '') {
      return { type: 'image', source: { type: 'base64', media_type: mediaType, data: url.slice(comma + 1) } };
    }
  }
  throw new NexusError(
    'invalid_request',
    `Invalid '${param}': Anthropic takes an http(s) URL or a base64 data URL (data:image/png;base64,...).`,
    { param },
  );
}

function toolUse(call: ToolCall, path: string): AnthropicToolUseBlock {
  const param = `${path}.function.arguments`;
  const text = call.function.arguments.trim();
  let input: unknown = {};
  if (text !== '') {
    try {
      input = JSON.parse(text);
    } catch {
      throw new NexusError('invalid_request', `Invalid '${param}': not valid JSON.`, { param });
    }
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new NexusError('invalid_request', `Invalid '${param}': Anthropic needs a JSON object.`, { param });
  }
  return { type: 'tool_use', id: call.id, name: call.function.name, input: input as Record<string, unknown> };
}

function toolResult(message: ChatMessage, path: string, warn: Warn): AnthropicToolResultBlock {
  if (typeof message.tool_call_id !== 'string' || message.tool_call_id === '') {
    const param = `${path}.tool_call_id`;
    throw new NexusError('invalid_request', `Invalid '${param}': a tool message needs its tool_call_id.`, {
      param,
    });
  }
  const content =
    typeof message.content === 'string' ? message.content : convertContent(message.content, path, warn);
  return { type: 'tool_result', tool_use_id: message.tool_call_id, content };
}
