import { NexusError } from '../../core/errors.ts';
import type {
  ChatCompletion,
  ChatRequest,
  EmbeddingsRequest,
  EmbeddingsResponse,
} from '../../core/openai-types.ts';
import type { HttpClient } from '../../transport/http-client.ts';
import { readChunkStream } from '../shared/openai-chunk-stream.ts';
import { errorMessageOf, errorMessageOfText } from '../shared/openai-error-message.ts';
import { postJson } from '../shared/post-json.ts';
import { readReplyText, readTextCapped } from '../shared/read-body.ts';
import { upstreamError } from '../shared/upstream-errors.ts';
import type {
  CallContext,
  ChatResult,
  ChatStream,
  EmbeddingsResult,
  ProviderAdapter,
  UpstreamTarget,
} from '../types.ts';
import { buildChatBody, buildEmbeddingsBody, buildHeaders } from './request.ts';

/**
 * The shared adapter for every provider that speaks OpenAI's wire format (OpenAI itself, Groq, OpenRouter,
 * Cerebras, Mistral, Together, DeepSeek, Fireworks, xAI, vLLM, Ollama, custom base URLs). Per-provider
 * differences are catalogue data (ProviderQuirks), not code.
 */
export function createOpenAICompatibleAdapter(client: HttpClient): ProviderAdapter {
  return {
    async chat(target, request, context) {
      const response = await post(client, target, '/chat/completions', {
        body: buildChatBody(target, { ...request, stream: false }, context.warnings),
        accept: 'application/json',
        context,
      });
      const raw = await readReplyText(response.body, target.instance.name, context.signal);
      const completion = parseJson(raw, target) as ChatCompletion;
      if (!Array.isArray(completion.choices)) throw unreadable(target, 'a reply without choices');
      return { completion, raw } satisfies ChatResult;
    },

    async chatStream(target, request, context): Promise<ChatStream> {
      const response = await post(client, target, '/chat/completions', {
        body: buildChatBody(target, { ...request, stream: true }, context.warnings),
        accept: 'text/event-stream',
        context,
      });
      const contentType = String(response.headers['content-type'] ?? '');
      if (!contentType.includes('text/event-stream')) {
        // Some providers answer a streamed request with a JSON error and status 200.
        const text = await readTextCapped(response.body);
        const message = errorMessageOfText(text);
        throw unreadable(target, message === '' ? `'${contentType}' instead of an event stream` : message);
      }
      return readChunkStream(response.body, {
        providerName: target.instance.name,
        clientWantsUsage: request.stream_options?.include_usage === true,
        signal: context.signal,
      });
    },

    async embeddings(target, request, context) {
      if (!target.instance.provider.quirks.supportsEmbeddings) {
        throw new NexusError(
          'unsupported_capability',
          `${target.instance.provider.name} does not serve embeddings.`,
          {
            param: 'model',
          },
        );
      }
      const response = await post(client, target, '/embeddings', {
        body: buildEmbeddingsBody(target, request),
        accept: 'application/json',
        context,
      });
      const raw = await readReplyText(response.body, target.instance.name, context.signal);
      const parsed = parseJson(raw, target) as EmbeddingsResponse;
      if (!Array.isArray(parsed.data)) throw unreadable(target, 'a reply without data');
      return { response: parsed, raw } satisfies EmbeddingsResult;
    },
  };
}

interface PostOptions {
  readonly body: ChatRequest | EmbeddingsRequest;
  readonly accept: string;
  readonly context: CallContext;
}

/** Sends one POST; a non-2xx reply is drained and thrown as a catalogue error before any byte reaches the client. */
async function post(client: HttpClient, target: UpstreamTarget, path: string, options: PostOptions) {
  const name = target.instance.name;
  return postJson(client, {
    url: target.instance.baseUrl + path,
    headers: buildHeaders(target, options.accept),
    body: options.body,
    signal: options.context.signal,
    providerName: name,
    failure: ({ status, headers, text }) =>
      upstreamError({ status, headers, message: errorMessageOfText(text), providerName: name }),
  });
}

function parseJson(raw: string, target: UpstreamTarget): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw unreadable(target, 'a body that is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object') throw unreadable(target, 'a body that is not an object');
  const message = errorMessageOf(parsed);
  if ((parsed as { error?: unknown }).error !== undefined) throw unreadable(target, message);
  return parsed;
}

function unreadable(target: UpstreamTarget, what: string): NexusError {
  return new NexusError('upstream_error', `${target.instance.name} returned ${what}.`);
}
