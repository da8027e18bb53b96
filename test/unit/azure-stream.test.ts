import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NexusError } from '../../src/core/errors.ts';
import { normaliseAzureStream } from '../../src/providers/azure/stream.ts';
import { readChunkStream } from '../../src/providers/shared/openai-chunk-stream.ts';
import type { StreamEvent } from '../../src/providers/types.ts';

// Sample streams recorded with Azure's Asynchronous Filter, from
// MicrosoftDocs/azure-ai-docs:articles/ai-services/openai/concepts/content-filter-streaming.md (repeated
// annotations and content trimmed, one line per event).
const safe =
  '{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}';
const passes = [
  `{"id":"","object":"","created":0,"model":"","prompt_annotations":[{"prompt_index":0,"content_filter_results":${safe}}],"choices":[],"usage":null}`,
  '{"id":"chatcmpl-7rCNsVeZy0PGnX3H6jK8STps5nZUY","object":"chat.completion.chunk","created":1692913344,"model":"gpt-35-turbo","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant"}}],"usage":null}',
  '{"id":"chatcmpl-7rCNsVeZy0PGnX3H6jK8STps5nZUY","object":"chat.completion.chunk","created":1692913344,"model":"gpt-35-turbo","choices":[{"index":0,"finish_reason":null,"delta":{"content":"Color"}}],"usage":null}',
  '{"id":"chatcmpl-7rCNsVeZy0PGnX3H6jK8STps5nZUY","object":"chat.completion.chunk","created":1692913344,"model":"gpt-35-turbo","choices":[{"index":0,"finish_reason":null,"delta":{"content":" is"}}],"usage":null}',
  `{"id":"","object":"","created":0,"model":"","choices":[{"index":0,"finish_reason":null,"content_filter_results":${safe},"content_filter_offsets":{"check_offset":44,"start_offset":44,"end_offset":198}}],"usage":null}`,
  '{"id":"chatcmpl-7rCNsVeZy0PGnX3H6jK8STps5nZUY","object":"chat.completion.chunk","created":1692913344,"model":"gpt-35-turbo","choices":[{"index":0,"finish_reason":"stop","delta":{}}],"usage":null}',
  `{"id":"","object":"","created":0,"model":"","choices":[{"index":0,"finish_reason":null,"content_filter_results":${safe},"content_filter_offsets":{"check_offset":506,"start_offset":44,"end_offset":571}}],"usage":null}`,
];
const blocked = [
  `{"id":"","object":"","created":0,"model":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":${safe}}],"choices":[],"usage":null}`,
  '{"id":"chatcmpl-8JCbt5d4luUIhYCI7YH4dQK7hnHx2","object":"chat.completion.chunk","created":1699587397,"model":"gpt-35-turbo","choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant"}}],"usage":null}',
  '{"id":"chatcmpl-8JCbt5d4luUIhYCI7YH4dQK7hnHx2","object":"chat.completion.chunk","created":1699587397,"model":"gpt-35-turbo","choices":[{"index":0,"finish_reason":null,"delta":{"content":"Hey"}}],"usage":null}',
  `{"id":"","object":"","created":0,"model":"","choices":[{"index":0,"finish_reason":null,"content_filter_results":${safe},"content_filter_offsets":{"check_offset":65,"start_offset":65,"end_offset":1056}}],"usage":null}`,
  '{"id":"","object":"","created":0,"model":"","choices":[{"index":0,"finish_reason":"content_filter","content_filter_results":{"protected_material_text":{"detected":true,"filtered":true}},"content_filter_offsets":{"check_offset":65,"start_offset":65,"end_offset":1056}}],"usage":null}',
];
const usageChunk =
  '{"id":"chatcmpl-7rCNsVeZy0PGnX3H6jK8STps5nZUY","object":"chat.completion.chunk","created":1692913344,"model":"gpt-35-turbo","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}}';

async function* body(lines: readonly string[], done: boolean): AsyncGenerator<Uint8Array> {
  for (const line of lines) yield Buffer.from(`data: ${line}\n\n`);
  if (done) yield Buffer.from('data: [DONE]\n\n');
}

async function run(lines: readonly string[], clientWantsUsage = false, done = true) {
  const events: StreamEvent[] = [];
  let error: NexusError | undefined;
  const chunks = readChunkStream(body(lines, done), {
    providerName: 'Azure OpenAI (Key #1)',
    clientWantsUsage,
    signal: new AbortController().signal,
  });
  try {
    for await (const batch of normaliseAzureStream(chunks)) events.push(...batch);
  } catch (caught) {
    error = caught as NexusError;
  }
  const visible = events.filter((event) => event.hidden !== true);
  return { events, visible, error };
}

describe('Azure stream normalisation', () => {
  it('drops the prompt annotation and the offset annotations, forwarding the rest as sent', async () => {
    const { events, visible, error } = await run(passes);

    assert.equal(error, undefined);
    assert.equal(events.length, visible.length);
    assert.ok(events.every((event) => event.chunk.choices.every((choice) => choice.delta !== undefined)));
    assert.deepEqual(
      visible.map((event) => event.raw),
      [passes[1], passes[2], passes[3], passes[5]],
    );
  });

  it('re-sends a finish reason that arrived in an annotation as an ordinary chunk', async () => {
    const { visible, error } = await run(blocked);

    assert.equal(error, undefined);
    const last = visible.at(-1);
    assert.equal(last?.raw, undefined, 'rebuilt, so not the upstream text');
    assert.deepEqual(
      [last?.chunk.id, last?.chunk.object, last?.chunk.created, last?.chunk.model],
      ['chatcmpl-8JCbt5d4luUIhYCI7YH4dQK7hnHx2', 'chat.completion.chunk', 1699587397, 'gpt-35-turbo'],
    );
    assert.deepEqual(last?.chunk.choices[0]?.delta, {});
    assert.equal(last?.chunk.choices[0]?.finish_reason, 'content_filter');
    assert.equal(visible.length, 3);
  });

  it('keeps the usage chunk visible when asked, hidden when not', async () => {
    const asked = await run([...passes, usageChunk], true);
    const unasked = await run([...passes, usageChunk], false);

    assert.equal(asked.visible.at(-1)?.raw, usageChunk);
    assert.equal(unasked.visible.at(-1)?.raw, passes[5]);
    assert.equal(unasked.events.at(-1)?.chunk.usage?.total_tokens, 13, 'still read for accounting');
  });

  it('leaves the shared reader’s completeness rule in force: cut before the finish, no success', async () => {
    const { error } = await run(passes.slice(0, 5), false, false);

    assert.equal(error?.code, 'stream_interrupted');
  });
});
