import type {
  ChatCompletion,
  ChatCompletionChunk,
  FinishReason,
  ToolCall,
  Usage,
} from '../core/openai-types.ts';
import type { AnthropicBlock, AnthropicMessageBody } from './cache-types.ts';

/**
 * A stream is stored in the cache only after it completed successfully (SPEC §3.3): these accumulators rebuild
 * the whole answer from the chunks the client was sent, and give it back only when the stream is complete,
 * so a cut, failed or abandoned stream can never become a cached answer. They are the inverse of
 * `stream-replay.ts`: replaying an accumulated answer gives the same text, tool calls, finish and usage.
 */

interface ChoiceState {
  role: 'assistant';
  content: string | null | undefined;
  reasoning: string | undefined;
  refusal: string | undefined;
  readonly toolCalls: ToolCall[];
  logprobs: { content: unknown[] } | undefined;
  finish: FinishReason | null;
}

/** Collects OpenAI `chat.completion.chunk`s; `result()` is the completion once every choice has finished. */
export class ChatStreamAccumulator {
  #head: ChatCompletionChunk | undefined;
  readonly #choices = new Map<number, ChoiceState>();
  #usage: Usage | undefined;

  add(chunk: ChatCompletionChunk): void {
    this.#head ??= chunk;
    if (chunk.usage != null) this.#usage = chunk.usage;
    for (const choice of chunk.choices) {
      let state = this.#choices.get(choice.index);
      if (state === undefined) {
        state = {
          role: 'assistant',
          content: undefined,
          reasoning: undefined,
          refusal: undefined,
          toolCalls: [],
          logprobs: undefined,
          finish: null,
        };
        this.#choices.set(choice.index, state);
      }
      const delta = choice.delta;
      if (typeof delta.content === 'string') state.content = (state.content ?? '') + delta.content;
      else if (delta.content === null && state.content === undefined) state.content = null;
      if (typeof delta.reasoning_content === 'string')
        state.reasoning = (state.reasoning ?? '') + delta.reasoning_content;
      if (typeof delta.refusal === 'string') state.refusal = (state.refusal ?? '') + delta.refusal;
      for (const call of delta.tool_calls ?? []) {
        let target = state.toolCalls[call.index];
        if (target === undefined) {
          target = { id: '', type: 'function', function: { name: '', arguments: '' } };
          state.toolCalls[call.index] = target;
        }
        if (call.id !== undefined) target.id = call.id;
        if (call.function?.name !== undefined) target.function.name += call.function.name;
        if (call.function?.arguments !== undefined) target.function.arguments += call.function.arguments;
      }
      const logprobs = choice.logprobs as { content?: unknown } | null | undefined;
      if (logprobs != null && Array.isArray(logprobs.content)) {
        state.logprobs ??= { content: [] };
        state.logprobs.content.push(...logprobs.content);
      }
      if (choice.finish_reason != null) state.finish = choice.finish_reason;
    }
  }

  /** The whole completion, or undefined while any choice has not finished (or nothing came). */
  result(): ChatCompletion | undefined {
    const head = this.#head;
    if (head === undefined || this.#choices.size === 0) return undefined;
    const choices: ChatCompletion['choices'] = [];
    for (const [index, state] of [...this.#choices].sort((a, b) => a[0] - b[0])) {
      if (state.finish === null) return undefined;
      // A tool-call index that never came (a gap) is not a whole answer.
      if (Array.from(state.toolCalls).includes(undefined as unknown as ToolCall)) return undefined;
      const message: ChatCompletion['choices'][number]['message'] = {
        role: 'assistant',
        content: state.content ?? null,
      };
      if (state.reasoning !== undefined) message.reasoning_content = state.reasoning;
      if (state.refusal !== undefined) message.refusal = state.refusal;
      if (state.toolCalls.length > 0) message.tool_calls = state.toolCalls;
      const choice: ChatCompletion['choices'][number] = { index, message, finish_reason: state.finish };
      if (state.logprobs !== undefined) choice.logprobs = state.logprobs;
      choices.push(choice);
    }
    const completion: ChatCompletion = {
      id: head.id,
      object: 'chat.completion',
      created: head.created,
      model: head.model,
      choices,
    };
    for (const field of ['system_fingerprint', 'service_tier'] as const) {
      if (head[field] !== undefined && head[field] !== null) completion[field] = head[field];
    }
    if (this.#usage !== undefined) completion.usage = this.#usage;
    return completion;
  }
}

/** Collects Anthropic stream events; `result()` is the message once `message_stop` arrived. */
export class AnthropicStreamAccumulator {
  #message: AnthropicMessageBody | undefined;
  readonly #json = new Map<number, string>();
  #stopped = false;
  #broken = false;

  add(event: { readonly type: string; readonly [field: string]: unknown }): void {
    const message = this.#message;
    switch (event.type) {
      case 'message_start': {
        const start = event.message as AnthropicMessageBody;
        this.#message = { ...start, content: [], usage: { ...start.usage } };
        return;
      }
      case 'content_block_start':
        if (message !== undefined)
          message.content[event.index as number] = { ...(event.content_block as AnthropicBlock) };
        return;
      case 'content_block_delta':
        if (message !== undefined)
          this.#delta(message, event.index as number, event.delta as Record<string, unknown>);
        return;
      case 'content_block_stop':
        if (message !== undefined) this.#closeBlock(message, event.index as number);
        return;
      case 'message_delta':
        if (message !== undefined) {
          const delta = event.delta as { stop_reason?: string | null; stop_sequence?: string | null };
          if (delta.stop_reason !== undefined) message.stop_reason = delta.stop_reason;
          if (delta.stop_sequence !== undefined) message.stop_sequence = delta.stop_sequence;
          // message_delta usage is cumulative: its fields replace message_start's.
          for (const [name, value] of Object.entries((event.usage as Record<string, unknown>) ?? {})) {
            if (value !== null && value !== undefined) message.usage[name] = value;
          }
        }
        return;
      case 'message_stop':
        this.#stopped = true;
        return;
      case 'error':
        this.#broken = true;
        return;
      default:
        return;
    }
  }

  /** The whole message, or undefined unless the stream reached `message_stop` without an error. */
  result(): AnthropicMessageBody | undefined {
    if (!this.#stopped || this.#broken || this.#message === undefined) return undefined;
    if (this.#message.content.some((block) => block === undefined)) return undefined;
    return this.#message;
  }

  #delta(message: AnthropicMessageBody, index: number, delta: Record<string, unknown>): void {
    const block = message.content[index] as Record<string, unknown> | undefined;
    if (block === undefined) {
      this.#broken = true;
      return;
    }
    switch (delta.type) {
      case 'text_delta':
        block.text = `${(block.text as string | undefined) ?? ''}${delta.text as string}`;
        return;
      case 'input_json_delta':
        this.#json.set(index, (this.#json.get(index) ?? '') + (delta.partial_json as string));
        return;
      case 'thinking_delta':
        block.thinking = `${(block.thinking as string | undefined) ?? ''}${delta.thinking as string}`;
        return;
      case 'signature_delta':
        block.signature = delta.signature;
        return;
      case 'citations_delta':
        block.citations = [...((block.citations as unknown[] | undefined) ?? []), delta.citation];
        return;
      default:
        return;
    }
  }

  #closeBlock(message: AnthropicMessageBody, index: number): void {
    const json = this.#json.get(index);
    if (json === undefined) return;
    this.#json.delete(index);
    try {
      (message.content[index] as Record<string, unknown>).input = json === '' ? {} : JSON.parse(json);
    } catch {
      this.#broken = true;
    }
  }
}
