import cluster from 'node:cluster';
import { createApp } from './app.ts';
import { runPrimary, workerCount } from './cluster/primary.ts';
import { ConfigError } from './config/load.ts';
import { createLogger } from './observability/logger.ts';

/**
 * Entry point: load config → build the app → listen → close cleanly on SIGTERM/SIGINT. With `WORKERS` > 1 this
 * process is the primary of that many workers (src/cluster/primary.ts), each of which runs the rest.
 */
async function main(): Promise<void> {
  const workers = workerCount(process.env.WORKERS);
  if (workers === undefined) {
    process.stderr.write(
      `nexus: WORKERS must be a whole number from 1 to 256 or 'auto', not '${process.env.WORKERS}'\n`,
    );
    process.exit(2);
  }
  if (workers > 1 && cluster.isPrimary) {
    runPrimary(workers, createLogger('info'));
    return;
  }
  let app: ReturnType<typeof createApp>;
  try {
    app = createApp();
  } catch (error) {
    if (error instanceof ConfigError || (error as Error).name === 'CatalogError') {
      process.stderr.write(`nexus: ${(error as Error).message}\n`);
      process.exit(2);
    }
    throw error;
  }
  if (cluster.isWorker) {
    app.gateway.metrics?.joinCluster();
    if (app.gateway.config.redis.url === undefined && process.env.NEXUS_WORKER_INDEX === '1') {
      app.gateway.log.warn(
        { workers },
        'WORKERS > 1 without REDIS_URL: rate limits, budgets, circuit breakers and the cache are counted per worker',
      );
    }
  }
  await app.listen();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const timeoutMs = app.gateway.config.shutdown.timeoutMs;
    app.gateway.log.info({ signal, timeoutMs, inFlight: app.gateway.state.inFlight }, 'shutting down');
    // A last guard in case closing itself hangs (a stuck pool): the exit code stays 0, as for a clean stop.
    setTimeout(() => process.exit(0), timeoutMs + 5_000).unref();
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`nexus: failed to start: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
