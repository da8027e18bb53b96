// Candidate 2: node:http + find-my-way (the radix-tree router Fastify uses).
import http from 'node:http';
import FindMyWay from 'find-my-way';
import { HOST, KEEP_ALIVE_MS, onShutdown, PORT } from './common.mjs';
import { makeHandlers } from './node-handlers.mjs';

const h = makeHandlers('undici');
const router = FindMyWay({ ignoreTrailingSlash: true, defaultRoute: (req, res) => h.notFound(req, res) });
router.on('POST', '/v1/chat/completions', (req, res) => h.chat(req, res));
router.on('POST', '/chat/completions', (req, res) => h.chat(req, res));
router.on('GET', '/health', (req, res) => h.health(req, res));

const server = http.createServer((req, res) => router.lookup(req, res));
server.keepAliveTimeout = KEEP_ALIVE_MS;
server.headersTimeout = KEEP_ALIVE_MS + 5_000;
server.listen(PORT, HOST, () => console.log(`node-fmw ${process.pid} on ${HOST}:${PORT}`));
onShutdown((cb) => server.close(cb));
