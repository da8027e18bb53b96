import {
  type CountTokensRequest,
  type MessagesRequest,
  validateCountTokensRequest,
  validateMessagesRequest,
} from '../../protocols/anthropic/validate.ts';
import { deliverMessages } from '../deliver.ts';
import type { Exchange, Route } from '../exchange.ts';
import { parseBody } from '../parse.ts';

/**
 * Anthropic's Messages API served by Nexus, so Anthropic clients (the official SDKs, Claude Code) can use any
 * provider, through the same chain as every proxied route. The operation keeps the client's own body: an
 * Anthropic target receives it untranslated (every feature intact), any other gets it translated, attempt by
 * attempt (pipeline/dispatch-messages.ts). Errors render in Anthropic's shape.
 */
export const anthropicRoutes: readonly Route[] = [
  messagesRoute('/v1/messages', 'messages', validateMessagesRequest),
  messagesRoute('/v1/messages/count_tokens', 'count_tokens', validateCountTokensRequest),
];

function messagesRoute(
  path: string,
  endpoint: 'messages' | 'count_tokens',
  validate: (body: unknown) => MessagesRequest | CountTokensRequest,
): Route {
  return {
    kind: 'proxy',
    method: 'POST',
    path,
    authenticated: true,
    errorShape: 'anthropic',
    parse: parseBody((body, exchange) => ({
      kind: 'messages',
      endpoint,
      request: validate(body),
      body: body as Record<string, unknown>,
      headers: protocolHeaders(exchange),
    })),
    deliver: () => deliverMessages,
  };
}

/** The client's protocol headers passed on to an Anthropic upstream. */
function protocolHeaders(exchange: Exchange): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of ['anthropic-version', 'anthropic-beta']) {
    const value = exchange.headers[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  return headers;
}
