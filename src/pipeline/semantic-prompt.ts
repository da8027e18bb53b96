import { createHash } from 'node:crypto';
import { canonicalRequest } from '../cache/cache-key.ts';
import type { CacheKind } from '../cache/cache-types.ts';
import type { Config } from '../config/schema.ts';
import type { Operation } from './request.ts';

/**
 * What the semantic cache compares, and what it never compares across. The prompt is the text of the one user
 * turn (for a conversation of several turns, when enabled, the last user turn); everything else that shapes
 * the answer is the hard partition: tenant, kind, model, system prompt, earlier turns, tools and every other
 * parameter (`temperature`, `max_tokens`, `response_format`, ...). Two prompts are only ever matched within one
 * partition, so a similar question with another system prompt, tool set or model is a miss.
 */

/** The user prompt to embed, or undefined when the request is not one the semantic cache serves. */
export function semanticPrompt(
  operation: Operation,
  settings: Config['cache']['semantic'],
): string | undefined {
  if (operation.kind === 'embeddings') return undefined;
  if (operation.kind === 'messages') {
    if (operation.endpoint !== 'messages') return undefined;
    const request = operation.request as {
      messages: ReadonlyArray<{ role: string; content: unknown }>;
      tools?: unknown;
    };
    if (!settings.tools && Array.isArray(request.tools) && request.tools.length > 0) return undefined;
    return lastUserText(request.messages, settings.multiTurn);
  }
  const body = operation.body;
  if (!settings.tools && ((Array.isArray(body.tools) && body.tools.length > 0) || body.functions != null)) {
    return undefined;
  }
  const turns = body.messages.filter((message) => message.role !== 'system' && message.role !== 'developer');
  return lastUserText(turns, settings.multiTurn);
}

/** The hard partition of a request: the tenant and everything but the compared prompt. */
export function semanticPartition(
  tenant: string,
  kind: CacheKind,
  model: string,
  operation: Operation,
  embedder: string,
): string {
  const body = operation.body as Readonly<Record<string, unknown>>;
  const messages = (body.messages as readonly unknown[] | undefined) ?? [];
  // Every turn but the last (the compared prompt) stays in the partition: the system prompt, earlier turns.
  const rest = { ...body, messages: messages.slice(0, -1) };
  const digest = createHash('sha256')
    // The embedder too: vectors of two embedders are never compared.
    .update(JSON.stringify([kind, model, embedder]))
    .update(canonicalRequest(rest))
    .digest('hex');
  return `${semanticTenantPrefix(tenant)}${digest}`;
}

/** Every semantic partition of a tenant starts with this (a purge clears them all). */
export function semanticTenantPrefix(tenant: string): string {
  return `${tenant}\u0000`;
}

function lastUserText(
  turns: ReadonlyArray<{ readonly role: string; readonly content?: unknown }>,
  multiTurn: boolean,
): string | undefined {
  const last = turns.at(-1);
  if (last === undefined || last.role !== 'user') return undefined;
  if (!multiTurn && turns.length !== 1) return undefined;
  const text = textOf(last.content);
  return text === undefined || text.trim() === '' ? undefined : text;
}

/** A message's text: a string, or text parts only (an image or a file is not compared by meaning). */
function textOf(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  const texts: string[] = [];
  for (const part of content as Array<{ type?: unknown; text?: unknown }>) {
    if (part?.type !== 'text' || typeof part.text !== 'string') return undefined;
    texts.push(part.text);
  }
  return texts.join('\n');
}
