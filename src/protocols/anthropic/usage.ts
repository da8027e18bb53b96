import { countOf } from '../../core/count.ts';
import type { Usage } from '../../core/openai-types.ts';

/**
 * Anthropic usage → canonical (OpenAI-shaped) usage, for accounting. Anthropic's `input_tokens` excludes cache
 * reads and cache writes; canonical `prompt_tokens` includes both, with each named in `prompt_tokens_details`
 * so the meter prices it at its own rate. Undefined until `output_tokens` is known (a stream's
 * `message_start` has a placeholder; the cumulative `message_delta` has the real count).
 */
export function canonicalUsage(usage: Readonly<Record<string, unknown>>): Usage | undefined {
  if (typeof usage.output_tokens !== 'number') return undefined;
  const cached = countOf(usage.cache_read_input_tokens);
  const written = countOf(usage.cache_creation_input_tokens);
  const prompt = countOf(usage.input_tokens) + cached + written;
  const completion = countOf(usage.output_tokens);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached, cache_creation_tokens: written },
  };
}

/** The `usage` object of an Anthropic JSON text (a message, or an event's `message`), non-null fields only. */
export function usageInText(json: string, container?: 'message'): Record<string, unknown> {
  try {
    const parsed = JSON.parse(json) as Record<string, { usage?: unknown } | undefined> & { usage?: unknown };
    const usage = container === undefined ? parsed.usage : parsed[container]?.usage;
    if (usage === null || typeof usage !== 'object') return {};
    return Object.fromEntries(Object.entries(usage).filter(([, value]) => value != null));
  } catch {
    return {};
  }
}
