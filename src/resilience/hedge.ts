import { AttemptAbort } from '../core/call-signal.ts';
import type { CallContext, UpstreamTarget } from '../providers/types.ts';
import {
  AttemptRecord,
  type LoopDependencies,
  type LoopOptions,
  type RequestContext,
  routingView,
  settleFailure,
  startSpan,
} from './attempt-loop.ts';
import type { RoutePlan } from './route-plan.ts';
import type { OpenedStream } from './stream-attempt.ts';

/** A stream attempt that has committed (its first real event arrived), with its own abort. */
export interface OpenAttempt<B> {
  readonly opened: OpenedStream<B>;
  /** The attempt's own abort; `release()` it when the attempt ends. */
  readonly controller: AttemptAbort;
}

type Open<B> = (target: UpstreamTarget, context: CallContext) => Promise<OpenAttempt<B>>;

export interface HedgeResult<B> {
  /** The attempt that delivered its first token first, when either did. */
  readonly won: { target: UpstreamTarget; value: OpenAttempt<B>; record: AttemptRecord } | undefined;
  /** Instances already tried, so the ordinary loop does not repeat them. */
  readonly tried: ReadonlySet<string>;
  /** Why the racers failed, when they all did: the error to report if nothing else can be tried. */
  readonly lastError?: unknown;
}

/** Cancels an attempt that lost the race: no verdict on its instance, but the attempt stays on the record. */
class HedgeLost extends Error {
  override readonly name = 'HedgeLost';
}

/**
 * Hedged first attempt for streams. Starts the best target; if its first token has not arrived after the
 * step's observed p95 time to first token, starts the second-best as a backup. Whichever first token arrives
 * first wins; the loser is aborted (its upstream request cancelled) and recorded as `cancelled`, so both
 * attempts are on the record and billed as they actually ran. With no TTFT history yet (fewer than five
 * samples) there is nothing to hedge against, and the ordinary loop runs instead.
 */
export async function tryHedged<B>(
  dependencies: LoopDependencies,
  plan: RoutePlan,
  context: RequestContext,
  options: LoopOptions,
  open: Open<B>,
): Promise<HedgeResult<B> | undefined> {
  const step = plan.steps[0];
  if (step === undefined) return undefined;
  const ordered = dependencies.orderer.order(
    step.targets,
    options.mode,
    routingView(dependencies, undefined),
  );
  const [primary, backup] = ordered;
  if (primary === undefined || backup === undefined) return undefined;
  const delays = step.targets
    .map((entry) => dependencies.stats.snapshot(entry.target.instance.id).ttftP95Ms)
    .filter((value): value is number => value !== undefined);
  if (delays.length === 0) return undefined;
  const hedgeAfterMs = Math.max(...delays);
  if (!(await dependencies.breakers.allow(primary.deployment))) return undefined;

  const tried = new Set<string>();
  type Racer = {
    target: UpstreamTarget;
    record: AttemptRecord;
    started: number;
    race: AttemptAbort;
    promise: Promise<OpenAttempt<B>>;
  };
  const start = (target: UpstreamTarget, hedge: boolean): Racer => {
    tried.add(target.instance.id);
    const record = new AttemptRecord(target);
    record.hedge = hedge;
    options.attempts.push(record);
    dependencies.stats.started(target.instance.id);
    // Each racer gets its own signal under the request's, so the loser can be cancelled alone.
    const race = new AttemptAbort(context.signal);
    const promise = open(target, {
      requestId: context.requestId,
      signal: race,
      warnings: record.warnings,
      traceHeaders: startSpan(context, record, options.attempts.length),
    });
    promise.finally(() => race.release()).catch(() => {});
    return { target, record, started: performance.now(), race, promise };
  };
  const cancel = (racer: Racer) => {
    racer.record.outcome = 'cancelled';
    racer.record.ms = Math.round(performance.now() - racer.started);
    dependencies.stats.abandoned(racer.target.instance.id);
    dependencies.breakers.release(racer.target.deployment);
    racer.record.endSpan();
  };

  return new Promise<HedgeResult<B>>((resolve) => {
    const racers: Racer[] = [];
    let settled = false;
    let failures = 0;
    let lastError: unknown;
    let timer: NodeJS.Timeout | undefined;
    const finish = (won: HedgeResult<B>['won']) => {
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve({ won, tried, lastError });
    };
    const watch = (racer: Racer) => {
      racer.promise.then(
        (value) => {
          if (settled) {
            // Answered after the winner committed: cancel it and keep it on the record, never as served.
            value.controller.abort(new HedgeLost('another attempt answered first'));
            value.controller.release();
            cancel(racer);
            return;
          }
          for (const other of racers) {
            if (other !== racer) other.race.abort(new HedgeLost('another attempt answered first'));
          }
          finish({ target: racer.target, value, record: racer.record });
        },
        (error: unknown) => {
          if (settled || racer.race.reason instanceof HedgeLost) {
            cancel(racer);
            return;
          }
          racer.record.ms = Math.round(performance.now() - racer.started);
          settleFailure(dependencies, racer.target, racer.record, error, context.signal);
          lastError = error;
          failures++;
          // Every started attempt failed (the primary alone, before the backup was due): let the loop go on.
          if (failures === racers.length) finish(undefined);
        },
      );
    };
    const first = start(primary, false);
    racers.push(first);
    watch(first);
    timer = setTimeout(() => {
      void dependencies.breakers.allow(backup.deployment).then((allowed) => {
        if (settled || !allowed) return;
        const racer = start(backup, true);
        racers.push(racer);
        watch(racer);
      });
    }, hedgeAfterMs);
  });
}
