import { errorMessageOf, openAIErrorInReply } from '../shared/openai-error-message.ts';
import type { ErrorFormat } from '../shared/upstream-exchange.ts';

/**
 * Azure's error format: OpenAI's `{error:{code, message, innererror}}`. A content-filter rejection keeps its
 * code in the message so that the client can tell it from other bad requests.
 */
export const azureErrors: ErrorFormat = {
  messageOf(body) {
    const message = errorMessageOf(body);
    const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
    return code === 'content_filter' ? `${message} (content_filter)` : message;
  },
  errorInReply: openAIErrorInReply,
};
