// Candidate 3: Fastify 5 with its built-in JSON body parser (bodyLimit 1 MiB), logger off.
// Non-stream: reply.send(Buffer). Stream: reply.send(undici body stream) (Fastify pipes it).
import Fastify from 'fastify';
import {
  BODY_LIMIT,
  checkChat,
  errorJson,
  forwardUndici,
  HOST,
  KEEP_ALIVE_MS,
  makePool,
  onShutdown,
  PORT,
  requestId,
  SSE_HEADERS,
} from './common.mjs';

const pool = makePool();
const app = Fastify({
  logger: false,
  bodyLimit: BODY_LIMIT,
  keepAliveTimeout: KEEP_ALIVE_MS,
  requestIdHeader: 'x-request-id',
  genReqId: () => requestId(undefined),
});

app.setErrorHandler((err, req, reply) => {
  const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 502;
  reply
    .code(status)
    .header('x-request-id', req.id)
    .type('application/json')
    .send(
      errorJson(
        status === 502 ? `upstream error: ${err.message}` : err.message,
        status === 502 ? 'upstream_error' : 'invalid_request_error',
      ),
    );
});
app.setNotFoundHandler((req, reply) => {
  reply
    .code(404)
    .header('x-request-id', req.id)
    .type('application/json')
    .send(errorJson(`no route for ${req.method} ${req.url}`));
});

async function chat(req, reply) {
  const payload = req.body; // parsed by Fastify's JSON parser
  const bad = checkChat(payload);
  if (bad)
    return reply.code(400).header('x-request-id', req.id).type('application/json').send(errorJson(bad));
  const up = await forwardUndici(pool, '/chat/completions', payload, req.id);
  if (payload.stream === true && up.statusCode === 200) {
    reply.code(200).headers({ ...SSE_HEADERS, 'x-request-id': req.id });
    return reply.send(up.body);
  }
  const buf = Buffer.from(await up.body.arrayBuffer());
  return reply
    .code(up.statusCode)
    .headers({ 'content-type': up.headers['content-type'] ?? 'application/json', 'x-request-id': req.id })
    .send(buf);
}

app.post('/v1/chat/completions', chat);
app.post('/chat/completions', chat);
app.get('/health', async (req, reply) => reply.header('x-request-id', req.id).send({ status: 'ok' }));

await app.listen({ port: PORT, host: HOST });
console.log(`fastify ${process.pid} on ${HOST}:${PORT}`);
onShutdown((cb) => app.close().then(cb));
