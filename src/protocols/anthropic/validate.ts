import { z } from 'zod';
import { type IssueStyle, validateBody } from '../../core/validate-request.ts';

/**
 * The validate stage of `POST /v1/messages` and `/v1/messages/count_tokens`: the Anthropic Messages request
 * checked as far as Nexus relies on it, with Anthropic's own limits. Objects are loose, so fields this schema
 * does not know (newer API features) survive validation: a native Anthropic upstream receives them as sent, and
 * translation reports them as warnings. Block and tool types Nexus does not know pass through unchecked for
 * the same reason. The first problem becomes `invalid_request` whose `param` is the dotted path Anthropic uses
 * in its own messages (`messages.0.content.1.source.data`).
 */

const cacheControl = z.looseObject({ type: z.string() }).nullish();

const textBlock = z.looseObject({
  type: z.literal('text'),
  text: z.string(),
  cache_control: cacheControl,
  citations: z.array(z.unknown()).nullish(),
});

/** Checks an object against the schema registered for its `type`; unknown types pass untouched. */
function byType(schemas: Record<string, z.ZodType>) {
  return z.looseObject({ type: z.string().min(1) }).superRefine((value, context) => {
    const result = schemas[value.type]?.safeParse(value);
    for (const issue of result?.error?.issues ?? []) {
      context.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    }
  });
}

const imageSource = byType({
  base64: z.looseObject({
    type: z.literal('base64'),
    media_type: z.string().regex(/^image\/[\w.+-]+$/, 'must be an image media type such as image/png'),
    data: z.string().min(1, 'must not be empty'),
  }),
  url: z.looseObject({ type: z.literal('url'), url: z.string().min(1, 'must not be empty') }),
  file: z.looseObject({ type: z.literal('file'), file_id: z.string().min(1) }),
});

const documentSource = byType({
  base64: z.looseObject({ type: z.literal('base64'), media_type: z.string(), data: z.string().min(1) }),
  text: z.looseObject({ type: z.literal('text'), media_type: z.string().optional(), data: z.string() }),
  url: z.looseObject({ type: z.literal('url'), url: z.string().min(1) }),
  content: z.looseObject({ type: z.literal('content'), content: z.union([z.string(), z.array(textBlock)]) }),
  file: z.looseObject({ type: z.literal('file'), file_id: z.string().min(1) }),
});

const imageBlock = z.looseObject({
  type: z.literal('image'),
  source: imageSource,
  cache_control: cacheControl,
});
const documentBlock = z.looseObject({
  type: z.literal('document'),
  source: documentSource,
  cache_control: cacheControl,
});

/** What a tool result may hold; other types (search results) pass through unchecked. */
const toolResultContent = byType({ text: textBlock, image: imageBlock, document: documentBlock });

const blocks: Record<string, z.ZodType> = {
  text: textBlock,
  image: imageBlock,
  document: documentBlock,
  tool_use: z.looseObject({
    type: z.literal('tool_use'),
    id: z.string().min(1),
    name: z.string().min(1),
    input: z.record(z.string(), z.unknown()),
    cache_control: cacheControl,
  }),
  tool_result: z.looseObject({
    type: z.literal('tool_result'),
    tool_use_id: z.string().min(1),
    content: z.union([z.string(), z.array(toolResultContent)]).optional(),
    is_error: z.boolean().optional(),
    cache_control: cacheControl,
  }),
  thinking: z.looseObject({ type: z.literal('thinking'), thinking: z.string(), signature: z.string() }),
  redacted_thinking: z.looseObject({ type: z.literal('redacted_thinking'), data: z.string() }),
};

const contentBlock = byType(blocks);

const message = z.looseObject({
  role: z.enum(['user', 'assistant', 'system']),
  content: z.union([z.string(), z.array(contentBlock)]),
});

/** A client tool (`type` absent or `custom`) needs a JSON schema; server tools are checked upstream. */
const tool = z
  .looseObject({ type: z.string().optional(), name: z.string().min(1) })
  .superRefine((value, context) => {
    if (value.type !== undefined && value.type !== 'custom') return;
    const result = z
      .looseObject({
        name: z.string().min(1).max(128),
        description: z.string().optional(),
        input_schema: z.looseObject({ type: z.string() }),
        cache_control: cacheControl,
        strict: z.boolean().optional(),
      })
      .safeParse(value);
    for (const issue of result.error?.issues ?? []) {
      context.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    }
  });

