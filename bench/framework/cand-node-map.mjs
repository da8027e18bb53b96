// Candidate 1: node:http + a hand-written route table (Map keyed by "METHOD path").
// CLIENT=fetch switches the upstream client from undici Pool.request() to Node's global fetch.
import http from 'node:http';
import { HOST, KEEP_ALIVE_MS, onShutdown, PORT } from './common.mjs';
import { makeHandlers } from './node-handlers.mjs';

const CLIENT = process.env.CLIENT === 'fetch' ? 'fetch' : 'undici';
const h = makeHandlers(CLIENT);

const routes = new Map([
  ['POST /v1/chat/completions', h.chat],
  ['POST /chat/completions', h.chat],
  ['GET /health', h.health],
]);

const server = http.createServer((req, res) => {
  const url = req.url;
  const q = url.indexOf('?');
  const handler = routes.get(`${req.method} ${q === -1 ? url : url.slice(0, q)}`);
  if (handler === undefined) return h.notFound(req, res);
  handler(req, res);
});
server.keepAliveTimeout = KEEP_ALIVE_MS;
server.headersTimeout = KEEP_ALIVE_MS + 5_000;
server.listen(PORT, HOST, () => console.log(`node-map(${CLIENT}) ${process.pid} on ${HOST}:${PORT}`));
onShutdown((cb) => server.close(cb));
