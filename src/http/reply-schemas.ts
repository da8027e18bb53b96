import { z } from 'zod';
import { seed004Envelope } from './respond.ts';

/**
 * The reply bodies the deliver stages write (deliver.ts), as /openapi.json describes them. A chat completion,
 * an embeddings list and an Anthropic message come from the serving provider (or its translation), so their
 * objects are loose: what a provider adds passes through, and the schema names what every reply has. Seed
 * 004's envelopes are written by Nexus itself and are strict.
 */

const tokenCount = z.int().min(0);

/** OpenAI's `usage` of a chat completion (providers add `prompt_tokens_details` and more). */
const chatUsage = z.looseObject({
  prompt_tokens: tokenCount,
  completion_tokens: tokenCount,
  total_tokens: tokenCount,
});

// A plain object typed like core's ToolCall (an interface, which has no index signature to match a loose
// object's), documented as open all the same: a provider may add fields.
const toolCall = z
  .object({
    id: z.string(),
    type: z.literal('function'),
    function: z.object({ name: z.string(), arguments: z.string() }),
  })
  .meta({ additionalProperties: {} });

const choice = z.looseObject({
  index: z.int().min(0),
  message: z.looseObject({
    role: z.literal('assistant'),
    content: z.string().nullable(),
    tool_calls: z.array(toolCall).optional(),
  }),
  finish_reason: z.enum(['stop', 'length', 'tool_calls', 'content_filter', 'function_call']).nullable(),
});

/** `POST /v1/chat/completions` without `stream`: a `chat.completion` whose `model` is the real model id. */
export const chatCompletionSchema = z.looseObject({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.int(),
  model: z.string(),
  choices: z.array(choice),
  usage: chatUsage.optional(),
});

/** `POST /v1/embeddings`: one vector per input, floats or base64 (`encoding_format`). */
export const embeddingsListSchema = z.looseObject({
  object: z.literal('list'),
  data: z.array(
    z.looseObject({
      object: z.literal('embedding'),
      index: z.int().min(0),
      embedding: z.union([z.array(z.number()), z.string()]),
    }),
  ),
  model: z.string(),
  usage: z.looseObject({ prompt_tokens: tokenCount, total_tokens: tokenCount }),
});

/** `POST /v1/messages` without `stream`: an Anthropic message, passed through or translated. */
export const anthropicMessageSchema = z.looseObject({
  id: z.string(),
  type: z.literal('message'),
  role: z.literal('assistant'),
  content: z.array(z.looseObject({ type: z.string() })),
  model: z.string(),
  stop_reason: z.string().nullable(),
  stop_sequence: z.string().nullable().optional(),
  usage: z.looseObject({ input_tokens: tokenCount, output_tokens: tokenCount }),
});

/** `POST /v1/messages/count_tokens`: the upstream's own count. */
export const tokenCountSchema = z.looseObject({ input_tokens: tokenCount });

/** Seed 004's token counts, camelCase. */
const seed004Usage = z.strictObject({
  promptTokens: tokenCount,
  completionTokens: tokenCount,
  totalTokens: tokenCount,
});

/** What seed 004 adds to every answer: its cost in USD, whether the cache answered, time to answer. */
const seed004Accounting = {
  cost: z.number().min(0),
  cached: z.boolean(),
  latencyMs: z.int().min(0),
};

/** `POST /api/v1/completions/chat`. */
export const seed004ChatReplySchema = seed004Envelope(
  z.strictObject({
    id: z.string(),
    model: z.string(),
    choices: z.array(choice),
    usage: seed004Usage,
    ...seed004Accounting,
  }),
);

/** `POST /api/v1/completions/embeddings`. */
export const seed004EmbeddingsReplySchema = seed004Envelope(
  z.strictObject({
    object: z.literal('list'),
    data: embeddingsListSchema.shape.data,
    model: z.string(),
    usage: seed004Usage.omit({ completionTokens: true }),
    ...seed004Accounting,
  }),
);
