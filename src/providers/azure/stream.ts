import type { ChatCompletionChunk } from '../../core/openai-types.ts';
import { markComplete, markUsage, type StreamBatch, type StreamEvent } from '../types.ts';

/**
 * Azure's chat streams are OpenAI's plus content-filter annotations
 * (learn.microsoft.com/azure/ai-services/openai/concepts/content-filter-streaming, sample streams):
 *
 * - a first chunk with `prompt_filter_results`, `choices: []` and blank `id`, `object`, `model`;
 * - with the asynchronous filter, annotation chunks whose choices have no `delta`, and a final
 *   `finish_reason: "content_filter"` that arrives in such a chunk too.
 *
 * OpenAI clients take a `choices: []` chunk for the usage chunk and read `delta` on every choice, so the
 * annotations are dropped (they carry no answer text and no usage), and a finish reason that arrives in one
 * is re-sent as an ordinary chunk with an empty delta and the stream's id, model and created time. Everything
 * else passes through as sent.
 */
export async function* normaliseAzureStream(
  stream: AsyncIterable<StreamBatch>,
): AsyncGenerator<StreamBatch, void, undefined> {
  let head: Pick<ChatCompletionChunk, 'id' | 'created' | 'model'> | undefined;
  for await (const batch of stream) {
    const kept: StreamEvent[] = [];
    for (const event of batch) {
      const { chunk } = event;
      if (chunk.object === 'chat.completion.chunk' && chunk.id !== '') {
        head = { id: chunk.id, created: chunk.created, model: chunk.model };
      }
      if (chunk.choices.length === 0) {
        if (chunk.usage != null) kept.push(event);
        continue;
      }
      const annotation = chunk.choices.some((choice) => choice.delta == null);
      if (annotation && chunk.choices.every((choice) => choice.finish_reason == null)) continue;
      if (!annotation && chunk.object === 'chat.completion.chunk') {
        kept.push(event);
        continue;
      }
      const repaired: ChatCompletionChunk = {
        ...chunk,
        ...head,
        object: 'chat.completion.chunk',
        choices: chunk.choices.map((choice) => ({ ...choice, delta: choice.delta ?? {} })),
      };
      kept.push({ chunk: repaired, raw: undefined });
    }
    // Usage chunks are always kept, so the batch's usage stays with it.
    if (batch.usage !== undefined) markUsage(kept, batch.usage);
    if (batch.complete === true) yield markComplete(kept);
    else if (kept.length > 0) yield kept;
  }
}
