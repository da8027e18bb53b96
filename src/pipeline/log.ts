import type { Logger } from '../observability/logger.ts';
import type { Stage } from './compose.ts';
import type { GatewayRequest } from './request.ts';

/**
 * The log stage, outermost in every chain: once the request is over (answered, failed, or its stream ended),
 * one JSON access-log line with what every stage recorded. It never throws into the request. The usage ledger
 * (issue 14) writes its record from the same place.
 */
export function createLogStage(log: Logger): Stage<GatewayRequest> {
  return async function logRequest(request, next) {
    try {
      await next();
    } finally {
      log.info(accessLine(request), 'request');
    }
  };
}

function accessLine(request: GatewayRequest): Record<string, unknown> {
  const line: Record<string, unknown> = {
    requestId: request.id,
    method: request.method,
    path: request.path,
    status: request.status,
    durationMs: Math.round((performance.now() - request.receivedAt) * 100) / 100,
  };
  const target = request.target;
  if (target !== undefined) {
    line.provider = target.instance.name;
    line.model = target.model;
  }
  if (request.errorCode !== undefined) line.errorCode = request.errorCode;
  if (request.operation === undefined) return line;
  const warnings = request.replyWarnings();
  if (warnings.length > 0) line.warnings = warnings;
  if (request.streamed) line.stream = true;
  if (request.costUsd !== undefined) line.costUsd = request.costUsd;
  line.attempts = request.attempts;
  return line;
}
