import { Socket } from 'node:net';
import type { TestContext } from 'node:test';

/** Where the integration suites find Redis: `REDIS_URL`, else the local server CI starts. */
export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Where the integration suites find PostgreSQL: `TEST_DATABASE_URL`, else the local server (trust auth, database
 * `test`). Suites work in a schema of their own, created fresh and dropped afterwards, so runs never collide.
 */
export const postgresUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** How to start the local PostgreSQL, for the skip message. */
export const startPostgres = 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';

/** Whether something accepts TCP connections at the URL's host and port (within one second). */
export function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port), hostname, () => done(true));
  });
}

/**
 * Skips the test with a message saying what to start when a service is down, except under CI, where a missing
 * service is a failure (CI's script starts it, so its absence is a real problem).
 */
export async function requireService(
  context: TestContext,
  name: string,
  url: string,
  start: string,
): Promise<boolean> {
  if (await reachable(url)) return true;
  const message = `${name} is not reachable at ${url}; start it with: ${start}`;
  if (process.env.CI !== undefined && process.env.CI !== '') throw new Error(message);
  context.skip(message);
  return false;
}
