import type { ChatMessage, ChatRequest, ContentPart } from '../../core/openai-types.ts';
import type { UpstreamTarget, Warning } from '../types.ts';
import type { CohereChatBody, CohereContentPart, CohereMessage, CohereTool } from './wire.ts';

/**
 * OpenAI Chat Completions → Cohere v2 `/chat` (docs.cohere.com/reference/chat). Fields with a Cohere
 * equivalent are translated (`top_p` → `p`, `stop` → `stop_sequences`, `max_completion_tokens` →
 * `max_tokens`: same meaning, so no warning); values outside Cohere's ranges are clamped and anything Cohere
 * cannot express is dropped, each with a warning.
 */

/** Request fields translated below; every other non-null field is dropped with a warning. */
const translated = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'n',
  'seed',
  'stop',
  'frequency_penalty',
  'presence_penalty',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'response_format',
]);

/** Cohere's documented ranges: `p` 0.01–0.99, both penalties 0–1. */
const ranges = {
  top_p: [0.01, 0.99],
  frequency_penalty: [0, 1],
  presence_penalty: [0, 1],
} as const;

export function buildCohereChatBody(
  target: UpstreamTarget,
  request: ChatRequest,
  warnings: Warning[],
): CohereChatBody {
  const name = target.instance.provider.name;
  const body: CohereChatBody = {
    model: target.model,
    messages: convertMessages(request.messages, name, warnings),
    stream: request.stream === true,
  };
  for (const [param, value] of Object.entries(request)) {
    if (value != null && !translated.has(param)) {
      warnings.push({ param, message: `${name} does not support '${param}'; it was not sent.` });
    }
  }
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (maxTokens != null) body.max_tokens = maxTokens;
  if (request.temperature != null) body.temperature = request.temperature;
  const p = clamp('top_p', request.top_p, name, warnings);
  if (p !== undefined) body.p = p;
  const frequency = clamp('frequency_penalty', request.frequency_penalty, name, warnings);
  if (frequency !== undefined) body.frequency_penalty = frequency;
  const presence = clamp('presence_penalty', request.presence_penalty, name, warnings);
  if (presence !== undefined) body.presence_penalty = presence;
  if (typeof request.seed === 'number') body.seed = request.seed;
  const stop = request.stop;
  if (typeof stop === 'string') body.stop_sequences = [stop];
  else if (Array.isArray(stop) && stop.length > 0) body.stop_sequences = stop as string[];
  if (request.n != null && request.n > 1) {
    warnings.push({ param: 'n', message: `${name} returns one choice; 'n' was not sent.` });
  }
  if (request.parallel_tool_calls === false) {
    warnings.push({
      param: 'parallel_tool_calls',
      message: `${name} cannot disable parallel tool calls; 'parallel_tool_calls' was not sent.`,
    });
  }
  applyTools(body, request, name, warnings);
  applyResponseFormat(body, request.response_format, name, warnings);
  return body;
}

function clamp(
  param: keyof typeof ranges,
  value: unknown,
  name: string,
  warnings: Warning[],
): number | undefined {
  if (typeof value !== 'number') return undefined;
  const [min, max] = ranges[param];
  const clamped = Math.min(max, Math.max(min, value));
  if (clamped !== value) {
    warnings.push({
      param,
      message: `${name} accepts '${param}' from ${min} to ${max}; ${value} was sent as ${clamped}.`,
    });
  }
  return clamped;
}

function convertMessages(messages: ChatMessage[], name: string, warnings: Warning[]): CohereMessage[] {
  const converted: CohereMessage[] = [];
  messages.forEach((message, index) => {
    const param = `messages.${index}`;
    if (message.name != null) {
      warnings.push({
        param: `${param}.name`,
        message: `${name} has no message names; 'name' was not sent.`,
      });
    }
    switch (message.role) {
      case 'system':
      case 'developer':
        converted.push({ role: 'system', content: textOf(message, param, name, warnings) });
        return;
      case 'user':
        converted.push({ role: 'user', content: userContent(message, param, name, warnings) });
        return;
      case 'assistant': {
        const text = textOf(message, param, name, warnings);
        const calls = message.tool_calls ?? [];
        if (calls.length === 0) {
          converted.push({ role: 'assistant', content: text });
          return;
        }
        // Cohere carries the text that accompanies tool calls as the `tool_plan`; replies do the reverse.
        converted.push({
          role: 'assistant',
          tool_calls: calls.map((call) => ({
            id: call.id,
            type: 'function',
            function: { name: call.function.name, arguments: call.function.arguments },
          })),
          ...(text === '' ? {} : { tool_plan: text }),
        });
        return;
      }
      case 'tool':
        converted.push({
          role: 'tool',
          tool_call_id: message.tool_call_id ?? '',
          content: textOf(message, param, name, warnings),
        });
        return;
      default:
        warnings.push({
          param: `${param}.role`,
          message: `${name} does not support '${message.role}' messages; message ${index} was not sent.`,
        });
    }
  });
  return converted;
}

