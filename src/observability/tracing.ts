import { ConfigError } from '../config/load.ts';
import type { Tracing, TracingOptions, TracingSettings } from './tracing-types.ts';

/**
 * When tracing is on and how it starts: the OTEL_* settings read at boot, and `startTracing`, which imports the
 * OpenTelemetry implementation (`otel-tracing.ts`) only then. The shapes the gateway sees are in
 * tracing-types.ts, which both this file and the implementation import (so neither imports the other's code).
 */
export type * from './tracing-types.ts';

/**
 * Tracing is on when an OTLP endpoint is set, unless `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
 * A malformed endpoint stops boot like any bad setting.
 */
export function tracingSettings(env: NodeJS.ProcessEnv): TracingSettings | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none') return undefined;
  const traces = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const base = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (traces === undefined && base === undefined) return undefined;
  const name = traces === undefined ? 'OTEL_EXPORTER_OTLP_ENDPOINT' : 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT';
  // The signal's own endpoint is used as given; the general one is a base that `v1/traces` is appended to.
  const url = traces ?? `${base!.endsWith('/') ? base : `${base}/`}v1/traces`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${name}: '${url}' is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new ConfigError(`${name}: '${url}' is not an http or https URL`);
  const delay = nonEmpty(env.OTEL_BSP_SCHEDULE_DELAY);
  return {
    url: parsed.toString(),
    headers: [env.OTEL_EXPORTER_OTLP_HEADERS, env.OTEL_EXPORTER_OTLP_TRACES_HEADERS].filter(
      (value): value is string => nonEmpty(value) !== undefined,
    ),
    serviceName: nonEmpty(env.OTEL_SERVICE_NAME),
    resourceAttributes: nonEmpty(env.OTEL_RESOURCE_ATTRIBUTES),
    sampler: nonEmpty(env.OTEL_TRACES_SAMPLER)?.toLowerCase(),
    samplerArg: nonEmpty(env.OTEL_TRACES_SAMPLER_ARG),
    scheduleDelayMs: delay !== undefined && Number(delay) >= 0 ? Number(delay) : undefined,
  };
}

/** Loads the OpenTelemetry SDK and starts exporting; called once, at listen, only when tracing is on. */
export async function startTracing(settings: TracingSettings, options: TracingOptions): Promise<Tracing> {
  const { createOtelTracing } = await import('./otel-tracing.ts');
  return createOtelTracing(settings, options);
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}
