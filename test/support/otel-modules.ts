/**
 * Run as its own process (`node --import tsx test/support/otel-modules.ts [endpoint]`): starts a gateway in
 * process, with tracing to `endpoint` when one is given, serves one request, closes, and prints how many
 * `@opentelemetry` SDK modules were loaded (the packages are CommonJS, so each one loaded is in the require
 * cache). A process of its own, because the test runner's process has loaded them for the traced tests.
 * `@opentelemetry/api` alone does not count: it is the small API package prom-client loads for its exemplars
 * (metrics are on by default), with no SDK behind it nothing is recorded or sent.
 */
import { createRequire } from 'node:module';
import { createApp } from '../../src/app.ts';

const endpoint = process.argv[2];
const app = createApp({
  env: {
    PORT: '0',
    NEXUS_DATA_DIR: ':memory:',
    LOG_LEVEL: 'silent',
    ...(endpoint === undefined ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }),
  },
});
const address = await app.listen();
const reply = await fetch(`http://127.0.0.1:${address.port}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'nexus-demo/echo', messages: [{ role: 'user', content: 'hi' }] }),
});
await reply.text();
await app.close(1_000);
const loaded = Object.keys(createRequire(import.meta.url).cache).filter((path) =>
  /@opentelemetry\/(?!api\/)/.test(path),
);
process.stdout.write(`${JSON.stringify({ status: reply.status, loaded: loaded.length })}\n`);
