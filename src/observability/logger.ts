import { type Logger, pino } from 'pino';
import type { LogLevel } from '../config/schema.ts';

export type { Logger };

/**
 * JSON logs on stdout (pino, asynchronous writes off the hot path). Anything that could hold a secret is
 * redacted by path, so a careless `log.info({ headers })` cannot leak a key.
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
          '*.apiKey',
          '*.apiKeys',
          'apiKey',
          'masterKey',
          '*.masterKey',
        ],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ sync: false }),
  );
}
