// Shared per-request gateway work for every framework candidate, so that the only thing that
// differs between candidates is the HTTP server/router layer (and, for one variant, the client).
// Not production code: a measurement fixture for docs/decisions/http-framework.md.
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';

export const PORT = Number(process.env.PORT || 18910);
export const HOST = '127.0.0.1';
export const UPSTREAM = new URL(process.env.UPSTREAM || 'http://127.0.0.1:18901/v1');
export const UPSTREAM_ORIGIN = UPSTREAM.origin;
export const UPSTREAM_BASE = UPSTREAM.pathname.replace(/\/$/, ''); // "/v1"
export const UPSTREAM_KEY = process.env.UPSTREAM_KEY || 'sk-mock';
export const BODY_LIMIT = 1024 * 1024; // 1 MiB
export const KEEP_ALIVE_MS = 120_000;

/** One keep-alive pool per upstream origin (undici request() API). */
export function makePool() {
  return new Pool(UPSTREAM_ORIGIN, {
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
  });
}

/** Incoming x-request-id if it is sane, else a fresh UUID. */
export function requestId(incoming) {
  if (typeof incoming === 'string' && incoming.length > 0 && incoming.length <= 128) return incoming;
  return randomUUID();
}

/** Minimal shape check of an OpenAI chat body. Returns an error message or null. */
export function checkChat(body) {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'body must be a JSON object';
  if (typeof body.model !== 'string' || body.model.length === 0) return '`model` must be a non-empty string';
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    return '`messages` must be a non-empty array';
  return null;
}

export const errorJson = (message, type = 'invalid_request_error') =>
  JSON.stringify({ error: { message, type, param: null, code: null } });

export function upstreamHeaders(reqId) {
  return {
    'content-type': 'application/json',
    authorization: `Bearer ${UPSTREAM_KEY}`,
    'x-request-id': reqId,
  };
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
};

/** undici Pool.request() to the upstream with the re-serialised body. */
export function forwardUndici(pool, path, payload, reqId) {
  return pool.request({
    method: 'POST',
    path: UPSTREAM_BASE + path,
    headers: upstreamHeaders(reqId),
    body: JSON.stringify(payload),
    headersTimeout: 30_000,
    bodyTimeout: 300_000,
  });
}

export class HttpError extends Error {
  constructor(status, message, type = 'invalid_request_error') {
    super(message);
    this.status = status;
    this.type = type;
  }
}

/** Read a node:http request body into one Buffer, enforcing BODY_LIMIT. */
export function readBody(req, limit = BODY_LIMIT) {
  return new Promise((resolve, reject) => {
    const cl = req.headers['content-length'];
    if (cl !== undefined && Number(cl) > limit) {
      req.resume();
      reject(new HttpError(413, 'request body too large'));
      return;
    }
    const chunks = [];
    let n = 0;
    let failed = false;
    req.on('data', (c) => {
      if (failed) return;
      n += c.length;
      if (n > limit) {
        failed = true;
        reject(new HttpError(413, 'request body too large'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, n));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
}

/** Parse + check; throws HttpError(400). */
export function parseChat(buf) {
  let body;
  try {
    body = JSON.parse(buf.toString('utf8'));
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
  const err = checkChat(body);
  if (err) throw new HttpError(400, err);
  return body;
}

function waitDrain(res) {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Pipe an async-iterable body (undici BodyReadable or web ReadableStream) to a node:http response,
 *  chunk by chunk, honouring backpressure, stopping if the client goes away. */
export async function pipeChunks(iterable, res) {
  try {
    for await (const chunk of iterable) {
      if (res.destroyed) break; // leaving the loop cancels/destroys the upstream body
      if (!res.write(chunk)) await waitDrain(res);
    }
    if (!res.destroyed) res.end();
  } catch (e) {
    res.destroy(e);
  }
}

export function sendJson(res, status, body, reqId) {
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': reqId,
  });
  res.end(body);
}

export function sendError(res, e, reqId) {
  const status = e instanceof HttpError ? e.status : 502;
  const type = e instanceof HttpError ? e.type : 'upstream_error';
  const msg = e instanceof HttpError ? e.message : `upstream error: ${e?.message ?? e}`;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, errorJson(msg, type), reqId);
}

export function onShutdown(close) {
  const stop = () => {
    setTimeout(() => process.exit(0), 500).unref();
    close(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
