import { z } from 'zod';
import { NexusError } from './errors.ts';
import type { ChatRequest, EmbeddingsRequest } from './openai-types.ts';

/**
 * The validate stage: checks the fields Nexus or every provider relies on, with OpenAI's own limits, and
 * keeps every other field as sent (loose objects) so OpenAI-compatible upstreams receive them untouched.
 * The first problem becomes an `invalid_request` error whose `param` names the field.
 */

const knownParts: Record<string, z.ZodType> = {
  text: z.looseObject({ type: z.literal('text'), text: z.string() }),
  image_url: z.looseObject({
    type: z.literal('image_url'),
    image_url: z.looseObject({ url: z.string().min(1), detail: z.enum(['auto', 'low', 'high']).optional() }),
  }),
};

/** A content part: `text` and `image_url` are checked in full; other types (audio, files) pass through. */
const contentPart = z.looseObject({ type: z.string().min(1) }).superRefine((part, context) => {
  const schema = knownParts[part.type];
  const result = schema?.safeParse(part);
  for (const issue of result?.error?.issues ?? []) {
    context.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  }
});

const toolCall = z.looseObject({
  id: z.string(),
  type: z.literal('function'),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});

const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
  name: z.string().optional(),
  tool_calls: z.array(toolCall).optional(),
  tool_call_id: z.string().optional(),
});

const tool = z.looseObject({
  type: z.string(),
  function: z.looseObject({
    name: z.string().min(1).max(64),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});

const optionalNumber = (min: number, max: number) => z.number().min(min).max(max).nullish();

/** Per-request fallback chains: `fallbacks` (LiteLLM) and `models` (OpenRouter); removed before the upstream. */
const fallbackFields = {
  fallbacks: z.array(z.string().min(1).max(256)).max(16).optional(),
  models: z.array(z.string().min(1).max(256)).max(16).optional(),
};

/** `POST /v1/chat/completions`: OpenAI's body, the fields Nexus relies on checked, every other kept. */
export const chatRequest = z.looseObject({
  model: z.string().min(1).max(256),
  messages: z.array(message).min(1, 'must contain at least one message'),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  temperature: optionalNumber(0, 2),
  top_p: optionalNumber(0, 1),
  frequency_penalty: optionalNumber(-2, 2),
  presence_penalty: optionalNumber(-2, 2),
  n: z.int().min(1).max(128).nullish(),
  max_tokens: z.int().min(1).nullish(),
  max_completion_tokens: z.int().min(1).nullish(),
  seed: z.int().nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  tools: z.array(tool).nullish(),
  tool_choice: z.union([z.enum(['none', 'auto', 'required']), z.looseObject({ type: z.string() })]).nullish(),
  response_format: z.looseObject({ type: z.string() }).nullish(),
  user: z.string().nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.int().min(0).max(20).nullish(),
  ...fallbackFields,
});

const embeddingsInput = z.union([
  z.string().min(1, 'must not be empty'),
  z.array(z.string().min(1, 'must not be empty')).min(1),
  z.array(z.int()).min(1),
  z.array(z.array(z.int()).min(1)).min(1),
]);

/** `POST /v1/embeddings`: OpenAI's body, the fields Nexus relies on checked, every other kept. */
export const embeddingsRequest = z.looseObject({
  model: z.string().min(1).max(256),
  input: embeddingsInput,
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.int().min(1).max(65_536).optional(),
  user: z.string().optional(),
  ...fallbackFields,
});

export function validateChatRequest(body: unknown): ChatRequest {
  return validateBody(chatRequest, body) as ChatRequest;
}

export function validateEmbeddingsRequest(body: unknown): EmbeddingsRequest {
  return validateBody(embeddingsRequest, body) as EmbeddingsRequest;
}

/** How a protocol names a field at fault and words the problem (OpenAI's style, or Anthropic's on /v1/messages). */
export interface IssueStyle {
  path(path: readonly PropertyKey[]): string;
  message(param: string, detail: string): string;
  /** The detail for a field that is missing altogether. */
  readonly required: string;
}

const openAIStyle: IssueStyle = {
  path: formatPath,
  message: (param, detail) => `Invalid '${param}': ${detail}`,
  required: 'this field is required.',
};

/**
 * Validates a JSON body against a schema; the first problem becomes an `invalid_request` error whose `param`
 * names the field in the protocol's own style.
 */
export function validateBody(schema: z.ZodType, body: unknown, style: IssueStyle = openAIStyle): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new NexusError('invalid_request', 'The request body must be a JSON object.');
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = deepestIssue(result.error.issues);
  const param = style.path(issue.path);
  const missing = issue.code === 'invalid_type' && valueAt(body, issue.path) === undefined;
  const detail = missing ? style.required : `${issue.message.replace(/^Invalid input: /, '')}.`;
  throw new NexusError('invalid_request', style.message(param, detail), { param });
}

/** For a union (a content part, say) zod reports the union itself; the branch issues say what is wrong. */
function deepestIssue(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue {
  let issue = issues[0]!;
  // Unions nest (a content part inside string | parts[]), so keep descending into the branch that got furthest.
  while (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const branches = issue.errors.map((branch) => branch[0]).filter((candidate) => candidate !== undefined);
    const best = branches.reduce((a, b) => (b.path.length > a.path.length ? b : a), branches[0]!);
    if (best === undefined) break;
    issue = { ...best, path: [...issue.path, ...best.path] };
  }
  return issue;
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let node = body;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** `messages[0].content`, the form OpenAI uses in `param`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (text, key) =>
      typeof key === 'number' ? `${text}[${key}]` : text === '' ? String(key) : `${text}.${String(key)}`,
    '',
  );
}
