import { NexusError } from '../core/errors.ts';
import type { ChatRequest, EmbeddingsRequest, Usage } from '../core/openai-types.ts';
import type { StreamBatch } from '../providers/types.ts';
import { runAttempts, settleSuccess } from '../resilience/attempt-loop.ts';
import { chatBatchIsReal } from '../resilience/stream-attempt.ts';
import { chatStreamResume } from '../resilience/stream-continuation.ts';
import { oneShotOptions, planOf, withGroupDeadline } from './attempt-options.ts';
import { loopDependencies, type PipelineDependencies } from './dependencies.ts';
import { dispatchStream } from './dispatch-stream.ts';
import type { GatewayRequest } from './request.ts';

/**
 * Dispatch for `/v1/chat/completions` (and the seed aliases): one reply through the attempt loop, each attempt
 * bounded by the response timeout, with the winner's usage on its attempt record.
 */
export async function dispatchChat(
  dependencies: PipelineDependencies,
  request: GatewayRequest,
  body: ChatRequest,
): Promise<void> {
  const plan = planOf(request);
  const started = performance.now();
  const deadline = withGroupDeadline(plan, request.signal);
  try {
    const { value, record } = await runAttempts(
      loopDependencies(dependencies),
      plan,
      { requestId: request.id, signal: deadline.signal },
      oneShotOptions(dependencies, request, plan),
      async (target, context, attempt) => {
        const attemptStarted = performance.now();
        const result = await dependencies.registry.adapterFor(target.instance).chat(target, body, context);
        attempt.usage = result.completion.usage ?? undefined;
        settleSuccess(dependencies, target, attempt, performance.now() - attemptStarted);
        return result;
      },
    );
    request.served = record;
    request.reply = { kind: 'chat', result: value };
  } finally {
    deadline.clear();
    request.upstreamMs = performance.now() - started;
  }
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
    resume: (openAttempt) =>
      chatStreamResume(body, (target, context, continuation) =>
        openAttempt(target, context, (upstream, attemptContext) =>
          adapterFor(upstream.instance).chatStream(upstream, continuation, attemptContext),
        ),
      ),
  });
  request.reply = { kind: 'chat-stream', stream };
}

/** The usage chunk's counts, when this batch carries it (OpenAI sends it last, with empty `choices`). */
export function chatBatchUsage(batch: StreamBatch): Usage | undefined {
  for (let index = batch.length - 1; index >= 0; index--) {
    const usage = batch[index]?.chunk.usage;
    if (usage != null) return usage;
  }
  return undefined;
}

/** Dispatch for `/v1/embeddings`: like chat, priced the same way (prompt tokens at the input price). */
export async function dispatchEmbeddings(
  dependencies: PipelineDependencies,
  request: GatewayRequest,
  body: EmbeddingsRequest,
): Promise<void> {
  const plan = planOf(request);
  const started = performance.now();
  try {
    const { value, record } = await runAttempts(
      loopDependencies(dependencies),
      plan,
      { requestId: request.id, signal: request.signal },
      oneShotOptions(dependencies, request, plan),
      async (target, context, attempt) => {
        const adapter = dependencies.registry.adapterFor(target.instance);
        if (adapter.embeddings === undefined) {
          throw new NexusError(
            'unsupported_capability',
            `${target.instance.provider.name} does not serve embeddings.`,
            { param: 'model' },
          );
        }
        const attemptStarted = performance.now();
        const result = await adapter.embeddings(target, body, context);
        const usage = result.response.usage;
        attempt.usage = {
          prompt_tokens: usage?.prompt_tokens ?? 0,
          completion_tokens: 0,
          total_tokens: usage?.total_tokens ?? usage?.prompt_tokens ?? 0,
        };
        settleSuccess(dependencies, target, attempt, performance.now() - attemptStarted);
        return result;
      },
    );
    request.served = record;
    request.reply = { kind: 'embeddings', result: value };
  } finally {
    request.upstreamMs = performance.now() - started;
  }
}
