import { createApp } from './app.ts';
import { ConfigError } from './config/load.ts';

/** Entry point: load config → build the app → listen → close cleanly on SIGTERM/SIGINT. */
async function main(): Promise<void> {
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
