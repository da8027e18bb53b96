import type { RequestRouting } from '../core/pipeline.ts';
import type { AttemptRecord } from '../resilience/attempt-loop.ts';
import { isRoutingMode } from '../resilience/routing.ts';
import type { Exchange } from './exchange.ts';

/**
 * Per-request routing input from headers: `X-Routing-Mode` (an unknown value falls back to the default and
 * says so in `x-nexus-warnings`), and the attempt list the access log reports.
 */
export function requestRouting(exchange: Exchange): RequestRouting {
  const attempts: AttemptRecord[] = [];
  exchange.record.attempts = attempts;
  const header = exchange.request.headers['x-routing-mode'];
  if (typeof header !== 'string' || header === '') return { attempts };
  const mode = header.trim().toLowerCase();
  if (isRoutingMode(mode)) return { mode, attempts };
  exchange.response.setHeader(
    'x-nexus-warnings',
    `Unknown X-Routing-Mode '${mode.replace(/[^\w-]/g, '?').slice(0, 40)}'; the default routing mode was used.`,
  );
  return { attempts };
}
