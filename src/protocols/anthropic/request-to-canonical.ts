import { NexusError } from '../../core/errors.ts';
import type { ChatMessage, ChatRequest, ContentPart, ToolCall } from '../../core/openai-types.ts';
import type { Warning } from '../../core/warning.ts';
import type {
  ContentBlockParam,
  MessageParam,
  MessagesRequest,
  TextBlockParam,
  ToolChoiceParam,
  ToolParam,
} from './validate.ts';

/** A conversion result: the value, and what could not be carried over (never dropped in silence). */
export interface Converted<T> {
  readonly value: T;
  readonly warnings: Warning[];
}

export interface CanonicalOptions {
  /** The field the first target expects for the output limit (catalogue quirk); default `max_tokens`. */
  readonly maxTokensField?: 'max_tokens' | 'max_completion_tokens' | undefined;
}

/** Top-level fields this converter carries over; any other field becomes a warning. */
const handledFields = new Set([
  'model',
  'max_tokens',
  'messages',
  'system',
  'stream',
  'stop_sequences',
  'temperature',
  'top_p',
  'metadata',
  'tools',
  'tool_choice',
  'output_config',
]);

/** Why a known Anthropic field has no canonical equivalent, for a clearer warning than the generic one. */
const unexpressible: Record<string, string> = {
  top_k: "'top_k' has no OpenAI-compatible equivalent",
  thinking: "extended thinking ('thinking') is Anthropic-only",
  cache_control: "prompt caching ('cache_control') is Anthropic-only",
  service_tier: "'service_tier' is Anthropic-only",
  container: "'container' is Anthropic-only",
  mcp_servers: "'mcp_servers' (MCP connector) is Anthropic-only",
  context_management: "'context_management' is Anthropic-only",
};

/**
 * Anthropic Messages request → canonical (OpenAI Chat Completions) request, for any non-native target.
 *  - `system` (string or text blocks) becomes the first system message; several blocks are joined by `\n`.
 *  - Text and image blocks become content parts (base64 sources as data URLs, url sources as URLs); text
 *    documents become text parts and base64 PDFs OpenAI `file` parts.
 *  - Assistant `tool_use` blocks become `tool_calls` (input serialised as the arguments JSON); user
 *    `tool_result` blocks become `tool` messages placed before the rest of that user turn, as OpenAI requires.
 *    `is_error: true` is expressed by prefixing the result text with `Error: `. Images inside a tool result
 *    follow in a user message, since OpenAI tool messages carry only text (reported as a warning).
 *  - `tools` → functions (`input_schema` → `parameters`); `tool_choice` auto/any/tool/none → auto/required/
 *    function/none; `disable_parallel_tool_use` → `parallel_tool_calls: false`.
 *  - `stop_sequences` → `stop`, `metadata.user_id` → `user`, `output_config.format` → `response_format`.
 * Whatever has no canonical form (cache_control, thinking, top_k, citations, server tools, ...) is reported in
 * `warnings`. Content the model must see but that cannot be sent (file ids, PDF URLs) is a 400, not a warning.
 */
export function anthropicToCanonical(
  request: MessagesRequest,
  options: CanonicalOptions = {},
): Converted<ChatRequest> {
  const notes = new Notes();
  if (request.max_tokens === 0) {
    throw new NexusError(
      'invalid_request',
      'max_tokens: 0 (prompt-cache pre-warming) is only possible with an Anthropic model.',
      { param: 'max_tokens' },
    );
  }
  const messages: ChatMessage[] = [];
  const system = systemText(request.system, notes);
  if (system !== undefined) messages.push({ role: 'system', content: system });
  request.messages.forEach((message, index) => {
    messages.push(...convertMessage(message, `messages.${index}`, notes));
  });
  if (request.messages.at(-1)?.role === 'assistant') {
    notes.add(
      'messages',
      'A final assistant message (prefill) is sent as context; a non-Anthropic model may not continue it.',
    );
  }

  const chat: ChatRequest = { model: request.model, messages };
  chat[options.maxTokensField ?? 'max_tokens'] = request.max_tokens;
  if (request.stream === true) {
    chat.stream = true;
    // Usage at the end of the stream gives message_delta its real token counts.
    chat.stream_options = { include_usage: true };
  }
  if (request.temperature !== undefined) chat.temperature = request.temperature;
  if (request.top_p !== undefined) chat.top_p = request.top_p;
  if (request.stop_sequences !== undefined && request.stop_sequences.length > 0) {
    chat.stop = request.stop_sequences;
    notes.add(
      'stop_sequences',
      "'stop_sequences' are sent as 'stop'; when one ends the reply, stop_reason is 'end_turn' (the upstream does not say which sequence matched).",
    );
  }
  convertMetadata(request, chat, notes);
  convertTools(request, chat, notes);
  convertOutputConfig(request.output_config, chat, notes);
  for (const field of Object.keys(request)) {
    if (handledFields.has(field)) continue;
    const reason = unexpressible[field] ?? `'${field}' is not part of the OpenAI-compatible request`;
    notes.add(field, `${reason}; it was not sent.`);
  }
  return { value: chat, warnings: notes.list() };
}

