import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import {
  type MetricsReply,
  type MetricsRequest,
  metricsRequestType,
} from '../observability/cluster-metrics.ts';
import type { Logger } from '../observability/logger.ts';

/**
 * `WORKERS`: how many gateway processes `npm start` runs on this machine (node:cluster; they share the listening
 * socket and spread connections round-robin). A positive integer, or `auto` for one per core; default 1, one
 * process without a primary. Undefined means the value is not valid.
 */
export function workerCount(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return 1;
  if (value.trim() === 'auto') return availableParallelism();
  const count = Number(value);
  return Number.isInteger(count) && count >= 1 && count <= 256 ? count : undefined;
}

/** A worker that stops this soon after starting is failing to start, not crashing: the primary gives up. */
const startupFailureMs = 10_000;
/** How long the primary waits for its workers to drain before it stops them hard. */
const stopGraceMs = 60_000;

/**
 * The primary of `WORKERS` > 1: forks the workers, replaces one that dies while serving, passes SIGTERM/SIGINT
 * on and exits once every worker has drained, and answers a worker's `/metrics` with every worker's metrics
 * added up (prom-client's AggregatorRegistry asks each worker for its registry over IPC). It serves no HTTP and
 * holds no gateway state: workers share state through the same stores separate replicas use (SQLite file or
 * PostgreSQL; Redis for limits, breakers and the cache).
 */
export function runPrimary(workers: number, log: Logger): void {
  const aggregator = new AggregatorRegistry();
  const startedAt = new Map<Worker, number>();
  let stopping = false;
  let exitCode = 0;

  const fork = (index: number) => {
    const worker = cluster.fork({ NEXUS_WORKER_INDEX: String(index) });
    startedAt.set(worker, Date.now());
    worker.on('message', (message: unknown) => {
      if (isMetricsRequest(message)) void answerMetrics(worker, message);
    });
    worker.on('exit', (code, signal) => {
      const lived = Date.now() - (startedAt.get(worker) ?? 0);
      startedAt.delete(worker);
      if (stopping) {
        if (startedAt.size === 0) process.exit(exitCode);
        return;
      }
      if (lived < startupFailureMs && code !== 0) {
        // A bad setting or a taken port fails every worker the same way: stop rather than fork forever.
        log.error({ worker: index, code, signal }, 'a worker failed to start; stopping');
        stop('worker-failed', code ?? 1);
        return;
      }
      log.error({ worker: index, code, signal }, 'a worker exited; starting another');
      fork(index);
    });
  };

  const answerMetrics = async (worker: Worker, request: MetricsRequest) => {
    let reply: MetricsReply;
    try {
      const body = await aggregator.clusterMetrics();
      reply = {
        type: metricsRequestType,
        id: request.id,
        reply: true,
        contentType: aggregator.contentType,
        body,
      };
    } catch (error) {
      reply = { type: metricsRequestType, id: request.id, reply: true, error: (error as Error).message };
    }
    if (worker.isConnected()) worker.send(reply);
  };

  const stop = (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info({ reason, workers: startedAt.size }, 'stopping the workers');
    if (startedAt.size === 0) process.exit(exitCode);
    // Each worker drains (its own SHUTDOWN_TIMEOUT_MS) and exits; the last one to go ends the primary.
    for (const worker of startedAt.keys()) worker.process.kill('SIGTERM');
    setTimeout(() => {
      for (const worker of startedAt.keys()) worker.process.kill('SIGKILL');
      process.exit(exitCode);
    }, stopGraceMs).unref();
  };

  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  log.info({ workers, pid: process.pid }, 'starting workers');
  for (let index = 1; index <= workers; index++) fork(index);
}

function isMetricsRequest(message: unknown): message is MetricsRequest {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as MetricsRequest).type === metricsRequestType &&
    (message as MetricsReply).reply !== true
  );
}