/** User messages keep their parts: Cohere v2 takes `text` and `image_url` parts in OpenAI's own shape. */
function userContent(
  message: ChatMessage,
  param: string,
  name: string,
  warnings: Warning[],
): string | CohereContentPart[] {
  if (!Array.isArray(message.content)) return typeof message.content === 'string' ? message.content : '';
  const parts: CohereContentPart[] = [];
  message.content.forEach((part, index) => {
    if (part.type === 'text' && typeof part.text === 'string') {
      parts.push({ type: 'text', text: part.text });
    } else if (part.type === 'image_url' && isImagePart(part)) {
      const { url, detail } = part.image_url;
      parts.push({ type: 'image_url', image_url: detail === undefined ? { url } : { url, detail } });
    } else {
      warnings.push(droppedPart(`${param}.content.${index}`, part.type, name));
    }
  });
  return parts;
}

function isImagePart(
  part: ContentPart,
): part is { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' } } {
  const image = (part as { image_url?: { url?: unknown } }).image_url;
  return typeof image?.url === 'string';
}

/** Text of a system, assistant or tool message; text parts are joined with newlines, others dropped. */
function textOf(message: ChatMessage, param: string, name: string, warnings: Warning[]): string {
  if (typeof message.content === 'string') return message.content;
  if (!Array.isArray(message.content)) return '';
  const texts: string[] = [];
  message.content.forEach((part, index) => {
    if (part.type === 'text' && typeof part.text === 'string') texts.push(part.text);
    else warnings.push(droppedPart(`${param}.content.${index}`, part.type, name));
  });
  return texts.join('\n');
}

function droppedPart(param: string, type: string, name: string): Warning {
  return { param, message: `${name} does not accept '${type}' content here; the part was not sent.` };
}

function applyTools(body: CohereChatBody, request: ChatRequest, name: string, warnings: Warning[]): void {
  const requested = Array.isArray(request.tools) ? (request.tools as unknown[]) : [];
  let tools: CohereTool[] = [];
  let strict = 0;
  requested.forEach((entry, index) => {
    const tool = entry as {
      type?: string;
      function?: { name: string; description?: string; parameters?: object; strict?: boolean };
    };
    if (tool.type !== 'function' || tool.function === undefined) {
      warnings.push({
        param: `tools.${index}`,
        message: `${name} supports function tools only; a '${tool.type}' tool was not sent.`,
      });
      return;
    }
    const { name: toolName, description, parameters, strict: isStrict } = tool.function;
    if (isStrict === true) strict++;
    tools.push({
      type: 'function',
      function: {
        name: toolName,
        ...(typeof description === 'string' ? { description } : {}),
        // Cohere requires a parameters schema; OpenAI allows none for a function without arguments.
        parameters: (parameters as Record<string, unknown> | undefined) ?? { type: 'object', properties: {} },
      },
    });
  });
  if (strict > 0) {
    body.strict_tools = true;
    if (strict < tools.length) {
      warnings.push({
        param: 'tools',
        message: `${name} applies 'strict' to all tools or none; all tools were sent as strict.`,
      });
    }
  }

  const choice = request.tool_choice;
  if (choice != null && choice !== 'auto') {
    if (tools.length === 0) {
      warnings.push({ param: 'tool_choice', message: `No tools were sent, so 'tool_choice' was not sent.` });
    } else if (choice === 'none') {
      body.tool_choice = 'NONE';
    } else if (choice === 'required') {
      body.tool_choice = 'REQUIRED';
    } else {
      const named = (choice as { type?: string; function?: { name?: string } }).function?.name;
      const only = tools.filter((tool) => tool.function.name === named);
      if (named !== undefined && only.length > 0) {
        // Cohere cannot name a tool; offering only that tool and requiring a call has the same effect.
        tools = only;
        body.tool_choice = 'REQUIRED';
        warnings.push({
          param: 'tool_choice',
          message: `${name} cannot force a named tool; only '${named}' was offered, with tool_choice REQUIRED.`,
        });
      } else {
        warnings.push({
          param: 'tool_choice',
          message: `${name} does not support this 'tool_choice'; it was not sent.`,
        });
      }
    }
  }
  if (tools.length > 0) body.tools = tools;
}

function applyResponseFormat(body: CohereChatBody, format: unknown, name: string, warnings: Warning[]): void {
  if (format === null || typeof format !== 'object') return;
  const { type, json_schema: jsonSchema } = format as { type?: string; json_schema?: { schema?: unknown } };
  if (type === 'text') return;
  if (type === 'json_object') {
    body.response_format = { type: 'json_object' };
    return;
  }
  if (type === 'json_schema') {
    const schema = jsonSchema?.schema;
    body.response_format =
      schema !== null && typeof schema === 'object'
        ? { type: 'json_object', json_schema: schema as Record<string, unknown> }
        : { type: 'json_object' };
    return;
  }
  warnings.push({
    param: 'response_format',
    message: `${name} does not support response_format '${type}'; it was not sent.`,
  });
}
