import { z } from 'zod';
import { NexusError } from '../../core/errors.ts';
import type { ChatRequest } from '../../core/openai-types.ts';
import { formatPath, validateChatRequest, validateEmbeddingsRequest } from '../../core/validate-request.ts';
import type { Operation } from '../../pipeline/request.ts';
import { deliverChat, deliverEmbeddings } from '../deliver.ts';
import type { Route } from '../exchange.ts';
import { listModels } from '../model-list.ts';
import { parseBody } from '../parse.ts';
import { seed004Envelope, sendJson } from '../respond.ts';

/**
 * Thin adapters that keep the seed products' clients working: each converts its body to the canonical
 * request, runs the same pipeline, and answers in its seed's shape (SPEC §2.2).
 */

/** Seed 000's `POST /api/chat` and `/api/chat/stream`: one user message, `auto` unless a model is named. */
export const seed000Chat = z.strictObject({
  message: z.string().min(1),
  model: z.string().min(1).optional(),
});

/** Seed 004's camelCase chat body; other fields are accepted and ignored. */
export const seed004Chat = z.looseObject({
  model: z.string().min(1).default('gpt-4o-mini'),
  messages: z.array(z.unknown()).min(1),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.int().min(1).optional(),
  cache: z.boolean().optional(),
  cacheTtl: z.int().min(60).max(86_400).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  fallbackModel: z.string().min(1).optional(),
});

/** Seed 004's embeddings body. */
export const seed004Embeddings = z.looseObject({
  model: z.string().min(1).default('text-embedding-3-small'),
  input: z.unknown(),
  cache: z.boolean().optional(),
  cacheTtl: z.int().min(60).max(86_400).optional(),
});

/** `GET /api/v1/completions/models`: seed 004's model list, prices per 1K tokens in USD. */
export const seed004ModelsReplySchema = seed004Envelope(
  z.array(
    z.strictObject({
      id: z.string(),
      provider: z.string(),
      type: z.enum(['chat', 'embedding']),
      inputPricePer1K: z.number().min(0),
      outputPricePer1K: z.number().min(0),
      contextWindow: z.int().min(0).nullable(),
      available: z.boolean(),
    }),
  ),
);

function parseWith<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const param = formatPath(issue.path);
  const subject = param === '' ? 'request body' : `'${param}'`;
  throw new NexusError(
    'invalid_request',
    `Invalid ${subject}: ${issue.message.replace(/^Invalid input: /, '')}.`,
    {
      param: param === '' ? undefined : param,
    },
  );
}

function seed000Request(body: unknown, stream: boolean): ChatRequest {
  const { message, model } = parseWith(seed000Chat, body);
  return validateChatRequest({
    model: model ?? 'auto',
    messages: [{ role: 'user', content: message }],
    stream,
  });
}

export const seedRoutes: readonly Route[] = [
  {
    kind: 'proxy',
    method: 'POST',
    path: '/api/chat',
    authenticated: true,
    errorShape: 'openai',
    parse: parseBody((body) => ({ kind: 'chat', body: seed000Request(body, false) })),
    deliver: () => deliverChat('openai'),
  },
  {
    kind: 'proxy',
    method: 'POST',
    path: '/api/chat/stream',
    authenticated: true,
    errorShape: 'openai',
    parse: parseBody((body) => ({ kind: 'chat', body: seed000Request(body, true) })),
    deliver: () => deliverChat('openai'),
  },
  {
    kind: 'proxy',
    method: 'POST',
    path: '/api/v1/completions/chat',
    authenticated: true,
    errorShape: 'seed-004',
    parse: parseBody(seed004ChatOperation),
    deliver: () => deliverChat('seed-004'),
  },
  {
    kind: 'proxy',
    method: 'POST',
    path: '/api/v1/completions/embeddings',
    authenticated: true,
    errorShape: 'seed-004',
    parse: parseBody((body) => {
      const { model, input, cache, cacheTtl } = parseWith(seed004Embeddings, body);
      return {
        kind: 'embeddings',
        body: validateEmbeddingsRequest({ model, input }),
        cacheOptions: { cache, cacheTtl },
      };
    }),
    deliver: () => deliverEmbeddings('seed-004'),
  },
  {
    kind: 'plain',
    method: 'GET',
    path: '/api/v1/completions/models',
    authenticated: true,
    errorShape: 'seed-004',
    handle: (gateway) =>
      async function seed004Models(exchange) {
        const models = listModels(gateway)
          .filter((model) => model.mode !== 'pseudo')
          .map((model) => ({
            id: model.id,
            provider: model.owned_by,
            type: model.mode,
            inputPricePer1K: (model.pricing?.input_per_million ?? 0) / 1000,
            outputPricePer1K: (model.pricing?.output_per_million ?? 0) / 1000,
            contextWindow: model.context_window,
            available: model.available,
          }));
        sendJson(exchange.response, 200, { success: true, data: models });
      },
  },
];

/**
 * Seed 004's camelCase chat body as a canonical request (its single `fallbackModel` is a one-entry chain), with
 * its `cache` and `cacheTtl` for the cache stage.
 */
function seed004ChatOperation(body: unknown): Operation {
  const { model, messages, temperature, maxTokens, fallbackModel, cache, cacheTtl } = parseWith(
    seed004Chat,
    body,
  );
  return {
    kind: 'chat',
    body: validateChatRequest({
      model,
      messages,
      ...(temperature === undefined ? {} : { temperature }),
      ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }),
      ...(fallbackModel === undefined ? {} : { fallbacks: [fallbackModel] }),
    }),
    cacheOptions: { cache, cacheTtl },
  };
}