/** Collects warnings, one per param, counting repeats (cache_control on twelve blocks is one warning). */
class Notes {
  readonly #byParam = new Map<string, { message: string; count: number }>();

  add(param: string, message: string): void {
    const entry = this.#byParam.get(param);
    if (entry === undefined) this.#byParam.set(param, { message, count: 1 });
    else entry.count++;
  }

  list(): Warning[] {
    return [...this.#byParam].map(([param, { message, count }]) => ({
      param,
      message: count > 1 ? `${message} (${count} times)` : message,
    }));
  }
}

function systemText(system: MessagesRequest['system'], notes: Notes): string | undefined {
  if (system === undefined) return undefined;
  if (typeof system === 'string') return system === '' ? undefined : system;
  for (const block of system) noteBlockExtras(block, notes);
  const text = system.map((block) => block.text).join('\n');
  return text === '' ? undefined : text;
}

function noteBlockExtras(block: ContentBlockParam | TextBlockParam, notes: Notes): void {
  if (block.cache_control != null) {
    notes.add('cache_control', "Prompt caching ('cache_control') is Anthropic-only; it was not sent.");
  }
  if (Array.isArray(block.citations) && block.citations.length > 0) {
    notes.add('citations', 'Citations are Anthropic-only; they were not sent.');
  }
}

function convertMessage(message: MessageParam, path: string, notes: Notes): ChatMessage[] {
  const role = message.role;
  if (typeof message.content === 'string') return [{ role, content: message.content }];
  if (role === 'assistant') return [convertAssistant(message.content, path, notes)];
  if (role === 'system') {
    const texts = message.content.filter((block) => block.type === 'text') as TextBlockParam[];
    return [{ role, content: systemText(texts, notes) ?? '' }];
  }
  const toolMessages: ChatMessage[] = [];
  const parts: ContentPart[] = [];
  message.content.forEach((block, index) => {
    const where = `${path}.content.${index}`;
    noteBlockExtras(block, notes);
    if (block.type === 'tool_result') {
      toolMessages.push(convertToolResult(block, where, parts, notes));
      return;
    }
    const part = contentPart(block, where, notes);
    if (part !== undefined) parts.push(part);
  });
  // A turn whose blocks were all reported and left out still takes its place in the conversation.
  if (parts.length === 0) return toolMessages.length > 0 ? toolMessages : [{ role: 'user', content: '' }];
  const only = parts[0];
  const content = parts.length === 1 && only?.type === 'text' ? (only.text as string) : parts;
  return [...toolMessages, { role: 'user', content }];
}

function convertAssistant(blocks: ContentBlockParam[], path: string, notes: Notes): ChatMessage {
  const parts: ContentPart[] = [];
  const toolCalls: ToolCall[] = [];
  blocks.forEach((block, index) => {
    noteBlockExtras(block, notes);
    if (block.type === 'tool_use') {
      toolCalls.push({
        id: block.id as string,
        type: 'function',
        function: { name: block.name as string, arguments: JSON.stringify(block.input ?? {}) },
      });
    } else if (block.type === 'thinking' || block.type === 'redacted_thinking') {
      notes.add('thinking', 'Thinking blocks of earlier turns are Anthropic-only; they were not sent.');
    } else {
      const part = contentPart(block, `${path}.content.${index}`, notes);
      if (part !== undefined) parts.push(part);
    }
  });
  const texts = parts.filter((part) => part.type === 'text') as Array<{ type: 'text'; text: string }>;
  if (texts.length < parts.length) {
    notes.add(
      `${path}.content`,
      'Only text and tool_use blocks can be sent in an assistant turn; others were not sent.',
    );
  }
  const content = texts.length === 0 ? null : texts.length === 1 ? texts[0]!.text : texts;
  const message: ChatMessage = { role: 'assistant', content };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return message;
}

/** One tool_result → one `tool` message; images inside it are appended to `followUp` (a user message). */
function convertToolResult(
  block: ContentBlockParam,
  path: string,
  followUp: ContentPart[],
  notes: Notes,
): ChatMessage {
  const texts: string[] = [];
  const content = block.content as string | ContentBlockParam[] | undefined;
  if (typeof content === 'string') texts.push(content);
  else {
    (content ?? []).forEach((item, index) => {
      noteBlockExtras(item, notes);
      const part = contentPart(item, `${path}.content.${index}`, notes);
      if (part === undefined) return;
      if (part.type === 'text') texts.push(part.text as string);
      else {
        followUp.push(part);
        notes.add(
          'tool_result',
          'Images and files in a tool_result are sent in a user message after the tool results (OpenAI tool messages carry text only).',
        );
      }
    });
  }
  const text = texts.join('\n');
  return {
    role: 'tool',
    tool_call_id: block.tool_use_id as string,
    content: block.is_error === true ? (text === '' ? 'Error' : `Error: ${text}`) : text,
  };
}

