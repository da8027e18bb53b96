import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NexusError } from '../../src/core/errors.ts';
import { HttpClient } from '../../src/transport/http-client.ts';

/** A real upstream on loopback whose reply each test writes by hand. */
describe('HTTP client: response bodies on a real socket', () => {
  let server: Server;
  let url: string;
  let client: HttpClient;
  let onRequest: (response: ServerResponse) => void = () => {};

  before(async () => {
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => onRequest(response));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
    client = new HttpClient({ connectTimeoutMs: 2_000, connectionsPerOrigin: 4 });
  });

  after(async () => {
    await client.close();
    server.closeAllConnections();
    server.close();
  });

  const send = (signal: AbortSignal = new AbortController().signal) =>
    client.send(
      { url, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal },
      'Up',
    );

  it('reads a body sent in many pieces whole, as text, and as the pieces that arrived', async () => {
    const parts = Array.from({ length: 50 }, (_, index) => `part ${index} é;`);
    onRequest = (response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      let index = 0;
      const write = () => {
        if (index === parts.length) return void response.end();
        response.write(parts[index++]);
        setImmediate(write);
      };
      write();
    };
    const whole = await send();
    assert.equal(whole.statusCode, 200);
    assert.equal(whole.headers['content-type'], 'text/plain');
    assert.equal(await whole.body.text(), parts.join(''));

    const pieces: Buffer[] = [];
    for await (const piece of (await send()).body) pieces.push(Buffer.from(piece));
    assert.equal(Buffer.concat(pieces).toString('utf8'), parts.join(''));
  });

  it('holds a large body back while the reader is slow, then delivers every byte', async () => {
    const piece = Buffer.alloc(64 * 1024, 'x');
    const total = 256;
    let refusedWrite = false;
    let wrote = 0;
    onRequest = (response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      const write = () => {
        while (wrote < total) {
          wrote++;
          if (!response.write(piece)) {
            refusedWrite = true;
            response.once('drain', write);
            return;
          }
        }
        response.end();
      };
      write();
    };
    const { body } = await send();
    const iterator = body[Symbol.asyncIterator]();
    let received = (await iterator.next()).value?.byteLength ?? 0;
    // The reader stops; the upstream must be held back rather than buffered into the gateway's memory.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(refusedWrite, 'the upstream saw backpressure');
    assert.ok(wrote < total, `the upstream was held back (${wrote} of ${total} pieces written)`);
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) {
      received += next.value.byteLength;
    }
    assert.equal(received, piece.byteLength * total);
  });

  it('closes the upstream connection when the reader stops before the end', async () => {
    let upstream: ServerResponse | undefined;
    onRequest = (response) => {
      upstream = response;
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('data: {"a":1}\n\n');
    };
    const { body } = await send();
    for await (const _ of body) break;
    assert.ok(upstream !== undefined);
    if (!upstream.destroyed) await once(upstream, 'close');
    assert.equal(upstream.destroyed, true);
  });

  it('fails the read with the signal’s reason when the request is aborted mid-body', async () => {
    onRequest = (response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('data: {"a":1}\n\n');
    };
    const controller = new AbortController();
    const { body } = await send(controller.signal);
    const iterator = body[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).done, false);
    const reason = new NexusError('upstream_timeout', 'Up stalled.');
    const pending = iterator.next();
    controller.abort(reason);
    await assert.rejects(pending, (error) => error === reason);
  });

  it('reports a connection cut mid-body as an error of the read, not as the end of the body', async () => {
    onRequest = (response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('data: {"a":1}\n\n', () => response.socket?.destroy());
    };
    const { body } = await send();
    await assert.rejects(body.text(), (error: Error) => error instanceof Error);
  });
});
