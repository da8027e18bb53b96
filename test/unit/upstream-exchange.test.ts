/**
 * The adapter shell (`providers/shared/upstream-exchange.ts`) against a plain HTTP server on a real socket:
 * what goes on the wire, how non-2xx replies map to catalogue errors through a wire format's ErrorFormat,
 * and which 2xx replies are refused as unreadable.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { loadCatalog } from '../../src/catalog/load.ts';
import { NexusError } from '../../src/core/errors.ts';
import { cohereErrors } from '../../src/providers/cohere/errors.ts';
import { openAIErrors } from '../../src/providers/shared/openai-error-message.ts';
import { readTextCapped } from '../../src/providers/shared/read-body.ts';
import { requireEmbeddings } from '../../src/providers/shared/require-embeddings.ts';
import {
  bearerCall,
  createUpstreamExchange,
  type UpstreamExchange,
} from '../../src/providers/shared/upstream-exchange.ts';
import type { CallContext, UpstreamTarget } from '../../src/providers/types.ts';
import { HttpClient } from '../../src/transport/http-client.ts';

interface Reply {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

const provider = loadCatalog().providers.get('groq');
assert.ok(provider);

describe('upstream exchange', () => {
  let server: Server;
  let client: HttpClient;
  let target: UpstreamTarget;
  let next: Reply;
  let received: { headers: IncomingHttpHeaders; url: string; body: string } | undefined;

  const context = (): CallContext => ({
    requestId: 'req-1',
    signal: new AbortController().signal,
    warnings: [],
  });
  const reply = (status: number, body: unknown, contentType = 'application/json', headers = {}) => {
    next = { status, contentType, body: typeof body === 'string' ? body : JSON.stringify(body), headers };
  };
  const failure = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => assert.fail('expected a rejection'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof NexusError);
    return error;
  };

  before(async () => {
    server = createServer((request, response) => {
      const pieces: Buffer[] = [];
      request.on('data', (piece: Buffer) => pieces.push(piece));
      request.on('end', () => {
        received = {
          headers: request.headers,
          url: request.url ?? '',
          body: Buffer.concat(pieces).toString('utf8'),
        };
        response.writeHead(next.status, { 'content-type': next.contentType, ...next.headers });
        response.end(next.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = new HttpClient({ connectTimeoutMs: 2000, connectionsPerOrigin: 4 });
    target = {
      instance: {
        id: 'groq#1',
        name: 'Groq (Key #1)',
        provider,
        baseUrl: `http://127.0.0.1:${port}/v1`,
        apiKey: 'gsk-test-key',
        apiVersion: undefined,
        headers: { 'x-extra': 'from-config', accept: 'overridden' },
      },
      model: 'llama',
      deployment: 'groq#1/llama',
      modelSpec: undefined,
    };
  });

  after(async () => {
    await client.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    received = undefined;
  });

  const openAI = (): UpstreamExchange => createUpstreamExchange(client, openAIErrors);

  it('POSTs the JSON body with config extras, content-type, accept and the format’s own headers', async () => {
    reply(200, { choices: [] });
    const result = await openAI().json(target, bearerCall(target, '/chat/completions', { a: 1 }), context());

    assert.deepEqual(result, { value: { choices: [] }, raw: '{"choices":[]}' });
    assert.equal(received?.url, '/v1/chat/completions');
    assert.equal(received?.body, '{"a":1}');
    assert.equal(received?.headers['x-extra'], 'from-config');
    assert.equal(received?.headers['content-type'], 'application/json');
    assert.equal(received?.headers.accept, 'application/json');
    assert.equal(received?.headers.authorization, 'Bearer gsk-test-key');
  });

  it('maps a non-2xx reply through the format’s message and correction', async () => {
    const call = bearerCall(target, '/chat', {});
    reply(429, { error: { message: 'slow down' } }, 'application/json', { 'retry-after': '7' });
    const limited = await failure(openAI().json(target, call, context()));
    assert.equal(limited.code, 'upstream_rate_limited');
    assert.equal(limited.message, 'Groq (Key #1) is rate limiting: slow down');
    assert.equal(limited.retryAfterSeconds, 7);

    reply(502, '  <html>bad gateway</html>  ', 'text/html');
    const html = await failure(openAI().events(target, call, context()));
    assert.equal(html.message, 'Groq (Key #1) failed with HTTP 502: <html>bad gateway</html>');

    reply(498, { message: 'invalid api token' });
    const cohere = await failure(createUpstreamExchange(client, cohereErrors).json(target, call, context()));
    assert.equal(cohere.code, 'upstream_auth_failed');
  });

  it('refuses a 2xx JSON reply that is not an object, or that carries an error where the format says so', async () => {
    const call = bearerCall(target, '/chat', {});
    reply(200, 'not json');
    assert.equal(
      (await failure(openAI().json(target, call, context()))).message,
      'Groq (Key #1) returned a body that is not JSON.',
    );
    reply(200, 'null');
    assert.equal(
      (await failure(openAI().json(target, call, context()))).message,
      'Groq (Key #1) returned a body that is not an object.',
    );
    reply(200, { error: { message: 'quota exceeded' } });
    const error = await failure(openAI().json(target, call, context()));
    assert.equal(error.code, 'upstream_error');
    assert.equal(error.message, 'Groq (Key #1) returned quota exceeded.');

    const withoutErrorInReply = createUpstreamExchange(client, cohereErrors);
    assert.deepEqual((await withoutErrorInReply.json(target, call, context())).value, {
      error: { message: 'quota exceeded' },
    });
  });

  it('hands over an event stream only when the reply is one, else throws with the upstream’s message', async () => {
    const call = bearerCall(target, '/chat', { stream: true });
    reply(200, 'data: {}\n\n', 'text/event-stream; charset=utf-8');
    const events = await openAI().events(target, call, context());
    assert.equal(received?.headers.accept, 'text/event-stream');
    assert.equal(await readTextCapped(events), 'data: {}\n\n');

    reply(200, { error: { message: 'model overloaded' } });
    assert.equal(
      (await failure(openAI().events(target, call, context()))).message,
      'Groq (Key #1) returned model overloaded.',
    );
    reply(200, { choices: [] });
    assert.equal(
      (await failure(openAI().events(target, call, context()))).message,
      "Groq (Key #1) returned 'application/json' instead of an event stream.",
    );
  });

  it('passes a JSON reply on as text, unparsed', async () => {
    reply(200, '{"type":"error"}');
    assert.equal(await openAI().text(target, bearerCall(target, '/x', {}), context()), '{"type":"error"}');
  });

  it('refuses embeddings where the catalogue says the provider serves none', () => {
    assert.throws(
      () => requireEmbeddings(target),
      (error: unknown) => error instanceof NexusError && error.code === 'unsupported_capability',
    );
  });
});
