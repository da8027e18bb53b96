import type { ProviderRegistry } from '../providers/registry.ts';
import type {
  CallContext,
  ChatResult,
  ChatStream,
  EmbeddingsResult,
  StreamEvent,
  UpstreamTarget,
} from '../providers/types.ts';
import { NexusError } from './errors.ts';
import type { InstanceStats } from './instance-stats.ts';
import type { ChatRequest, EmbeddingsRequest } from './openai-types.ts';
import type { ModelResolver } from './resolve-model.ts';

/**
 * The provider-facing half of the pipeline, free of HTTP: resolve the model (route stage), call the
 * adapter (dispatch stage) and record the attempt for health. The HTTP edge runs the stages before
 * (receive, authenticate, read body, validate) and after (respond); docs/architecture.md has the table.
 */
export interface PipelineDependencies {
  readonly resolver: ModelResolver;
  readonly registry: ProviderRegistry;
  readonly stats: InstanceStats;
}

export interface Completed<T> {
  readonly target: UpstreamTarget;
  readonly result: T;
  /** Time spent waiting on the upstream, in milliseconds. */
  readonly upstreamMs: number;
}

export async function completeChat(
  dependencies: PipelineDependencies,
  request: ChatRequest,
  context: CallContext,
): Promise<Completed<ChatResult>> {
  const target = dependencies.resolver.resolve(request.model, 'chat');
  const adapter = dependencies.registry.adapterFor(target.instance);
  return timed(dependencies.stats, target, () => adapter.chat(target, request, context));
}

export async function createEmbeddings(
  dependencies: PipelineDependencies,
  request: EmbeddingsRequest,
  context: CallContext,
): Promise<Completed<EmbeddingsResult>> {
  const target = dependencies.resolver.resolve(request.model, 'embedding');
  const adapter = dependencies.registry.adapterFor(target.instance);
  const embeddings = adapter.embeddings?.bind(adapter);
  if (embeddings === undefined) {
    throw new NexusError(
      'unsupported_capability',
      `${target.instance.provider.name} does not serve embeddings.`,
      {
        param: 'model',
      },
    );
  }
  return timed(dependencies.stats, target, () => embeddings(target, request, context));
}

/**
 * Opens a stream. Resolves when the upstream has accepted it; the returned stream records the attempt in
 * the stats when it ends, however it ends.
 */
export async function openChatStream(
  dependencies: PipelineDependencies,
  request: ChatRequest,
  context: CallContext,
): Promise<Completed<ChatStream>> {
  const target = dependencies.resolver.resolve(request.model, 'chat');
  const adapter = dependencies.registry.adapterFor(target.instance);
  const started = performance.now();
  dependencies.stats.started(target.instance.id);
  let stream: ChatStream;
  try {
    stream = await adapter.chatStream(target, request, context);
  } catch (error) {
    dependencies.stats.finished(target.instance.id, false, performance.now() - started);
    throw error;
  }
  const upstreamMs = performance.now() - started;
  return { target, result: recorded(stream, dependencies.stats, target, started), upstreamMs };
}

async function* recorded(
  stream: ChatStream,
  stats: InstanceStats,
  target: UpstreamTarget,
  started: number,
): AsyncGenerator<readonly StreamEvent[], void, undefined> {
  let ok = false;
  try {
    yield* stream;
    ok = true;
  } finally {
    stats.finished(target.instance.id, ok, performance.now() - started);
  }
}

async function timed<T>(
  stats: InstanceStats,
  target: UpstreamTarget,
  call: () => Promise<T>,
): Promise<Completed<T>> {
  const started = performance.now();
  stats.started(target.instance.id);
  try {
    const result = await call();
    const upstreamMs = performance.now() - started;
    stats.finished(target.instance.id, true, upstreamMs);
    return { target, result, upstreamMs };
  } catch (error) {
    stats.finished(target.instance.id, false, performance.now() - started);
    throw error;
  }
}
