// Candidate 4: Hono 4 on @hono/node-server, with hono/body-limit (1 MiB) and c.req.json().
// Non-stream: c.body(Uint8Array). Stream: a Response over a ReadableStream that pulls the
// undici body chunk by chunk (node-server writes it to the socket with drain handling).
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
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
const app = new Hono();
const jsonErr = (c, status, msg, type) =>
  c.body(errorJson(msg, type), status, {
    'content-type': 'application/json',
    'x-request-id': c.get('reqId'),
  });

app.use('*', async (c, next) => {
  c.set('reqId', requestId(c.req.header('x-request-id')));
  await next();
});
app.onError((err, c) => jsonErr(c, 502, `upstream error: ${err.message}`, 'upstream_error'));
app.notFound((c) => jsonErr(c, 404, `no route for ${c.req.method} ${c.req.path}`));

const limit = bodyLimit({ maxSize: BODY_LIMIT, onError: (c) => jsonErr(c, 413, 'request body too large') });

async function chat(c) {
  const reqId = c.get('reqId');
  let payload;
  try {
    payload = await c.req.json();
  } catch {
    return jsonErr(c, 400, 'body is not valid JSON');
  }
  const bad = checkChat(payload);
  if (bad) return jsonErr(c, 400, bad);
  const up = await forwardUndici(pool, '/chat/completions', payload, reqId);
  if (payload.stream === true && up.statusCode === 200) {
    const it = up.body[Symbol.asyncIterator]();
    const rs = new ReadableStream({
      async pull(ctrl) {
        const { value, done } = await it.next();
        if (done) ctrl.close();
        else ctrl.enqueue(value);
      },
      cancel() {
        up.body.destroy();
      },
    });
    return new Response(rs, { status: 200, headers: { ...SSE_HEADERS, 'x-request-id': reqId } });
  }
  const buf = new Uint8Array(await up.body.arrayBuffer());
  return c.body(buf, up.statusCode, {
    'content-type': up.headers['content-type'] ?? 'application/json',
    'x-request-id': reqId,
  });
}

app.post('/v1/chat/completions', limit, chat);
app.post('/chat/completions', limit, chat);
app.get('/health', (c) => c.json({ status: 'ok' }, 200, { 'x-request-id': c.get('reqId') }));

const server = serve({ fetch: app.fetch, port: PORT, hostname: HOST }, () =>
  console.log(`hono ${process.pid} on ${HOST}:${PORT}`),
);
server.keepAliveTimeout = KEEP_ALIVE_MS;
server.headersTimeout = KEEP_ALIVE_MS + 5_000;
onShutdown((cb) => server.close(cb));
