import { type AttemptAbort, clientLeft } from '../core/call-signal.ts';
import { NexusError } from '../core/errors.ts';
import type { ChatRequest } from '../core/openai-types.ts';
import type { RoutePlan } from '../core/resolve-model.ts';
import {
  type CallContext,
  type ChatStream,
  markComplete,
  markUsage,
  type StreamBatch,
  type StreamEvent,
  type UpstreamTarget,
} from '../providers/types.ts';
import {
  type AttemptRecord,
  type LoopDependencies,
  type LoopOptions,
  runAttempts,
  settleFailure,
  settleSuccess,
  settleWithoutVerdict,
} from './attempt-loop.ts';
import type { OpenAttempt } from './hedge.ts';
import { countsAgainstInstance } from './retry-policy.ts';
import { abortReasonOr, type StreamTimeouts } from './stream-attempt.ts';

export interface CommitOptions {
  readonly dependencies: Pick<LoopDependencies, 'stats' | 'breakers' | 'rejectedKeys'>;
  readonly loop: LoopDependencies;
  readonly plan: RoutePlan;
  readonly request: ChatRequest;
  readonly context: CallContext;
  readonly options: LoopOptions;
  readonly timeouts: StreamTimeouts;
  readonly target: UpstreamTarget;
  readonly record: AttemptRecord;
  readonly opened: OpenAttempt['opened'];
  readonly controller: AttemptAbort;
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
 * The stream the client receives once an attempt has committed: the head batches read while waiting for the
 * first token, then the rest under an inter-event stall timer. It records the attempt's verdict when the
 * stream ends (success, a counted failure, or no verdict when the client left). A failure after the first byte
 * either propagates (the edge ends the client's stream with an error event, never `[DONE]`), or, with
 * `recovery: continue` and a text-only partial answer, resumes on another instance: the conversation plus the
 * partial answer go to the next target, whose continuation is streamed on under the original chunk id. The
 * resumed attempt is marked `continuation` in the record.
 *
 * A plain iterator rather than generator layers: it sits on every streamed batch, and one promise per batch is
 * all it costs.
 */
export function commitStream(options: CommitOptions): ChatStream {
  return new CommittedStream(options);
}

class CommittedStream implements AsyncIterableIterator<StreamBatch> {
  readonly #options: CommitOptions;
  #target: UpstreamTarget;
  #record: AttemptRecord;
  #opened: OpenAttempt['opened'];
  #controller: AttemptAbort;
  #started = performance.now();
  #resumed = false;
  #partial: Partial | undefined;
  #exclude: Set<string> | undefined;
  /** Armed only while waiting on the upstream, so a client slow to read (backpressure) is not a stall. */
  #stallTimer: NodeJS.Timeout | undefined;
  #waiting = false;
  #ended = false;

  constructor(options: CommitOptions) {
    this.#options = options;
    ({
      target: this.#target,
      record: this.#record,
      opened: this.#opened,
      controller: this.#controller,
    } = options);
    if (options.recovery === 'continue') this.#partial = { text: '', toolCalls: false, id: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<StreamBatch, undefined>> {
    if (this.#ended) return { done: true, value: undefined };
    const first = this.#opened.head.shift();
    if (first !== undefined) return this.#deliver(first);
    for (;;) {
      let next: IteratorResult<StreamBatch, void>;
      this.#armStall();
      try {
        next = await this.#opened.iterator.next();
      } catch (error) {
        this.#waiting = false;
        await this.#recover(abortReasonOr(this.#controller, error));
        const resumedFirst = this.#opened.head.shift();
        if (resumedFirst !== undefined) return this.#deliver(resumedFirst);
        continue;
      }
      this.#waiting = false;
      if (next.done === true) {
        settleSuccess(
          this.#options.dependencies,
          this.#target,
          this.#record,
          performance.now() - this.#started,
        );
        this.#end();
        return { done: true, value: undefined };
      }
      return this.#deliver(next.value);
    }
  }

  /** The consumer stopped early (the client left): no verdict on the instance, and the upstream is released. */
  async return(): Promise<IteratorResult<StreamBatch, undefined>> {
    if (this.#ended) return { done: true, value: undefined };
    settleWithoutVerdict(this.#options.dependencies, this.#target, this.#record, 'cancelled');
    this.#record.ms = Math.round(performance.now() - this.#started);
    this.#end();
    await this.#opened.iterator.return?.();
    return { done: true, value: undefined };
  }

  #deliver(batch: StreamBatch): IteratorResult<StreamBatch, undefined> {
    if (this.#partial !== undefined) observe(this.#partial, batch);
    return { done: false, value: this.#resumed ? rewriteContinuation(batch, this.#partial?.id) : batch };
  }

  #armStall() {
    this.#waiting = true;
    const { stallMs } = this.#options.timeouts;
    if (stallMs <= 0) return;
    if (this.#stallTimer !== undefined) {
      this.#stallTimer.refresh();
      return;
    }
    this.#stallTimer = setTimeout(() => this.#onStallTimer(stallMs), stallMs);
  }

  #onStallTimer(stallMs: number) {
    // Time spent waiting for the client to read is not a stall: re-arm and keep counting upstream time only.
    if (!this.#waiting) {
      this.#stallTimer?.refresh();
      return;
    }
    this.#controller.abort(
      new NexusError(
        'stream_interrupted',
        `${this.#target.instance.name} stream stalled for more than ${stallMs} ms.`,
      ),
    );
  }

  /**
   * Records the failed attempt, then either resumes on another instance (the `continue` recovery, for a
   * text-only partial answer) or ends the stream by throwing the failure.
   */
  async #recover(error: unknown): Promise<void> {
    const options = this.#options;
    this.#record.ms = Math.round(performance.now() - this.#started);
    settleFailure(options.dependencies, this.#target, this.#record, error, options.context.signal);
    const partial = this.#partial;
    if (
      partial === undefined ||
      clientLeft(options.context.signal) ||
      !countsAgainstInstance(error) ||
      partial.toolCalls
    ) {
      this.#end();
      throw error;
    }
    this.#exclude ??= new Set(options.options.exclude ?? []);
    this.#exclude.add(this.#target.instance.id);
    this.#controller.release();
    let next: Awaited<ReturnType<typeof runAttempts<OpenAttempt>>>;
    try {
      next = await runAttempts(
        options.loop,
        options.plan,
        options.context,
        { ...options.options, exclude: this.#exclude },
        (candidate, attemptContext) =>
          options.reopen(candidate, attemptContext, continuationRequest(options.request, partial.text)),
      );
    } catch {
      this.#end();
      throw error;
    }
    next.record.continuation = true;
    this.#target = next.target;
    this.#record = next.record;
    ({ opened: this.#opened, controller: this.#controller } = next.value);
    options.onResumed?.(next.target);
    this.#resumed = true;
    this.#started = performance.now();
  }

  #end() {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#stallTimer !== undefined) clearTimeout(this.#stallTimer);
    this.#controller.release();
    this.#options.onEnd?.();
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
