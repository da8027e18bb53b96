import type { ChatRequest } from '../core/openai-types.ts';
import {
  type CallContext,
  markComplete,
  markUsage,
  type StreamBatch,
  type StreamEvent,
  type UpstreamTarget,
} from '../providers/types.ts';
import type { StreamResume } from './committed-stream.ts';
import type { OpenAttempt } from './hedge.ts';

/** Opens one chat stream attempt with the given body (the continuation request). */
export type OpenChatAttempt = (
  target: UpstreamTarget,
  context: CallContext,
  body: ChatRequest,
) => Promise<OpenAttempt<StreamBatch>>;

/**
 * `streamRecovery: continue` for chat streams: a text-only partial answer that broke is resumed on another
 * target. The conversation plus the partial answer go to the next target with a request to carry on, and its
 * continuation is streamed on under the original chunk id, without a second role chunk. A partial answer with
 * a tool call cannot be resumed (the arguments would be regenerated), so it ends with the error instead.
 */
export function chatStreamResume(request: ChatRequest, open: OpenChatAttempt): StreamResume<StreamBatch> {
  let text = '';
  let toolCalls = false;
  let id: string | undefined;
  return {
    observe(batch) {
      for (const event of batch) {
        if (event.hidden === true) continue;
        if (id === undefined && event.chunk.id !== '') id = event.chunk.id;
        for (const choice of event.chunk.choices) {
          if (typeof choice.delta.content === 'string') text += choice.delta.content;
          if ((choice.delta.tool_calls?.length ?? 0) > 0) toolCalls = true;
        }
      }
    },
    possible: () => !toolCalls,
    reopen: (target, context) => open(target, context, continuationRequest(request, text)),
    rewrite: (batch) => rewriteContinuation(batch, id),
  };
}

/** The resumed attempt's chunks, under the original id and without a second role chunk. */
function rewriteContinuation(batch: StreamBatch, id: string | undefined): StreamBatch {
  const out: StreamEvent[] = [];
  for (const event of batch) {
    const choices = event.chunk.choices.map((choice) => {
      const { role: _role, ...delta } = choice.delta;
      return { ...choice, delta };
    });
    const roleOnly =
      choices.every((choice) => Object.keys(choice.delta).length === 0 || choice.delta.content === '') &&
      choices.every((choice) => choice.finish_reason == null) &&
      event.chunk.usage == null;
    if (roleOnly && event.chunk.choices.length > 0) continue;
    const chunk = { ...event.chunk, id: id ?? event.chunk.id, choices };
    out.push(event.hidden === true ? { chunk, raw: undefined, hidden: true } : { chunk, raw: undefined });
  }
  if (batch.usage !== undefined) markUsage(out, batch.usage);
  return batch.complete === true ? markComplete(out) : out;
}

/** Asks the next model to carry on from exactly where the broken stream stopped. */
export function continuationRequest(request: ChatRequest, partialText: string): ChatRequest {
  return {
    ...request,
    messages: [
      ...request.messages,
      { role: 'assistant', content: partialText },
      {
        role: 'user',
        content:
          'Your previous reply was cut off. Continue it exactly from where it stopped, without repeating anything and without any preamble.',
      },
    ],
  };
}
