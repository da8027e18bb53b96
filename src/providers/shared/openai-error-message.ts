import { redactSecrets } from './upstream-errors.ts';

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

/** Parses an error body text leniently: JSON when it is JSON, else the text itself. */
export function errorMessageOfText(text: string): string {
  try {
    return errorMessageOf(JSON.parse(text));
  } catch {
    return redactSecrets(text.trim());
  }
}
