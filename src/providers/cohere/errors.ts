import { errorMessageOf } from '../shared/openai-error-message.ts';
import type { ErrorFormat } from '../shared/upstream-exchange.ts';

/**
 * Cohere's error format: bodies are `{message}` or `{id, message}`, which the OpenAI reader also understands.
 * Cohere answers 498 for an invalid token: the same operator problem as a 401.
 */
export const cohereErrors: ErrorFormat = {
  messageOf: errorMessageOf,
  correct: (reply) => (reply.status === 498 ? { ...reply, status: 401 } : reply),
};
