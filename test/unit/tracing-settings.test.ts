import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/load.ts';
import { tracingSettings } from '../../src/observability/tracing.ts';

describe('tracing settings from the standard OTEL_* variables', () => {
  it('is off without an endpoint, and with one when the SDK or the traces exporter is switched off', () => {
    assert.equal(tracingSettings({}), undefined);
    assert.equal(tracingSettings({ OTEL_SERVICE_NAME: 'gateway' }), undefined);
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    assert.equal(tracingSettings({ ...endpoint, OTEL_SDK_DISABLED: 'true' }), undefined);
    assert.equal(tracingSettings({ ...endpoint, OTEL_SDK_DISABLED: 'TRUE' }), undefined);
    assert.equal(tracingSettings({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' }), undefined);
    assert.notEqual(tracingSettings({ ...endpoint, OTEL_SDK_DISABLED: 'false' }), undefined);
  });

  it('appends v1/traces to the general endpoint, keeping its path, and takes the traces endpoint as given', () => {
    const url = (env: NodeJS.ProcessEnv) => tracingSettings(env)?.url;
    assert.equal(
      url({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }),
      'http://collector:4318/v1/traces',
    );
    assert.equal(
      url({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example/api/' }),
      'https://otel.example/api/v1/traces',
    );
    assert.equal(
      url({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/custom',
      }),
      'http://traces:9999/custom',
    );
  });

  it('stops boot on an endpoint that is not an http(s) URL, naming the variable', () => {
    assert.throws(
      () => tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }),
      (error: unknown) => error instanceof ConfigError && /OTEL_EXPORTER_OTLP_ENDPOINT/.test(error.message),
    );
    assert.throws(
      () => tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' }),
      (error: unknown) =>
        error instanceof ConfigError && /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT/.test(error.message),
    );
  });

  it('keeps headers (general, then traces), service, resource, sampler and export delay as written', () => {
    assert.deepEqual(
      tracingSettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-team=ai',
        OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'authorization=Bearer%20abc',
        OTEL_SERVICE_NAME: 'gateway-eu',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod',
        OTEL_TRACES_SAMPLER: 'ParentBased_TraceIdRatio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
        OTEL_BSP_SCHEDULE_DELAY: '1000',
      }),
      {
        url: 'http://collector:4318/v1/traces',
        headers: ['x-team=ai', 'authorization=Bearer%20abc'],
        serviceName: 'gateway-eu',
        resourceAttributes: 'deployment.environment=prod',
        sampler: 'parentbased_traceidratio',
        samplerArg: '0.25',
        scheduleDelayMs: 1000,
      },
    );
  });
});
