import { NexusError } from '../core/errors.ts';
import type { ChatRequest, EmbeddingsRequest, Usage } from '../core/openai-types.ts';
import type { StreamBatch } from '../providers/types.ts';
import { chatBatchIsReal } from '../resilience/stream-attempt.ts';
import { chatStreamResume } from '../resilience/stream-continuation.ts';
import { planOf } from './attempt-options.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { dispatchOneShot } from './dispatch-one-shot.ts';
import { dispatchStream } from './dispatch-stream.ts';
import type { GatewayRequest } from './request.ts';

/**
 * Dispatch for `/v1/chat/completions` (and the seed aliases): one reply through the attempt loop, with the
 * winner's usage on its attempt record.
 */
export async function dispatchChat(
  dependencies: PipelineDependencies,
  request: GatewayRequest,
  body: ChatRequest,
): Promise<void> {
  const result = await dispatchOneShot(
    dependencies,
    request,
    planOf(request),
    async (target, context, attempt) => {
      const reply = await dependencies.registry.adapterFor(target.instance).chat(target, body, context);
      attempt.usage = reply.completion.usage ?? undefined;
      attempt.responseModel = reply.completion.model;
      return reply;
    },
  );
  request.reply = { kind: 'chat', result };
}

/** Dispatch for streamed chat: the shared stream dispatch with OpenAI chunk batches. */
export async function dispatchChatStream(
  dependencies: PipelineDependencies,
  request: GatewayRequest,
  body: ChatRequest,
): Promise<void> {
  const adapterFor = dependencies.registry.adapterFor.bind(dependencies.registry);
  const stream = await dispatchStream<StreamBatch>(dependencies, request, {
    open: (target, context) => adapterFor(target.instance).chatStream(target, body, context),
    isReal: chatBatchIsReal,
    usageOf: chatBatchUsage,
    modelOf: (head) => head[0]?.[0]?.chunk.model,
    resume: (openAttempt) =>
      chatStreamResume(body, (target, context, continuation) =>
        openAttempt(target, context, (upstream, attemptContext) =>
          adapterFor(upstream.instance).chatStream(upstream, continuation, attemptContext),
        ),
      ),
  });
  request.reply = { kind: 'chat-stream', stream };
}

/** The usage chunk's counts, when this batch carries it (the chunk reader attaches them to the batch). */
export function chatBatchUsage(batch: StreamBatch): Usage | undefined {
  return batch.usage;
}

/** Dispatch for `/v1/embeddings`: like chat, priced the same way (prompt tokens at the input price). */
export async function dispatchEmbeddings(
  dependencies: PipelineDependencies,
  request: GatewayRequest,
  body: EmbeddingsRequest,
): Promise<void> {
  const result = await dispatchOneShot(
    dependencies,
    request,
    planOf(request),
    async (target, context, attempt) => {
      const adapter = dependencies.registry.adapterFor(target.instance);
      if (adapter.embeddings === undefined) {
        throw new NexusError(
          'unsupported_capability',
          `${target.instance.provider.name} does not serve embeddings.`,
          { param: 'model' },
        );
      }
      const reply = await adapter.embeddings(target, body, context);
      attempt.responseModel = reply.response.model;
      const usage = reply.response.usage;
      attempt.usage = {
        prompt_tokens: usage?.prompt_tokens ?? 0,
        completion_tokens: 0,
        total_tokens: usage?.total_tokens ?? usage?.prompt_tokens ?? 0,
      };
      return reply;
    },
  );
  request.reply = { kind: 'embeddings', result };
}
