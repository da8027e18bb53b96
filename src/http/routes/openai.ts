import { NexusError } from '../../core/errors.ts';
import { validateChatRequest, validateEmbeddingsRequest } from '../../core/validate-request.ts';
import { deliverChat, deliverEmbeddings } from '../deliver.ts';
import type { Route } from '../exchange.ts';
import { listModels } from '../model-list.ts';
import { parseBody } from '../parse.ts';
import { sendJson } from '../respond.ts';

/** The canonical OpenAI-compatible routes under `/v1`. */
export const openAIRoutes: readonly Route[] = [
  {
    kind: 'proxy',
    method: 'POST',
    path: '/v1/chat/completions',
    authenticated: true,
    errorShape: 'openai',
    parse: parseBody((body) => ({ kind: 'chat', body: validateChatRequest(body) })),
    deliver: () => deliverChat('openai'),
  },
  {
    kind: 'proxy',
    method: 'POST',
    path: '/v1/embeddings',
    authenticated: true,
    errorShape: 'openai',
    parse: parseBody((body) => ({ kind: 'embeddings', body: validateEmbeddingsRequest(body) })),
    deliver: () => deliverEmbeddings('openai'),
  },
  {
    kind: 'plain',
    method: 'GET',
    path: '/v1/models',
    authenticated: true,
    errorShape: 'openai',
    handle: (gateway) =>
      async function models(exchange) {
        sendJson(exchange.response, 200, { object: 'list', data: listModels(gateway) });
      },
  },
  {
    kind: 'plain',
    method: 'GET',
    path: '/v1/models/*',
    authenticated: true,
    errorShape: 'openai',
    handle: (gateway) =>
      async function model(exchange) {
        const id = decodeModelId(exchange.path.slice('/v1/models/'.length));
        const found = listModels(gateway).find((entry) => entry.id === id);
        if (found === undefined) {
          throw new NexusError('model_not_found', `The model '${id}' does not exist.`, { param: 'model' });
        }
        sendJson(exchange.response, 200, found);
      },
  },
];

function decodeModelId(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new NexusError('invalid_request', 'The model id in the path is not valid percent-encoding.', {
      param: 'model',
    });
  }
}
