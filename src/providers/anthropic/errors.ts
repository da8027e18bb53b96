import { redactSecrets } from '../shared/upstream-errors.ts';

/**
 * Finds the human message in an Anthropic error body, `{"type":"error","error":{"type","message"}}`
 * (https://docs.anthropic.com/en/api/errors), with anything that looks like a key redacted. A body that is
 * not that shape (an HTML page from a proxy, say) is passed on as trimmed text.
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

/** Parses an error body leniently: JSON when it is JSON, else the text itself. */
export function errorMessageOfText(text: string): string {
  try {
    return errorMessageOf(JSON.parse(text));
  } catch {
    return redactSecrets(text.trim());
  }
}
