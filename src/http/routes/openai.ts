import { NexusError } from '../../core/errors.ts';
import { createEmbeddings } from '../../core/pipeline.ts';
import { validateChatRequest, validateEmbeddingsRequest } from '../../core/validate-request.ts';
import type { CallContext, Warning } from '../../providers/types.ts';
import { readExchangeJson } from '../body.ts';
import type { Exchange, Gateway, Route } from '../exchange.ts';
import { listModels } from '../model-list.ts';
import { requestRouting } from '../request-routing.ts';
import { addWarnings, headerText, sendJson } from '../respond.ts';
import { serveChat } from '../serve-chat.ts';

/** The canonical OpenAI-compatible routes under `/v1`. */
export const openAIRoutes: readonly Route[] = [
  {
    method: 'POST',
    path: '/v1/chat/completions',
    authenticated: true,
    errorShape: 'openai',
    async handler(gateway, exchange) {
      const body = await readExchangeJson(gateway, exchange);
      await serveChat(gateway, exchange, validateChatRequest(body), 'openai');
    },
  },
  {
    method: 'POST',
    path: '/v1/embeddings',
    authenticated: true,
    errorShape: 'openai',
    async handler(gateway, exchange) {
      const body = await readExchangeJson(gateway, exchange);
      await serveEmbeddings(gateway, exchange, validateEmbeddingsRequest(body));
    },
  },
  {
    method: 'GET',
    path: '/v1/models',
    authenticated: true,
    errorShape: 'openai',
    async handler(gateway, exchange) {
      sendJson(exchange.response, 200, { object: 'list', data: listModels(gateway) });
    },
  },
  {
    method: 'GET',
    path: '/v1/models/*',
    authenticated: true,
    errorShape: 'openai',
    async handler(gateway, exchange) {
      const path = (exchange.request.url ?? '').split('?')[0] ?? '';
      const id = decodeModelId(path.slice('/v1/models/'.length));
      const model = listModels(gateway).find((entry) => entry.id === id);
      if (model === undefined) {
        throw new NexusError('model_not_found', `The model '${id}' does not exist.`, { param: 'model' });
      }
      sendJson(exchange.response, 200, model);
    },
  },
];

export async function serveEmbeddings(
  gateway: Gateway,
  exchange: Exchange,
  request: ReturnType<typeof validateEmbeddingsRequest>,
  reply: (result: Awaited<ReturnType<typeof createEmbeddings>>) => void = (completed) =>
    sendJson(exchange.response, 200, completed.result.raw ?? completed.result.response),
): Promise<void> {
  const warnings: Warning[] = [];
  exchange.record.warnings = warnings;
  const context: CallContext = { requestId: exchange.requestId, signal: exchange.signal, warnings };
  const completed = await createEmbeddings(gateway.pipeline, request, context, requestRouting(exchange));
  exchange.record.provider = completed.target.instance.name;
  exchange.record.model = completed.target.model;
  exchange.response.setHeader('x-nexus-provider', headerText(completed.target.instance.name));
  exchange.response.setHeader('x-nexus-model', headerText(completed.target.model));
  addWarnings(exchange.response, warnings);
  reply(completed);
}

function decodeModelId(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new NexusError('invalid_request', 'The model id in the path is not valid percent-encoding.', {
      param: 'model',
    });
  }
}
