// A minimal OTLP/HTTP receiver that accepts trace exports and discards them, for benchmarking Nexus with
// tracing on against a local collector that costs next to nothing (a real collector's own CPU would land on the
// same 2 cores). It reads each body to its end (so the exporter's request completes as it would against a
// collector), answers 200 `{}`, and counts exports and bytes.
//
// Usage: node bench/otlp-sink.mjs [--port 4318]
//   then start the Nexus under test with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 (the same build
//   without it is the tracing-off side). Listens on 127.0.0.1 only; stops on SIGINT/SIGTERM and prints what it
//   received, so a run can check that the spans really were exported.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { port: { type: 'string', default: '4318' } } });
const received = { exports: 0, bytes: 0, other: 0 };

const server = createServer((request, response) => {
  let bytes = 0;
  request.on('data', (chunk) => {
    bytes += chunk.length;
  });
  request.on('end', () => {
    if (request.method === 'POST' && request.url === '/v1/traces') {
      received.exports++;
      received.bytes += bytes;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    } else {
      received.other++;
      response.writeHead(404).end();
    }
  });
});

server.listen(Number(args.port), '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(`otlp-sink: listening on http://127.0.0.1:${port} (POST /v1/traces)\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    process.stdout.write(
      `otlp-sink: ${received.exports} exports, ${received.bytes} bytes, ${received.other} other requests\n`,
    );
    server.close();
    server.closeAllConnections();
  });
}