/** A user-side content block as an OpenAI content part; undefined when it was reported and left out. */
function contentPart(block: ContentBlockParam, path: string, notes: Notes): ContentPart | undefined {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: block.text as string };
    case 'image':
      return { type: 'image_url', image_url: { url: imageUrl(block.source as Source, `${path}.source`) } };
    case 'document':
      return documentPart(block, path, notes);
    default:
      notes.add(block.type, `Content blocks of type '${block.type}' are Anthropic-only; they were not sent.`);
      return undefined;
  }
}

interface Source {
  type: string;
  media_type?: string;
  data?: string;
  url?: string;
  content?: string | TextBlockParam[];
}

function imageUrl(source: Source, path: string): string {
  if (source.type === 'base64') return `data:${source.media_type};base64,${source.data}`;
  if (source.type === 'url') return source.url as string;
  throw unsendable(path, `image source '${source.type}'`);
}

function documentPart(block: ContentBlockParam, path: string, notes: Notes): ContentPart {
  const source = block.source as Source;
  if (block.context != null)
    notes.add('document.context', "Document 'context' is Anthropic-only; it was not sent.");
  if (source.type === 'text') return { type: 'text', text: source.data as string };
  if (source.type === 'content') {
    const content = source.content ?? '';
    return {
      type: 'text',
      text: typeof content === 'string' ? content : content.map((b) => b.text).join('\n'),
    };
  }
  if (source.type === 'base64' && source.media_type === 'application/pdf') {
    const filename = typeof block.title === 'string' && block.title !== '' ? block.title : 'document.pdf';
    return { type: 'file', file: { filename, file_data: `data:application/pdf;base64,${source.data}` } };
  }
  throw unsendable(
    `${path}.source`,
    `document source '${source.type}'${source.media_type ? ` (${source.media_type})` : ''}`,
  );
}

function unsendable(path: string, what: string): NexusError {
  return new NexusError(
    'invalid_request',
    `${path}: ${what} can only be read by an Anthropic model; send the content inline (base64) instead.`,
    { param: path },
  );
}

function convertMetadata(request: MessagesRequest, chat: ChatRequest, notes: Notes): void {
  const metadata = request.metadata;
  if (metadata === undefined) return;
  if (typeof metadata.user_id === 'string') chat.user = metadata.user_id;
  for (const key of Object.keys(metadata)) {
    if (key !== 'user_id')
      notes.add(`metadata.${key}`, `'metadata.${key}' has no OpenAI equivalent; it was not sent.`);
  }
}

const toolFields = new Set(['type', 'name', 'description', 'input_schema', 'cache_control', 'strict']);

function convertTools(request: MessagesRequest, chat: ChatRequest, notes: Notes): void {
  const tools: Array<Record<string, unknown>> = [];
  (request.tools ?? []).forEach((tool: ToolParam, index) => {
    if (tool.cache_control != null) {
      notes.add('cache_control', "Prompt caching ('cache_control') is Anthropic-only; it was not sent.");
    }
    if (tool.type !== undefined && tool.type !== 'custom') {
      notes.add(
        `tools.${index}`,
        `Server tool '${tool.name}' (${tool.type}) is Anthropic-only; it was not sent.`,
      );
      return;
    }
    for (const key of Object.keys(tool)) {
      if (!toolFields.has(key))
        notes.add(`tools.${index}.${key}`, `Tool field '${key}' has no OpenAI equivalent; it was not sent.`);
    }
    const fn: Record<string, unknown> = { name: tool.name };
    if (tool.description !== undefined) fn.description = tool.description;
    fn.parameters = tool.input_schema;
    if (typeof tool.strict === 'boolean') fn.strict = tool.strict;
    tools.push({ type: 'function', function: fn });
  });
  if (tools.length > 0) chat.tools = tools;
  const choice = request.tool_choice;
  if (choice === undefined) return;
  if (tools.length === 0) {
    if (choice.type !== 'none' && choice.type !== 'auto') {
      notes.add('tool_choice', 'tool_choice was not sent: no tool could be sent.');
    }
    return;
  }
  const converted = toolChoiceOf(choice);
  if (converted === undefined) {
    notes.add('tool_choice', `tool_choice '${choice.type}' has no OpenAI equivalent; it was not sent.`);
    return;
  }
  chat.tool_choice = converted;
  if (choice.disable_parallel_tool_use === true && choice.type !== 'none') chat.parallel_tool_calls = false;
}

function toolChoiceOf(choice: ToolChoiceParam): ChatRequest['tool_choice'] {
  switch (choice.type) {
    case 'auto':
      return 'auto';
    case 'any':
      return 'required';
    case 'none':
      return 'none';
    case 'tool':
      return { type: 'function', function: { name: choice.name } };
    default:
      return undefined;
  }
}

function convertOutputConfig(config: unknown, chat: ChatRequest, notes: Notes): void {
  if (config === undefined || config === null || typeof config !== 'object') return;
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    const format = value as { type?: unknown; schema?: unknown } | null;
    if (key === 'format' && format?.type === 'json_schema' && typeof format.schema === 'object') {
      chat.response_format = {
        type: 'json_schema',
        json_schema: { name: 'output', schema: format.schema, strict: true },
      };
    } else if (value != null) {
      notes.add(`output_config.${key}`, `'output_config.${key}' has no OpenAI equivalent; it was not sent.`);
    }
  }
}
