import { clientLeft } from '../core/call-signal.ts';
import { NexusError } from '../core/errors.ts';
import type { Usage } from '../core/openai-types.ts';
import type { CallContext, UpstreamTarget } from '../providers/types.ts';
import {
  type AttemptRecord,
  type LoopDependencies,
  type LoopOptions,
  type RequestContext,
  runAttempts,
  settleFailure,
  settleSuccess,
  settleWithoutVerdict,
} from './attempt-loop.ts';
import type { OpenAttempt } from './hedge.ts';
import { countsAgainstInstance } from './retry-policy.ts';
import type { RoutePlan } from './route-plan.ts';
import { abortReasonOr, type StreamTimeouts } from './stream-attempt.ts';

/**
 * How a broken stream resumes on another target (a model group's `streamRecovery: continue`). The committed
 * stream shows it every batch it delivers; after a break it asks whether resuming makes sense and, if so,
 * runs the attempt loop once more with `reopen`, then passes the new attempt's batches through `rewrite`.
 */
export interface StreamResume<B> {
  observe(batch: B): void;
  /** False when what the client has seen cannot be continued (a tool call in flight). */
  possible(): boolean;
  reopen(target: UpstreamTarget, context: CallContext): Promise<OpenAttempt<B>>;
  rewrite(batch: B): B;
}

export interface CommitOptions<B> {
  readonly loop: LoopDependencies;
  readonly plan: RoutePlan;
  readonly context: RequestContext;
  readonly options: LoopOptions;
  readonly timeouts: StreamTimeouts;
  readonly target: UpstreamTarget;
  readonly record: AttemptRecord;
  readonly opened: OpenAttempt<B>;
  /** The usage a batch carries (canonical), recorded on the attempt that produced it. */
  readonly usageOf: (batch: B) => Usage | undefined;
  /** Absent: a break after the first byte ends the stream with an error. */
  readonly resume?: StreamResume<B> | undefined;
  /** Told the new target when the stream resumes elsewhere. */
  readonly onResumed?: ((target: UpstreamTarget, record: AttemptRecord) => void) | undefined;
}

/**
 * The stream the client receives once an attempt has committed: the head batches read while waiting for the
 * first token, then the rest under an inter-event stall timer. It records the attempt's verdict when the
 * stream ends (success, a counted failure, or no verdict when the client left) and the usage each batch
 * carries on the attempt that produced it. A failure after the first byte either propagates (the edge ends
 * the client's stream with an error event, never a clean end), or, with a `resume` strategy, continues on
 * another instance; the resumed attempt is marked `continuation` in the record.
 *
 * A plain iterator rather than generator layers: it sits on every streamed batch, and one promise per batch is
 * all it costs. `onEnd` callbacks run once, synchronously, when the stream ends however it ends (the meter
 * prices the request there; a group deadline is cleared).
 */
export class CommittedStream<B> implements AsyncIterableIterator<B> {
  readonly #options: CommitOptions<B>;
  #target: UpstreamTarget;
  #record: AttemptRecord;
  #opened: OpenAttempt<B>;
  #started = performance.now();
  #resumed = false;
  #exclude: Set<string> | undefined;
  /** Armed only while waiting on the upstream, so a client slow to read (backpressure) is not a stall. */
  #stallTimer: NodeJS.Timeout | undefined;
  #waiting = false;
  #ended = false;
  #onEnd: Array<() => void> = [];

  constructor(options: CommitOptions<B>) {
    this.#options = options;
    this.#target = options.target;
    this.#record = options.record;
    this.#opened = options.opened;
  }

  /** The target serving the stream now (another one after a resume). */
  get target(): UpstreamTarget {
    return this.#target;
  }

  /** Runs `callback` once when the stream ends, however it ends (at once if it already has). */
  onEnd(callback: () => void): void {
    if (this.#ended) callback();
    else this.#onEnd.push(callback);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<B, undefined>> {
    if (this.#ended) return { done: true, value: undefined };
    const first = this.#opened.opened.head.shift();
    if (first !== undefined) return this.#deliver(first);
    for (;;) {
      let next: IteratorResult<B, void>;
      this.#armStall();
      try {
        next = await this.#opened.opened.iterator.next();
      } catch (error) {
        this.#waiting = false;
        await this.#recover(abortReasonOr(this.#opened.controller, error));
        const resumedFirst = this.#opened.opened.head.shift();
        if (resumedFirst !== undefined) return this.#deliver(resumedFirst);
        continue;
      }
      this.#waiting = false;
      if (next.done === true) {
        settleSuccess(this.#options.loop, this.#target, this.#record, performance.now() - this.#started);
        this.#end();
        return { done: true, value: undefined };
      }
      return this.#deliver(next.value);
    }
  }

  /** The consumer stopped early (the client left): no verdict on the instance, and the upstream is released. */
  async return(): Promise<IteratorResult<B, undefined>> {
    if (this.#ended) return { done: true, value: undefined };
    settleWithoutVerdict(this.#options.loop, this.#target, this.#record, 'cancelled');
    this.#record.ms = Math.round(performance.now() - this.#started);
    this.#end();
    await this.#opened.opened.iterator.return?.();
    return { done: true, value: undefined };
  }

  #deliver(batch: B): IteratorResult<B, undefined> {
    const usage = this.#options.usageOf(batch);
    if (usage !== undefined) this.#record.usage = usage;
    const resume = this.#options.resume;
    if (resume === undefined) return { done: false, value: batch };
    resume.observe(batch);
    return { done: false, value: this.#resumed ? resume.rewrite(batch) : batch };
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
    this.#opened.controller.abort(
      new NexusError(
        'stream_interrupted',
        `${this.#target.instance.name} stream stalled for more than ${stallMs} ms.`,
      ),
    );
  }

  /** Records the failed attempt, then either resumes on another instance or ends the stream by throwing. */
  async #recover(error: unknown): Promise<void> {
    const options = this.#options;
    this.#record.ms = Math.round(performance.now() - this.#started);
    settleFailure(options.loop, this.#target, this.#record, error, options.context.signal);
    const resume = options.resume;
    if (
      resume === undefined ||
      clientLeft(options.context.signal) ||
      !countsAgainstInstance(error) ||
      !resume.possible()
    ) {
      this.#end();
      throw error;
    }
    this.#exclude ??= new Set(options.options.exclude ?? []);
    this.#exclude.add(this.#target.instance.id);
    this.#opened.controller.release();
    let next: Awaited<ReturnType<typeof runAttempts<OpenAttempt<B>>>>;
    try {
      next = await runAttempts(
        options.loop,
        options.plan,
        options.context,
        { ...options.options, exclude: this.#exclude },
        (candidate, attemptContext) => resume.reopen(candidate, attemptContext),
      );
    } catch {
      this.#end();
      throw error;
    }
    next.record.continuation = true;
    this.#target = next.target;
    this.#record = next.record;
    this.#opened = next.value;
    options.onResumed?.(next.target, next.record);
    this.#resumed = true;
    this.#started = performance.now();
  }

  #end() {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#stallTimer !== undefined) clearTimeout(this.#stallTimer);
    this.#opened.controller.release();
    for (const callback of this.#onEnd) callback();
    this.#onEnd = [];
  }
}
