import { Writable } from 'node:stream';
import { type App, createApp } from '../../src/app.ts';

export interface TestGateway {
  readonly app: App;
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  /** `http://127.0.0.1:PORT/v1`, for SDK base URLs. */
  readonly baseURL: string;
  /** Every JSON log line written so far, raw. */
  readonly logs: string[];
  close(): Promise<void>;
}

/**
 * Starts a real gateway on 127.0.0.1 port 0 with exactly the given env (nothing from the process env leaks
 * in, so a developer's own keys never reach a test), capturing its logs.
 */
export async function startGateway(env: Record<string, string> = {}): Promise<TestGateway> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  // An in-memory store per gateway unless the test names one: no file left behind, no state shared by tests.
  // The response cache is off unless the test turns it on: most tests send the same request again and again
  // to see what the upstream does with it.
  const app = createApp({
    env: { PORT: '0', LOG_LEVEL: 'info', NEXUS_DATA_DIR: ':memory:', CACHE_ENABLED: 'false', ...env },
    logDestination: sink,
  });
  const address = await app.listen();
  const origin = `http://127.0.0.1:${address.port}`;
  return { app, origin, baseURL: `${origin}/v1`, logs, close: () => app.close() };
}

/** POSTs a JSON (or raw string) body and returns status, headers and the parsed or raw body. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: unknown; text: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, body: parsed, text };
}
