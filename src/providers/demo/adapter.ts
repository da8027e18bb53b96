import { createHash, randomBytes } from 'node:crypto';
import { delay } from '../../core/call-signal.ts';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatMessage,
  ChatRequest,
  EmbeddingsResponse,
  Usage,
} from '../../core/openai-types.ts';
import { requireEmbeddings } from '../shared/require-embeddings.ts';
import { batchOf, type ProviderAdapter, type StreamEvent } from '../types.ts';

/**
 * `nexus-demo`: a built-in provider that answers without any network or key, so the quickstart works on a
 * fresh machine. Replies are deterministic (they quote the last user message) and clearly labelled; it is
 * enabled only when no real provider is configured, unless config says otherwise.
 */
export interface DemoOptions {
  /** Delay before the reply and between streamed words, in milliseconds. */
  readonly latencyMs: number;
}

export function createDemoAdapter(options: DemoOptions): ProviderAdapter {
  return {
    async chat(target, request, context) {
      if (options.latencyMs > 0) await delay(options.latencyMs, context.signal);
      const text = replyText(request);
      const completion: ChatCompletion = {
        id: `chatcmpl-demo-${randomBytes(9).toString('hex')}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: target.model,
        choices: [
          { index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop', logprobs: null },
        ],
        usage: usageFor(request, text),
      };
      return { completion, raw: undefined };
    },

    async chatStream(target, request, context) {
      const text = replyText(request);
      const base = {
        id: `chatcmpl-demo-${randomBytes(9).toString('hex')}`,
        object: 'chat.completion.chunk' as const,
        created: Math.floor(Date.now() / 1000),
        model: target.model,
      };
      const chunk = (
        delta: ChatCompletionChunk['choices'][0]['delta'],
        finish: 'stop' | null,
      ): StreamEvent => ({
        chunk: { ...base, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] },
        raw: undefined,
      });
      const words = text.split(/(?<= )/);
      const wantsUsage = request.stream_options?.include_usage === true;
      async function* generate(): AsyncGenerator<StreamEvent[]> {
        if (options.latencyMs > 0) await delay(options.latencyMs, context.signal);
        yield [chunk({ role: 'assistant', content: '' }, null)];
        for (const word of words) {
          if (options.latencyMs > 0) await delay(options.latencyMs, context.signal);
          yield [chunk({ content: word }, null)];
        }
        const last = [chunk({}, 'stop')];
        if (wantsUsage)
          last.push({ chunk: { ...base, choices: [], usage: usageFor(request, text) }, raw: undefined });
        yield batchOf(last);
      }
      return generate();
    },

    async embeddings(target, request, context) {
      requireEmbeddings(target);
      if (options.latencyMs > 0) await delay(options.latencyMs, context.signal);
      const inputs = Array.isArray(request.input) ? request.input : [request.input];
      const dimensions = request.dimensions ?? 256;
      let tokens = 0;
      const data = inputs.map((input, index) => {
        const text = typeof input === 'string' ? input : JSON.stringify(input);
        tokens += countTokens(text);
        const vector = embed(text, dimensions);
        const embedding =
          request.encoding_format === 'base64'
            ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
            : vector;
        return { object: 'embedding' as const, index, embedding };
      });
      const response: EmbeddingsResponse = {
        object: 'list',
        data,
        model: target.model,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      };
      return { response, raw: undefined };
    },
  };
}

function replyText(request: ChatRequest): string {
  const last = [...request.messages].reverse().find((message) => message.role === 'user');
  const said = last === undefined ? '' : textOf(last).trim();
  const quote = said.length > 200 ? `${said.slice(0, 200)}…` : said;
  return `This is the nexus-demo provider (no real model is configured). You said: "${quote}". Set OPENAI_API_KEY or another provider key to reach a real model.`;
}

function textOf(message: ChatMessage): string {
  if (typeof message.content === 'string') return message.content;
  if (!Array.isArray(message.content)) return '';
  return message.content
    .map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : `[${part.type}]`))
    .join(' ');
}

/** A rough, deterministic token count: words and punctuation runs. */
function countTokens(text: string): number {
  return text.match(/\w+|[^\s\w]/g)?.length ?? 0;
}

function usageFor(request: ChatRequest, reply: string): Usage {
  const prompt = request.messages.reduce((sum, message) => sum + countTokens(textOf(message)) + 4, 3);
  const completion = countTokens(reply);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** A unit vector derived from the text's SHA-256, so the same text always embeds the same way. */
function embed(text: string, dimensions: number): number[] {
  const vector: number[] = [];
  let block = createHash('sha256').update(text).digest();
  while (vector.length < dimensions) {
    for (let offset = 0; offset + 2 <= block.length && vector.length < dimensions; offset += 2) {
      vector.push(block.readInt16LE(offset) / 32768);
    }
    block = createHash('sha256').update(block).digest();
  }
  const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0)) || 1;
  return vector.map((value) => value / norm);
}
