import { redactSecrets } from './upstream-errors.ts';
import type { ErrorFormat } from './upstream-exchange.ts';

/** Finds the human message in an OpenAI-style error body (`{error:{message}}`, `{error:"..."}`, `{message}`). */
export function errorMessageOf(body: unknown): string {
  if (body === null || typeof body !== 'object') return typeof body === 'string' ? redactSecrets(body) : '';
  const record = body as Record<string, unknown>;
  const error = record.error;
  if (typeof error === 'string') return redactSecrets(error);
  if (error !== null && typeof error === 'object') {
    const message = (error as Record<string, unknown>).message;
    if (typeof message === 'string') return redactSecrets(message);
  }
  return typeof record.message === 'string' ? redactSecrets(record.message) : '';
}

/** The message of OpenAI's `{error: ...}` sent with a 2xx status; undefined when the body is an answer. */
export function openAIErrorInReply(body: object): string | undefined {
  return (body as { error?: unknown }).error === undefined ? undefined : errorMessageOf(body);
}

/** OpenAI's error format, spoken by every OpenAI-compatible provider. */
export const openAIErrors: ErrorFormat = { messageOf: errorMessageOf, errorInReply: openAIErrorInReply };
