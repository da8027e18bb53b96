import type { Usage } from '../core/openai-types.ts';
import type { Warning } from '../core/warning.ts';
import type { UpstreamTarget } from '../providers/types.ts';

export type AttemptOutcome = 'ok' | 'failed' | 'cancelled' | 'pending';

/**
 * An attempt's span while tracing is on (observability's, started through the request's `AttemptTracer`):
 * ended once, with the record itself, at the attempt's verdict.
 */
export interface AttemptSpan {
  /** The W3C trace context sent upstream with the attempt (`traceparent`, `tracestate`). */
  readonly headers: Readonly<Record<string, string>>;
  end(record: AttemptRecord): void;
}

/** Starts attempt spans for one request, when tracing is on (`pipeline/trace-attempts.ts`). */
export interface AttemptTracer {
  /** The span of `record`, the request's `number`th attempt (from 1). */
  start(record: AttemptRecord, number: number): AttemptSpan;
}

/**
 * One upstream attempt of a request (a retry, a failover, a hedge or a continuation), recorded exactly once.
 * It owns what that attempt produced: the adapter's warnings for the body it sent, the usage the upstream
 * reported, and (set by the meter stage, the only place usage is priced) its cost. A reply carries only its
 * winning attempt's warnings, so a reply served by one provider never shows another's.
 *
 * The target is private, so the log line (`toJSON`) never carries an instance's key.
 */
export class AttemptRecord {
  /** Instance display name, `"Groq (Key #1)"`. */
  readonly instance: string;
  /** The provider's model id. */
  readonly model: string;
  outcome: AttemptOutcome = 'pending';
  errorCode: string | undefined;
  /** Milliseconds from sending to the verdict. */
  ms: number | undefined;
  /** A stream attempt that committed: milliseconds from sending to its first real event. */
  ttftMs: number | undefined;
  /** The backup attempt of a hedged pair. */
  hedge = false;
  /** An attempt that resumed a stream broken after its first byte. */
  continuation = false;
  /** Sent through an open circuit or a refused key because no other route was left. */
  lastResort = false;
  /** What the adapter could not pass on as given for this attempt (its CallContext's warnings). */
  readonly warnings: Warning[] = [];
  /** The upstream's reported usage, canonical (OpenAI-shaped); undefined when it reported none. */
  usage: Usage | undefined;
  /** USD, priced by the meter from `usage` and the target's catalogue prices; undefined when not priceable. */
  costUsd: number | undefined;
  /** Set once the meter has priced this attempt, so it is never priced (or billed) twice. */
  priced = false;
  /** The model the upstream says answered (its reply's `model`), when it said; for the attempt's span. */
  responseModel: string | undefined;
  /** The attempt's span while tracing is on and the attempt has no verdict yet. */
  span: AttemptSpan | undefined;
  readonly #target: UpstreamTarget;

  constructor(target: UpstreamTarget) {
    this.#target = target;
    this.instance = target.instance.name;
    this.model = target.model;
  }

  get target(): UpstreamTarget {
    return this.#target;
  }

  /** Ends the attempt's span, if it has one, with its verdict: once outcome and error code are set. */
  endSpan(): void {
    const span = this.span;
    if (span === undefined) return;
    this.span = undefined;
    span.end(this);
  }

  /** The access-log shape: set fields only; usage as its token counts (the ledger keeps the full record). */
  toJSON(): Record<string, unknown> {
    const line: Record<string, unknown> = {
      instance: this.instance,
      model: this.model,
      outcome: this.outcome,
    };
    if (this.errorCode !== undefined) line.errorCode = this.errorCode;
    if (this.ms !== undefined) line.ms = this.ms;
    if (this.ttftMs !== undefined) line.ttftMs = this.ttftMs;
    if (this.hedge) line.hedge = true;
    if (this.continuation) line.continuation = true;
    if (this.lastResort) line.lastResort = true;
    if (this.warnings.length > 0) line.warnings = this.warnings;
    if (this.usage !== undefined) line.usage = usageCounts(this.usage);
    if (this.costUsd !== undefined) line.costUsd = this.costUsd;
    return line;
  }
}

/**
 * The token counts of a usage object, for the log line: a provider's whole usage object (OpenAI's nests two
 * detail objects) serialised into every access-log line was the larger part of the line's cost.
 */
function usageCounts(usage: Usage): Record<string, number> {
  const counts: Record<string, number> = {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: usage.completion_tokens,
  };
  const cached = usage.prompt_tokens_details?.cached_tokens;
  if (typeof cached === 'number' && cached > 0) counts.cached_tokens = cached;
  const written = usage.prompt_tokens_details?.cache_creation_tokens;
  if (typeof written === 'number' && written > 0) counts.cache_creation_tokens = written;
  return counts;
}
