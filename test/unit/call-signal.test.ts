import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { AttemptAbort, clientLeft, delay } from '../../src/core/call-signal.ts';
import { NexusError } from '../../src/core/errors.ts';
import { HttpClient } from '../../src/transport/http-client.ts';

describe('attempt abort', () => {
  it('aborts with its parent request, and with the parent reason', () => {
    const request = new AbortController();
    const attempt = new AttemptAbort(request.signal);
    const reason = new Error('client left');
    request.abort(reason);
    assert.equal(attempt.aborted, true);
    assert.equal(attempt.reason, reason);
  });

  it('aborts alone without touching the request, and a nested attempt follows it', () => {
    const request = new AbortController();
    const racer = new AttemptAbort(request.signal);
    const attempt = new AttemptAbort(racer);
    const timeout = new NexusError('upstream_timeout', 'no first token');
    racer.abort(timeout);
    assert.equal(request.signal.aborted, false);
    assert.equal(attempt.aborted, true);
    assert.equal(attempt.reason, timeout);
  });

  it('starts aborted under an aborted parent', () => {
    const attempt = new AttemptAbort(AbortSignal.abort('gone'));
    assert.equal(attempt.aborted, true);
    assert.equal(attempt.reason, 'gone');
  });

  it('once released, a later request abort no longer reaches it', () => {
    const request = new AbortController();
    const attempt = new AttemptAbort(request.signal);
    attempt.release();
    attempt.release();
    request.abort(new Error('late'));
    assert.equal(attempt.aborted, false);
  });

  it('tells a client that left from a deadline or a timeout', () => {
    const request = new AbortController();
    assert.equal(clientLeft(request.signal), false, 'nothing happened yet');
    request.abort(new Error('client closed the connection'));
    assert.equal(clientLeft(request.signal), true);
    assert.equal(clientLeft(new AttemptAbort(request.signal)), true, 'an attempt under it sees the same');
    const timedOut = new AttemptAbort(new AbortController().signal);
    timedOut.abort(new NexusError('upstream_timeout', 'The request exceeded its time limit.'));
    assert.equal(clientLeft(timedOut), false);
  });

  it('delay rejects with the abort reason as soon as the signal aborts', async () => {
    const attempt = new AttemptAbort(new AbortController().signal);
    const waiting = delay(60_000, attempt);
    const reason = new NexusError('upstream_timeout', 'deadline');
    attempt.abort(reason);
    await assert.rejects(waiting, (error) => error === reason);
    await assert.rejects(
      delay(10, attempt),
      (error) => error === reason,
      'an aborted signal rejects at once',
    );
  });

  it('cancels a real upstream request through undici, which sees an EventEmitter signal', async () => {
    const arrived: IncomingMessage[] = [];
    // Accepts the request and never answers, like a silent upstream.
    const server = createServer((request) => arrived.push(request));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = new HttpClient({ connectTimeoutMs: 2_000, connectionsPerOrigin: 4 });
    try {
      const attempt = new AttemptAbort(new AbortController().signal);
      const { port } = server.address() as AddressInfo;
      const sent = client.send(
        {
          url: `http://127.0.0.1:${port}/v1/chat/completions`,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
          signal: attempt,
        },
        'Silent',
      );
      while (arrived.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const closed = once(arrived[0]!.socket, 'close');
      const timeout = new NexusError('upstream_timeout', 'Silent sent no first token.');
      attempt.abort(timeout);
      await assert.rejects(sent, (error) => error === timeout, 'the call fails with the abort reason');
      await closed;
      assert.equal(arrived[0]!.socket.destroyed, true, 'the upstream connection is closed');
    } finally {
      await client.close();
      server.closeAllConnections();
      server.close();
    }
  });
});