const toolChoice = byType({
  auto: z.looseObject({ type: z.literal('auto'), disable_parallel_tool_use: z.boolean().optional() }),
  any: z.looseObject({ type: z.literal('any'), disable_parallel_tool_use: z.boolean().optional() }),
  none: z.looseObject({ type: z.literal('none') }),
  tool: z.looseObject({
    type: z.literal('tool'),
    name: z.string().min(1),
    disable_parallel_tool_use: z.boolean().optional(),
  }),
});

const common = {
  model: z.string().min(1).max(256),
  messages: z.array(message).min(1, 'must contain at least one message'),
  system: z.union([z.string(), z.array(textBlock)]).optional(),
  tools: z.array(tool).optional(),
  tool_choice: toolChoice.optional(),
  thinking: z.looseObject({ type: z.string() }).optional(),
};

/** `POST /v1/messages`: Anthropic's body; unknown fields are kept. */
export const messagesRequest = z.looseObject({
  ...common,
  // 0 is Anthropic's cache pre-warming request; only a native Anthropic upstream can honour it.
  max_tokens: z.int().min(0),
  stream: z.boolean().optional(),
  stop_sequences: z.array(z.string()).optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.int().min(0).optional(),
  metadata: z.looseObject({ user_id: z.string().nullish() }).optional(),
});

/** `POST /v1/messages/count_tokens`: the conversation without `max_tokens` and `stream`. */
export const countTokensRequest = z.looseObject(common);

export type CacheControl = z.infer<typeof cacheControl>;
export type TextBlockParam = z.infer<typeof textBlock>;

/** A content block as validated: known types have their fields checked, every type keeps all its fields. */
export interface ContentBlockParam {
  type: string;
  [field: string]: unknown;
}

export interface MessageParam {
  role: 'user' | 'assistant' | 'system';
  content: string | ContentBlockParam[];
  [field: string]: unknown;
}

export interface ToolParam {
  type?: string | undefined;
  name: string;
  description?: string | undefined;
  input_schema?: Record<string, unknown> | undefined;
  [field: string]: unknown;
}

export interface ToolChoiceParam {
  type: string;
  name?: string | undefined;
  disable_parallel_tool_use?: boolean | undefined;
  [field: string]: unknown;
}

/** The count_tokens request: the conversation without `max_tokens` and `stream`. Unknown fields are kept. */
export interface CountTokensRequest {
  model: string;
  messages: MessageParam[];
  system?: string | TextBlockParam[] | undefined;
  tools?: ToolParam[] | undefined;
  tool_choice?: ToolChoiceParam | undefined;
  thinking?: { type: string; [field: string]: unknown } | undefined;
  [field: string]: unknown;
}

/** The Anthropic Messages request, as validated. Unknown fields are kept. */
export interface MessagesRequest extends CountTokensRequest {
  max_tokens: number;
  stream?: boolean | undefined;
  stop_sequences?: string[] | undefined;
  temperature?: number | undefined;
  top_p?: number | undefined;
  top_k?: number | undefined;
  metadata?: { user_id?: string | null | undefined; [field: string]: unknown } | undefined;
}

export function validateMessagesRequest(body: unknown): MessagesRequest {
  return validateBody(messagesRequest, body, anthropicStyle) as MessagesRequest;
}

export function validateCountTokensRequest(body: unknown): CountTokensRequest {
  return validateBody(countTokensRequest, body, anthropicStyle) as CountTokensRequest;
}

/** Anthropic's style: dotted paths and `path: problem` messages, as its own API words them. */
const anthropicStyle: IssueStyle = {
  path: (path) => anthropicPath(path),
  message: (param, detail) => `${param}: ${detail}`,
  required: 'Field required.',
};

/** `messages.0.content.1.type`, the form Anthropic's own error messages use. */
export function anthropicPath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.');
}
