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
    app.gateway.log.info({ signal }, 'shutting down');
    const timeoutMs = Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 10_000);
    setTimeout(() => process.exit(0), Number.isFinite(timeoutMs) ? timeoutMs : 10_000).unref();
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
