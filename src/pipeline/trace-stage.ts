import { isNexusError } from '../core/errors.ts';
import type { StageFailure } from '../observability/tracing.ts';
import type { Stage } from './compose.ts';
import type { GatewayRequest } from './request.ts';

/**
 * A stage that does I/O (identify, admit, cache, dispatch) in a span of its own, when tracing is on (chains
 * are composed with it only then). The span covers the stage's own work on the way in: it ends when the
 * stage calls `next` (the rest of the chain is not the stage's time), answers by itself (a cache hit), or
 * fails. So the stages' spans are siblings under the request's span, each as long as its own wait.
 */
export function traceStage<R extends GatewayRequest>(name: string, stage: Stage<R>): Stage<R> {
  return async function tracedStage(request, next) {
    const trace = request.trace;
    if (trace === undefined) return stage(request, next);
    const span = trace.startStage(name);
    let open = true;
    try {
      await stage(request, () => {
        if (open) {
          open = false;
          span.end();
        }
        return next();
      });
    } catch (error) {
      if (open) {
        open = false;
        span.end(failureOf(error, request));
      }
      throw error;
    }
    if (open) span.end();
  };
}

function failureOf(error: unknown, request: GatewayRequest): StageFailure {
  if (isNexusError(error)) return { code: error.code, status: error.status };
  // The client left: its own abort, not a fault of the stage.
  if (request.signal.aborted) return { code: 'client_closed', status: 499 };
  return { code: 'internal_error', status: 500 };
}
