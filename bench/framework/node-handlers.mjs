// node:http request handlers shared by the node:http candidates (hand-written Map router and
// find-my-way), so those two differ only in routing. `client` is 'undici' (Pool.request) or
// 'fetch' (Node's global fetch), to show the HTTP client's cost separately.
import {
  errorJson,
  forwardUndici,
  makePool,
  parseChat,
  pipeChunks,
  readBody,
  requestId,
  SSE_HEADERS,
  sendError,
  sendJson,
  UPSTREAM,
  upstreamHeaders,
} from './common.mjs';

export function makeHandlers(client = 'undici') {
  const pool = client === 'undici' ? makePool() : null;
  const base = UPSTREAM.href.replace(/\/$/, '');

  async function chatUndici(req, res) {
    const reqId = requestId(req.headers['x-request-id']);
    try {
      const payload = parseChat(await readBody(req));
      const up = await forwardUndici(pool, '/chat/completions', payload, reqId);
      if (payload.stream === true && up.statusCode === 200) {
        res.writeHead(200, { ...SSE_HEADERS, 'x-request-id': reqId });
        res.once('close', () => {
          if (!res.writableFinished) up.body.destroy();
        });
        await pipeChunks(up.body, res);
        return;
      }
      const buf = Buffer.from(await up.body.arrayBuffer());
      res.writeHead(up.statusCode, {
        'content-type': up.headers['content-type'] ?? 'application/json',
        'content-length': buf.length,
        'x-request-id': reqId,
      });
      res.end(buf);
    } catch (e) {
      sendError(res, e, reqId);
    }
  }

  async function chatFetch(req, res) {
    const reqId = requestId(req.headers['x-request-id']);
    try {
      const payload = parseChat(await readBody(req));
      const ac = new AbortController();
      const up = await fetch(`${base}/chat/completions`, {
        method: 'POST',
        headers: upstreamHeaders(reqId),
        body: JSON.stringify(payload),
        signal: ac.signal,
      });
      if (payload.stream === true && up.status === 200) {
        res.writeHead(200, { ...SSE_HEADERS, 'x-request-id': reqId });
        res.once('close', () => {
          if (!res.writableFinished) ac.abort();
        });
        await pipeChunks(up.body, res);
        return;
      }
      const buf = Buffer.from(await up.arrayBuffer());
      res.writeHead(up.status, {
        'content-type': up.headers.get('content-type') ?? 'application/json',
        'content-length': buf.length,
        'x-request-id': reqId,
      });
      res.end(buf);
    } catch (e) {
      sendError(res, e, reqId);
    }
  }

  function health(_req, res) {
    sendJson(res, 200, '{"status":"ok"}', requestId(undefined));
  }

  function notFound(req, res) {
    req.resume();
    sendJson(
      res,
      404,
      errorJson(`no route for ${req.method} ${req.url}`),
      requestId(req.headers['x-request-id']),
    );
  }

  return { chat: client === 'undici' ? chatUndici : chatFetch, health, notFound, pool };
}
