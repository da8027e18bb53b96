import { z } from 'zod';
import { costUsd } from '../../catalog/cost.ts';
import { NexusError } from '../../core/errors.ts';
import type { ChatRequest } from '../../core/openai-types.ts';
import { formatPath, validateChatRequest, validateEmbeddingsRequest } from '../../core/validate-request.ts';
import { readExchangeJson } from '../body.ts';
import type { Route } from '../exchange.ts';
import { listModels } from '../model-list.ts';
import { sendJson } from '../respond.ts';
import { serveChat } from '../serve-chat.ts';
import { serveEmbeddings } from './openai.ts';

/**
 * Thin adapters that keep the seed products' clients working: each converts its body to the canonical
 * request, runs the same pipeline, and answers in its seed's shape (SPEC §2.2).
 */

const seed000Chat = z.strictObject({ message: z.string().min(1), model: z.string().min(1).optional() });

const seed004Chat = z.looseObject({
  model: z.string().min(1).default('gpt-4o-mini'),
  messages: z.array(z.unknown()).min(1),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.int().min(1).optional(),
  cache: z.boolean().optional(),
  cacheTtl: z.int().min(60).max(86_400).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  fallbackModel: z.string().min(1).optional(),
});

const seed004Embeddings = z.looseObject({
  model: z.string().min(1).default('text-embedding-3-small'),
  input: z.unknown(),
  cache: z.boolean().optional(),
  cacheTtl: z.int().min(60).max(86_400).optional(),
});

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
    method: 'POST',
    path: '/api/chat',
    authenticated: true,
    errorShape: 'openai',
    async handler(gateway, exchange) {
      await serveChat(
        gateway,
        exchange,
        seed000Request(await readExchangeJson(gateway, exchange), false),
        'openai',
      );
    },
  },
  {
    method: 'POST',
    path: '/api/chat/stream',
    authenticated: true,
    errorShape: 'openai',
    async handler(gateway, exchange) {
      await serveChat(
        gateway,
        exchange,
        seed000Request(await readExchangeJson(gateway, exchange), true),
        'openai',
      );
    },
  },
  {
    method: 'POST',
    path: '/api/v1/completions/chat',
    authenticated: true,
    errorShape: 'seed-004',
    async handler(gateway, exchange) {
      const body = parseWith(seed004Chat, await readExchangeJson(gateway, exchange));
      const { model, messages, temperature, maxTokens } = body;
      const request = validateChatRequest({
        model,
        messages,
        ...(temperature === undefined ? {} : { temperature }),
        ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }),
        // Seed 004's single fallback model is a one-entry per-request fallback chain.
        ...(body.fallbackModel === undefined ? {} : { fallbacks: [body.fallbackModel] }),
      });
      await serveChat(gateway, exchange, request, 'seed-004');
    },
  },
  {
    method: 'POST',
    path: '/api/v1/completions/embeddings',
    authenticated: true,
    errorShape: 'seed-004',
    async handler(gateway, exchange) {
      const { model, input } = parseWith(seed004Embeddings, await readExchangeJson(gateway, exchange));
      const request = validateEmbeddingsRequest({ model, input });
      await serveEmbeddings(gateway, exchange, request, ({ target, result }) => {
        const usage = result.response.usage;
        const cost =
          target.modelSpec === undefined
            ? 0
            : costUsd(target.modelSpec.pricing, { promptTokens: usage.prompt_tokens, completionTokens: 0 });
        sendJson(exchange.response, 200, {
          success: true,
          data: {
            object: 'list',
            data: result.response.data,
            model: result.response.model,
            usage: { promptTokens: usage.prompt_tokens, totalTokens: usage.total_tokens },
            cost,
            cached: false,
            latencyMs: Math.round(performance.now() - exchange.startedAt),
          },
        });
      });
    },
  },
  {
    method: 'GET',
    path: '/api/v1/completions/models',
    authenticated: true,
    errorShape: 'seed-004',
    async handler(gateway, exchange) {
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
