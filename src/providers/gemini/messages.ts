import { NexusError } from '../../core/errors.ts';
import type { ChatMessage, ContentPart, ToolCall } from '../../core/openai-types.ts';
import type { Warning } from '../types.ts';
import type { GeminiContent, GeminiPart } from './wire.ts';

/**
 * OpenAI messages → Gemini `contents` + `systemInstruction`. Gemini has two roles (`user`, `model`) that
 * must alternate, one system instruction, function calls and results as parts, and no tool call ids:
 * results are matched to calls by function name, which is looked up from the earlier call's id.
 */
export interface ConvertedMessages {
  readonly contents: GeminiContent[];
  readonly systemInstruction: GeminiContent | undefined;
}

export interface MessageOptions {
  /** Send Google's documented placeholder when a replayed call has no thought signature (Gemini 3+). */
  readonly placeholderSignatures: boolean;
}

/**
 * Google's documented value for a function call whose real signature is unknown (history written by
 * another model or a client that dropped it): ai.google.dev/gemini-api/docs/thought-signatures.
 */
export const placeholderThoughtSignature = 'skip_thought_signature_validator';

/** Where Google's own OpenAI-compatible endpoint puts a call's thought signature; Nexus reads and writes it. */
export interface GoogleToolCallExtra {
  extra_content?: { google?: { thought_signature?: string } };
}

export function convertMessages(
  messages: readonly ChatMessage[],
  warnings: Warning[],
  options: MessageOptions,
): ConvertedMessages {
  const contents: GeminiContent[] = [];
  const system: GeminiPart[] = [];
  const toolNames = new Map<string, string>();
  let namesDropped = false;
  const append = (role: 'user' | 'model', parts: GeminiPart[]) => {
    if (parts.length === 0) return;
    const last = contents.at(-1);
    // Gemini wants alternating turns; consecutive messages of one role become one turn.
    if (last?.role === role) last.parts = [...(last.parts ?? []), ...parts];
    else contents.push({ role, parts });
  };

  messages.forEach((message, index) => {
    const param = `messages.${index}`;
    if (message.name !== undefined && message.role !== 'function') namesDropped = true;
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(...textParts(message.content));
        break;
      case 'user':
        append('user', userParts(message.content, param, warnings));
        break;
      case 'assistant':
        append('model', assistantParts(message, param, toolNames, options));
        break;
      case 'tool':
      case 'function':
        append('user', [functionResponse(message, param, toolNames)]);
        break;
    }
  });
  if (namesDropped) {
    warnings.push({ param: 'messages.name', message: 'Gemini has no message names; `name` was not sent.' });
  }
  return {
    contents,
    systemInstruction: system.length > 0 ? { parts: system } : undefined,
  };
}

function textParts(content: ChatMessage['content']): GeminiPart[] {
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  if (!Array.isArray(content)) return [];
  return content.flatMap((part) =>
    part.type === 'text' && typeof part.text === 'string' && part.text !== '' ? [{ text: part.text }] : [],
  );
}

function userParts(content: ChatMessage['content'], param: string, warnings: Warning[]): GeminiPart[] {
  if (!Array.isArray(content)) return textParts(content);
  return content.flatMap((part, index) => contentPart(part, `${param}.content.${index}`, warnings));
}

function contentPart(part: ContentPart, param: string, warnings: Warning[]): GeminiPart[] {
  switch (part.type) {
    case 'text':
      return textParts([part]);
    case 'image_url': {
      const image = part.image_url as { url: string; detail?: string };
      if (image.detail === 'low' || image.detail === 'high') {
        warnings.push({
          param: `${param}.image_url.detail`,
          message: 'Gemini has no per-image detail setting; `detail` was not sent.',
        });
      }
      return [mediaPart(image.url, `${param}.image_url.url`, warnings)];
    }
    case 'input_audio': {
      const audio = part.input_audio as { data?: unknown; format?: unknown } | undefined;
      if (typeof audio?.data === 'string' && typeof audio.format === 'string') {
        return [{ inlineData: { mimeType: `audio/${audio.format}`, data: audio.data } }];
      }
      break;
    }
    case 'file': {
      const file = part.file as { file_data?: unknown } | undefined;
      if (typeof file?.file_data === 'string' && file.file_data.startsWith('data:')) {
        return [mediaPart(file.file_data, `${param}.file.file_data`, warnings)];
      }
      break;
    }
  }
  warnings.push({
    param,
    message: `Gemini cannot take this '${part.type}' content part from Nexus; it was not sent.`,
  });
  return [];
}

