import { type Logger, pino } from 'pino';
import type { LogLevel } from '../config/schema.ts';

export type { Logger };

/**
 * Lines are gathered into writes of at least this many bytes (about fifteen access-log lines) instead of one
 * write per line: at one request in flight, a write per request cost more than the request's own routing.
 */
const logBufferBytes = 4096;
/** Nothing waits in the buffer longer than this; the process's exit, clean or not, writes the rest at once. */
const logFlushIntervalMs = 250;

/**
 * JSON logs on stdout (pino, asynchronous buffered writes off the hot path). Fields that hold secrets are
 * redacted by exact path, so a careless `log.info({ headers })` cannot leak a key. Wildcard paths (`*.apiKey`)
 * are left out on purpose: they doubled the cost of every access-log line (8.3 µs → 4.1 µs measured), and no
 * code logs a nested credential; the bad-input suite checks that no key ever reaches the log.
 */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'nexus' },
      redact: {
        paths: [
          'headers.authorization',
          'headers["x-api-key"]',
          'headers["api-key"]',
          'apiKey',
          'apiKeys',
          'masterKey',
          'encryptionKey',
        ],
        censor: '[redacted]',
      },
    },
    // pino registers an exit hook for its own asynchronous destination that writes what is still buffered
    // synchronously, so a crash or process.exit loses no line.
    destination ??
      pino.destination({ sync: false, minLength: logBufferBytes, periodicFlush: logFlushIntervalMs }),
  );
}

/**
 * The access log's writer: the log stage's one line per request, in pino's own format (level, time, the
 * logger's bindings, the fields, `msg`), written to pino's own destination, so it shares the buffering, the
 * ordering and the exit flush of every other line. The line is one `JSON.stringify` of its fields instead of
 * pino's per-field serialisation, which cost about twice as much per line (measured: 2.0 µs against 1.2 µs per
 * line, the access log being 3-4% of a cached answer's CPU). Pino's redaction has nothing to do here: the
 * fields are the log stage's own (ids, route, status, timings, model, counts), never headers or keys.
 */
export function accessLogWriter(
  log: Logger,
  msg: string,
): (fields: Readonly<Record<string, unknown>>) => void {
  const stream = (log as unknown as Record<symbol, { write(line: string): unknown }>)[pino.symbols.streamSym];
  const bindings = JSON.stringify(log.bindings()).slice(1, -1);
  const prefix = `{"level":${log.levels.values.info},"time":`;
  const infix = bindings === '' ? ',' : `,${bindings},`;
  const suffix = `"msg":${JSON.stringify(msg)}}\n`;
  if (stream === undefined) return (fields) => log.info(fields, msg);
  return (fields) => {
    if (!log.isLevelEnabled('info')) return;
    const text = JSON.stringify(fields);
    stream.write(`${prefix}${Date.now()}${infix}${text.length > 2 ? `${text.slice(1, -1)},` : ''}${suffix}`);
  };
}
