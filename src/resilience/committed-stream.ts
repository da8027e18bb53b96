import { isNexusError } from '../core/errors.ts';
import type { ChatRequest } from '../core/openai-types.ts';
import type { RoutePlan } from '../core/resolve-model.ts';
import type { CallContext, ChatStream, StreamEvent, UpstreamTarget } from '../providers/types.ts';
import {
  type AttemptRecord,
  type LoopDependencies,
  type LoopOptions,
  runAttempts,
  settleFailure,
  settleSuccess,
} from './attempt-loop.ts';
import type { OpenAttempt } from './hedge.ts';
import { countsAgainstInstance } from './retry-policy.ts';
import { StallGuardedReader, type StreamTimeouts } from './stream-attempt.ts';

export interface CommitOptions {
  readonly dependencies: Pick<LoopDependencies, 'stats' | 'breakers'>;
  readonly loop: LoopDependencies;
  readonly plan: RoutePlan;
  readonly request: ChatRequest;
  readonly context: CallContext;
  readonly options: LoopOptions;
  readonly timeouts: StreamTimeouts;
  readonly target: UpstreamTarget;
  readonly record: AttemptRecord;
  readonly opened: OpenAttempt['opened'];
  readonly controller: AbortController;
  readonly release: () => void;
  /** `error`: a break after the first byte ends the stream with an error; `continue`: resume elsewhere. */
  readonly recovery: 'error' | 'continue';
  readonly reopen: (target: UpstreamTarget, context: CallContext, body: ChatRequest) => Promise<OpenAttempt>;
  /** Runs once when the stream ends, however it ends (clears a group deadline). */
  readonly onEnd?: () => void;
  /** Told the new target when the stream resumes elsewhere. */
  readonly onResumed?: ((target: UpstreamTarget) => void) | undefined;
}

/** What the client has been sent so far, to resume from it. */
interface Partial {
  text: string;
  toolCalls: boolean;
  id: string | undefined;
}

/**
 * The stream the client receives once an attempt has committed. It records the attempt's verdict when the
 * stream ends (success, a counted failure, or no verdict when the client left). A failure after the first byte
 * either propagates (the edge ends the client's stream with an error event, never `[DONE]`), or, with
 * `recovery: continue` and a text-only partial answer, resumes on another instance: the conversation plus the
 * partial answer go to the next target, whose continuation is streamed on under the original chunk id. The
 * resumed attempt is marked `continuation` in the record.
 */
export async function* commitStream(options: CommitOptions): ChatStream {
  let { target, record, opened, controller, release } = options;
  const partial: Partial = { text: '', toolCalls: false, id: undefined };
  const exclude = new Set(options.options.exclude ?? []);
  let resumed = false;
  let started = performance.now();
  try {
    for (;;) {
      const releaseAttempt = release;
      const reader = new StallGuardedReader(
        opened,
        controller,
        options.timeouts.stallMs,
        target.instance.name,
      );
      try {
        try {
          for (let batch = await reader.next(); batch !== undefined; batch = await reader.next()) {
            if (options.recovery === 'continue') observe(partial, batch);
            yield resumed ? rewriteContinuation(batch, partial.id) : batch;
          }
        } finally {
          await reader.close();
        }
        settleSuccess(options.dependencies, target.instance.id, record, performance.now() - started);
        return;
      } catch (error) {
        record.ms = Math.round(performance.now() - started);
        settleFailure(options.dependencies, target.instance.id, record, error, options.context.signal);
        const clientGone = options.context.signal.aborted && !isNexusError(options.context.signal.reason);
        if (
          options.recovery !== 'continue' ||
          clientGone ||
          !countsAgainstInstance(error) ||
          partial.toolCalls
        ) {
          throw error;
        }
        exclude.add(target.instance.id);
        const body = continuationRequest(options.request, partial.text);
        let next: Awaited<ReturnType<typeof runAttempts<OpenAttempt>>>;
        try {
          next = await runAttempts(
            options.loop,
            options.plan,
            options.context,
            { ...options.options, exclude },
            (candidate, attemptContext) => options.reopen(candidate, attemptContext, body),
          );
        } catch {
          throw error;
        }
        next.record.continuation = true;
        ({ target, record } = next);
        options.onResumed?.(target);
        ({ opened, controller, release } = next.value);
        resumed = true;
        started = performance.now();
      } finally {
        releaseAttempt();
      }
    }
  } finally {
    options.onEnd?.();
  }
}

function observe(partial: Partial, batch: readonly StreamEvent[]) {
  for (const event of batch) {
    if (event.hidden === true) continue;
    if (partial.id === undefined && event.chunk.id !== '') partial.id = event.chunk.id;
    for (const choice of event.chunk.choices) {
      if (typeof choice.delta.content === 'string') partial.text += choice.delta.content;
      if ((choice.delta.tool_calls?.length ?? 0) > 0) partial.toolCalls = true;
    }
  }
}

/** The resumed attempt's chunks, under the original id and without a second role chunk. */
function rewriteContinuation(batch: readonly StreamEvent[], id: string | undefined): StreamEvent[] {
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
  return out;
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