/** A data URL becomes inline bytes; an http(s) URL becomes a file reference that Gemini fetches itself. */
function mediaPart(url: string, param: string, warnings: Warning[]): GeminiPart {
  if (url.startsWith('data:')) {
    const comma = url.indexOf(',');
    const header = url.slice(5, comma);
    const [mimeType = '', ...flags] = header.split(';');
    const payload = url.slice(comma + 1);
    if (comma < 0 || mimeType === '') {
      throw new NexusError('invalid_request', `Invalid '${param}': not a valid data URL.`, { param });
    }
    const data = flags.includes('base64')
      ? payload
      : Buffer.from(decodeURIComponent(payload), 'utf8').toString('base64');
    return { inlineData: { mimeType, data } };
  }
  if (!/^https?:\/\//i.test(url)) {
    throw new NexusError(
      'invalid_request',
      `Invalid '${param}': Gemini takes a data: URL or an http(s) URL.`,
      { param },
    );
  }
  const mimeType = mimeTypeOf(url);
  if (mimeType === undefined) {
    warnings.push({
      param,
      message: 'Could not tell the media type of an image URL from its extension; Gemini must detect it.',
    });
    return { fileData: { fileUri: url } };
  }
  return { fileData: { fileUri: url, mimeType } };
}

const mimeTypes: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
  mp3: 'audio/mp3',
  wav: 'audio/wav',
  mp4: 'video/mp4',
};

/** The media type implied by the URL path's extension (query and fragment ignored), if known. */
export function mimeTypeOf(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return undefined;
  }
  const dot = path.lastIndexOf('.');
  if (dot < 0 || dot < path.lastIndexOf('/')) return undefined;
  return mimeTypes[path.slice(dot + 1).toLowerCase()];
}

function assistantParts(
  message: ChatMessage,
  param: string,
  toolNames: Map<string, string>,
  options: MessageOptions,
): GeminiPart[] {
  const parts: GeminiPart[] = textParts(message.content);
  const calls: Array<ToolCall & GoogleToolCallExtra> = message.tool_calls ?? [];
  calls.forEach((call, index) => {
    toolNames.set(call.id, call.function.name);
    const part: GeminiPart = {
      functionCall: {
        name: call.function.name,
        args: parseArguments(call.function.arguments, `${param}.tool_calls.${index}.function.arguments`),
      },
    };
    const signature = call.extra_content?.google?.thought_signature;
    // Gemini checks the first call of each step only: the others of a parallel set carry no signature.
    if (typeof signature === 'string') part.thoughtSignature = signature;
    else if (index === 0 && options.placeholderSignatures)
      part.thoughtSignature = placeholderThoughtSignature;
    parts.push(part);
  });
  return parts;
}

function parseArguments(text: string, param: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new NexusError('invalid_request', `Invalid '${param}': the arguments are not valid JSON.`, {
      param,
    });
  }
  if (!isPlainObject(parsed)) {
    throw new NexusError(
      'invalid_request',
      `Invalid '${param}': Gemini needs the arguments as a JSON object.`,
      {
        param,
      },
    );
  }
  return parsed;
}

function functionResponse(message: ChatMessage, param: string, toolNames: Map<string, string>): GeminiPart {
  const name =
    message.role === 'function'
      ? message.name
      : message.tool_call_id === undefined
        ? undefined
        : toolNames.get(message.tool_call_id);
  if (name === undefined) {
    throw new NexusError(
      'invalid_request',
      `Invalid '${param}.tool_call_id': no earlier assistant tool call has the id ${JSON.stringify(message.tool_call_id ?? null)}; Gemini needs the function name it answers.`,
      { param: `${param}.tool_call_id` },
    );
  }
  const text = textParts(message.content)
    .map((part) => part.text)
    .join('');
  return { functionResponse: { name, response: responseObject(text) } };
}

/** Gemini's function response must be an object: JSON objects pass as they are, anything else is wrapped. */
export function responseObject(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    return isPlainObject(parsed) ? parsed : { result: parsed };
  } catch {
    return { result: text };
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
