import { redactSecrets } from '../shared/upstream-errors.ts';
import type { ErrorFormat } from '../shared/upstream-exchange.ts';

/**
 * Finds the human message in an Anthropic error body, `{"type":"error","error":{"type","message"}}`
 * (https://docs.anthropic.com/en/api/errors), with anything that looks like a key redacted; '' when the body
 * is not that shape.
 */
export function errorMessageOf(body: unknown): string {
  if (body === null || typeof body !== 'object') return typeof body === 'string' ? redactSecrets(body) : '';
  const error = (body as { error?: unknown }).error;
  if (error !== null && typeof error === 'object') {
    const { message, type } = error as { message?: unknown; type?: unknown };
    if (typeof message === 'string') {
      return redactSecrets(typeof type === 'string' && type !== '' ? `${message} (${type})` : message);
    }
  }
  return '';
}

/**
 * Anthropic's error format. A body that is not JSON (an HTML page from a proxy, say) is passed on as trimmed
 * text by the exchange; a 2xx body of `type: "error"` is the provider's failure, not a message.
 */
export const anthropicErrors: ErrorFormat = {
  messageOf: errorMessageOf,
  errorInReply: (body) => ((body as { type?: unknown }).type === 'error' ? errorMessageOf(body) : undefined),
};
