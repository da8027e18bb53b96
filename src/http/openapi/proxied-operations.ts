import { chatRequest, embeddingsRequest } from '../../core/validate-request.ts';
import { countTokensRequest, messagesRequest } from '../../protocols/anthropic/validate.ts';
import {
  anthropicMessageSchema,
  chatCompletionSchema,
  embeddingsListSchema,
  seed004ChatReplySchema,
  seed004EmbeddingsReplySchema,
  tokenCountSchema,
} from '../reply-schemas.ts';
import { seed000Chat, seed004Chat, seed004Embeddings } from '../routes/seed-aliases.ts';
import type { OperationDoc } from './operation-doc.ts';

/**
 * The routes that go upstream (the whole pipeline: plan, limits, cache, failover), described by the schemas that
 * validate their bodies. Keyed by `METHOD path` as the route table registers them.
 */

const hello = [{ role: 'user', content: 'Hello, Nexus' }];
const streamNote =
  'With `"stream": true` the reply is an event stream: `chat.completion.chunk` events ending in `data: [DONE]`, ' +
  'or, when the provider broke after the first byte, one `data: {"error": {...}}` event and no `[DONE]`.';

export const proxiedOperations: Readonly<Record<string, OperationDoc>> = {
  'POST /v1/chat/completions': {
    operationId: 'createChatCompletion',
    summary: 'Chat completion, any provider',
    description:
      "OpenAI's Chat Completions request. `model` is `provider/model`, a catalogued id or alias, a model group, " +
      "`auto`, or an instance name to pin one key. `fallbacks` (or OpenRouter's `models`) adds a chain tried in " +
      `order. Fields Nexus does not check are passed to OpenAI-compatible upstreams as sent. ${streamNote}`,
    tag: 'OpenAI-compatible',
    body: { schema: chatRequest, example: { model: 'gpt-4o-mini', messages: hello } },
    reply: {
      status: 200,
      description: 'A `chat.completion`; `model` is the real model id.',
      schema: chatCompletionSchema,
      stream: 'openai',
    },
  },
  'POST /v1/embeddings': {
    operationId: 'createEmbeddings',
    summary: 'Embeddings, any provider',
    tag: 'OpenAI-compatible',
    body: { schema: embeddingsRequest, example: { model: 'text-embedding-3-small', input: 'Hello, Nexus' } },
    reply: { status: 200, description: 'One embedding per input.', schema: embeddingsListSchema },
  },
  'POST /v1/messages': {
    operationId: 'createMessage',
    summary: 'Anthropic message, any provider',
    description:
      "Anthropic's Messages API: passed through to Anthropic, translated for every other provider. With " +
      '`"stream": true`, Anthropic\'s own event sequence. Errors are in Anthropic\'s shape. The key may come as ' +
      '`x-api-key`, as Anthropic clients send it.',
    tag: 'Anthropic-compatible',
    headers: ['anthropic'],
    body: {
      schema: messagesRequest,
      example: { model: 'claude-3-haiku-20240307', max_tokens: 256, messages: hello },
    },
    reply: {
      status: 200,
      description: 'An Anthropic `message`.',
      schema: anthropicMessageSchema,
      stream: 'anthropic',
    },
  },
  'POST /v1/messages/count_tokens': {
    operationId: 'countMessageTokens',
    summary: 'Count the tokens of a conversation',
    description:
      'Served only by providers that count natively (Anthropic); with none among the targets, 400 ' +
      '`unsupported_capability`. Nexus does not estimate counts.',
    tag: 'Anthropic-compatible',
    headers: ['anthropic'],
    body: { schema: countTokensRequest, example: { model: 'claude-3-haiku-20240307', messages: hello } },
    reply: { status: 200, description: "The upstream's count.", schema: tokenCountSchema },
  },
  'POST /api/chat': {
    operationId: 'seed000Chat',
    summary: 'Seed 000 chat: one message',
    description:
      '`{message, model?}` as a one-message chat (`model` defaults to `auto`); the reply is a `chat.completion`.',
    tag: 'Seed 000',
    body: { schema: seed000Chat, example: { message: 'Hello, Nexus' } },
    reply: {
      status: 200,
      description: 'A `chat.completion` (`choices[0].message.content`).',
      schema: chatCompletionSchema,
    },
  },
  'POST /api/chat/stream': {
    operationId: 'seed000ChatStream',
    summary: 'Seed 000 chat, streamed',
    description: `The same body as \`/api/chat\`, answered as an event stream. ${streamNote}`,
    tag: 'Seed 000',
    body: { schema: seed000Chat, example: { message: 'Hello, Nexus' } },
    reply: { status: 200, description: 'OpenAI chunks ending in `data: [DONE]`.', stream: 'openai-only' },
  },
  'POST /api/v1/completions/chat': {
    operationId: 'seed004Chat',
    summary: 'Seed 004 chat',
    description:
      'camelCase fields (`maxTokens`, `fallbackModel`), `cache` and `cacheTtl` (60-86400 s) for the response cache; ' +
      'other fields are ignored.',
    tag: 'Seed 004',
    body: {
      schema: seed004Chat,
      example: { model: 'gpt-4o-mini', messages: hello, maxTokens: 256, cacheTtl: 3600 },
    },
    reply: {
      status: 200,
      description: "The completion in seed 004's envelope, with its cost.",
      schema: seed004ChatReplySchema,
    },
  },
  'POST /api/v1/completions/embeddings': {
    operationId: 'seed004Embeddings',
    summary: 'Seed 004 embeddings',
    tag: 'Seed 004',
    body: { schema: seed004Embeddings, example: { model: 'text-embedding-3-small', input: 'Hello, Nexus' } },
    reply: {
      status: 200,
      description: "The embeddings in seed 004's envelope, with their cost.",
      schema: seed004EmbeddingsReplySchema,
    },
  },
};
