import { accessLogWriter, type Logger } from '../observability/logger.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { Stage } from './compose.ts';
import { ledgerRecords } from './ledger-records.ts';
import type { GatewayRequest } from './request.ts';
import { observeRequest } from './request-metrics.ts';
import type { TenancyServices } from './tenancy.ts';

/**
 * The log stage, outermost in every chain: once the request is over (answered, failed, or its stream ended),
 * one JSON access-log line with what every stage recorded, and, for a proxied request, its records in the
 * usage ledger (buffered, written in batches off the request path), and what it adds to the metrics. It never
 * throws into the request.
 */
export function createLogStage(
  log: Logger,
  tenancy: TenancyServices,
  metrics: GatewayMetrics | undefined,
): Stage<GatewayRequest> {
  const writeLine = accessLogWriter(log, 'request');
  return async function logRequest(request, next) {
    try {
      await next();
    } finally {
      writeLine(accessLine(request));
      if (request.operation !== undefined) {
        tenancy.ledger?.append(ledgerRecords(request));
        if (metrics !== undefined) observeRequest(metrics, request);
      }
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
  const trace = request.trace;
  if (trace !== undefined) {
    // OpenTelemetry's names for log correlation: a log backend links the line to the request's trace.
    line.trace_id = trace.traceId;
    line.span_id = trace.spanId;
  }
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
  if (request.cacheResult !== undefined) line.cache = request.cacheResult;
  line.attempts = request.attempts;
  return line;
}
