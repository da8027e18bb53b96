/**
 * The request body at the edge, over raw node:net sockets (issue item 6, SPEC §4): fetch and node:http would
 * hide what matters here, a reset that swallows the reply or a reply cut short. An oversize body gets its
 * 413 read in full by the client, not a connection reset; a body that is not valid UTF-8 is a 400
 * `invalid_json`; neither reaches the upstream, and the gateway serves normally afterwards. Every exchange
 * is bounded by an abort timer, so a hang fails the test instead of stalling it.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const masterKey = 'nexus-master-key-body-edge';
const bodyLimitBytes = 1024 * 1024;
const hangLimitMs = 5000;
const limits = { timeout: 15_000 };
const pieceBytes = 64 * 1024;

type Shape = 'openai' | 'anthropic' | 'seed-004';

interface PostEndpoint {
  path: string;
  shape: Shape;
  /** A body the route accepts. */
  valid: Record<string, unknown>;
  /** Test bytes go right after the first occurrence of this text, inside a string; default `"hi`. */
  insideString?: string;
  /** The status that body gets (count_tokens refuses OpenAI targets after parsing the body). */
  validStatus: number;
}

const userMessages = [{ role: 'user', content: 'hi' }];
const chatBody = { model: 'gpt-4o-mini', messages: userMessages };
const embeddingsBody = { model: 'text-embedding-3-small', input: 'hi' };
const messagesBody = { model: 'gpt-4o-mini', max_tokens: 16, messages: userMessages };

const postEndpoints: PostEndpoint[] = [
  { path: '/v1/chat/completions', shape: 'openai', valid: chatBody, validStatus: 200 },
  { path: '/v1/embeddings', shape: 'openai', valid: embeddingsBody, validStatus: 200 },
  { path: '/v1/messages', shape: 'anthropic', valid: messagesBody, validStatus: 200 },
  {
    path: '/v1/messages/count_tokens',
    shape: 'anthropic',
    valid: { model: 'gpt-4o-mini', messages: userMessages },
    validStatus: 400,
  },
  {
    path: '/v1/providers/toggle',
    shape: 'openai',
    // Enabling a key that is already on changes nothing for the other tests.
    valid: { name: 'OpenAI (Key #1)', enabled: true },
    insideString: '"OpenAI',
    validStatus: 200,
  },
  { path: '/api/chat', shape: 'openai', valid: { message: 'hi', model: 'gpt-4o-mini' }, validStatus: 200 },
  {
    path: '/api/chat/stream',
    shape: 'openai',
    valid: { message: 'hi', model: 'gpt-4o-mini' },
    validStatus: 200,
  },
  { path: '/api/v1/completions/chat', shape: 'seed-004', valid: chatBody, validStatus: 200 },
  { path: '/api/v1/completions/embeddings', shape: 'seed-004', valid: embeddingsBody, validStatus: 200 },
];

/** Bytes that are not UTF-8, each placed inside a JSON string of an otherwise valid body. */
const notUtf8: Array<[string, number[]]> = [
  ['0xC3 0x28 (a lead byte followed by ASCII)', [0xc3, 0x28]],
  ['a lone 0xFF', [0xff]],
  ['the overlong encoding 0xC0 0xAF of "/"', [0xc0, 0xaf]],
  ['a UTF-16 surrogate encoded as UTF-8 (0xED 0xA0 0x80)', [0xed, 0xa0, 0x80]],
  ['a Latin-1 "é" (0xE9)', [0xe9]],
];

interface ExpectedError {
  status: number;
  /** The catalogue code; Anthropic's shape has none, so there the type is checked instead. */
  code: string;
  message: RegExp;
}

/** How the body goes on the wire. */
type Framing = 'content-length' | 'chunked';

interface RawRequest {
  path: string;
  framing: Framing;
  /** The whole body, or an endless source of pieces (the client never stops on its own). */
  body: Buffer | (() => Iterable<Buffer>);
  /** Overrides the declared content-length (a client that declares more than it sends). */
  declaredLength?: number;
  /** Stop after this many body bytes and wait, without finishing the request (a stalled client). */
  stallAfterBytes?: number;
}

interface RawReply {
  /** 0 when no status line arrived. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Whether the body is exactly as long as the reply's content-length says. */
  complete: boolean;
  /** What the socket reported when the exchange ended badly (ECONNRESET, EPIPE), if anything. */
  socketError: string | undefined;
  /** Body bytes the socket accepted from the client. */
  written: number;
}

function bodyOf(endpoint: PostEndpoint): string {
  return JSON.stringify(endpoint.valid);
}

/** The endpoint's valid body with `bytes` inside one of its strings. */
function withBytesInString(endpoint: PostEndpoint, bytes: number[]): Buffer {
  const text = bodyOf(endpoint);
  const marker = endpoint.insideString ?? '"hi';
  const found = text.indexOf(marker);
  assert.ok(found !== -1, `${endpoint.path}'s body has ${marker}`);
  const at = found + marker.length;
  return Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(bytes), Buffer.from(text.slice(at))]);
}

/** The endpoint's valid body padded to `size` bytes with a string field placed first. */
function padded(endpoint: PostEndpoint, size: number): Buffer {
  const rest = bodyOf(endpoint).slice(1);
  const filler = size - Buffer.byteLength(rest) - '{"padding":"",'.length;
  return Buffer.from(`{"padding":"${'x'.repeat(filler)}",${rest}`);
}

function* piecesOf(body: Buffer, size = pieceBytes): Iterable<Buffer> {
  for (let offset = 0; offset < body.length; offset += size) yield body.subarray(offset, offset + size);
}

function chunkFrame(piece: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
}

/** Resolves true once the socket took `data`, false when the connection ended first. */
function write(socket: Socket, data: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed || !socket.writable) {
      resolve(false);
      return;
    }
    socket.write(data, (error) => resolve(error === undefined || error === null));
  });
}

function parseReply(raw: Buffer, socketError: string | undefined, written: number): RawReply {
  const text = raw.toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = (split === -1 ? '' : text.slice(0, split)).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = split === -1 ? '' : text.slice(split + 4);
  const declared = headers['content-length'];
  return {
    status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1] ?? 0),
    headers,
    body,
    complete: declared !== undefined && Buffer.byteLength(body) === Number(declared),
    socketError,
    written,
  };
}

/**
 * One POST on a fresh socket with `connection: close`: writes the head, then the body piece by piece, each
 * only after the socket took the previous one, and collects everything received until the gateway closes
 * the connection.
 */
function rawPost(origin: string, request: RawRequest): Promise<RawReply> {
  const { path, framing } = request;
  const source = typeof request.body === 'function' ? request.body() : piecesOf(request.body);
  const length = request.declaredLength ?? (Buffer.isBuffer(request.body) ? request.body.length : Number.NaN);
  const head = [
    `POST ${path} HTTP/1.1`,
    'host: nexus',
    `authorization: Bearer ${masterKey}`,
    'content-type: application/json',
    'connection: close',
    framing === 'chunked' ? 'transfer-encoding: chunked' : `content-length: ${length}`,
  ].join('\r\n');
  return new Promise((resolve, reject) => {
    const received: Buffer[] = [];
    let socketError: string | undefined;
    let written = 0;
    const socket = connect(Number(new URL(origin).port), '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`the connection was still open after ${hangLimitMs} ms (${written} body bytes taken)`),
      );
    }, hangLimitMs);
    socket.on('data', (piece: Buffer) => received.push(piece));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      socketError = error.code ?? error.message;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseReply(Buffer.concat(received), socketError, written));
    });
    const send = async () => {
      if (!(await write(socket, Buffer.from(`${head}\r\n\r\n`)))) return;
      for (const whole of source) {
        const room = request.stallAfterBytes === undefined ? whole.length : request.stallAfterBytes - written;
        const piece = whole.subarray(0, Math.max(0, room));
        if (piece.length > 0) {
          if (!(await write(socket, framing === 'chunked' ? chunkFrame(piece) : piece))) return;
          written += piece.length;
        }
        if (piece.length < whole.length) return;
        // Paced like a client on a real network, so it is still sending when the gateway decides.
        await setImmediate();
      }
      if (framing === 'chunked') await write(socket, Buffer.from('0\r\n\r\n'));
    };
    socket.once('connect', () => void send());
  });
}

/** Checks the reply is a whole, readable error in the route's shape, delivered without a reset. */
function assertDelivered(reply: RawReply, shape: Shape, expected: ExpectedError) {
  const context = `${reply.status} ${reply.socketError ?? ''} ${reply.body.slice(0, 300)}`;
  assert.equal(reply.socketError, undefined, `no reset or broken pipe: ${context}`);
  assert.equal(reply.status, expected.status, context);
  assert.ok(reply.complete, `the whole error body arrived: ${context}`);
  assert.match(reply.headers['content-type'] ?? '', /^application\/json/, context);
  assertErrorBody(reply.body, shape, expected);
}

function assertErrorBody(text: string, shape: Shape, expected: ExpectedError) {
  const body = JSON.parse(text) as Record<string, unknown>;
  if (shape === 'seed-004') {
    const error = body.error as { code?: unknown; message?: unknown };
    assert.equal(body.success, false, text);
    assert.equal(error.code, expected.code, text);
    assert.match(String(error.message), expected.message, text);
  } else if (shape === 'anthropic') {
    const error = body.error as { type?: unknown; message?: unknown };
    assert.equal(body.type, 'error', text);
    assert.equal(error.type, expected.status === 413 ? 'request_too_large' : 'invalid_request_error', text);
    assert.match(String(error.message), expected.message, text);
  } else {
    const error = body.error as Record<string, unknown>;
    assert.equal(error.code, expected.code, text);
    assert.equal(error.type, 'invalid_request_error', text);
    assert.equal(error.param, null, text);
    assert.match(String(error.message), expected.message, text);
  }
}

const tooLarge: ExpectedError = { status: 413, code: 'body_too_large', message: /exceeds the limit/ };
const notUtf8Error: ExpectedError = { status: 400, code: 'invalid_json', message: /UTF-8/ };

describe('the request body at the edge', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    fake = await startFakeOpenAI();
    gateway = await startGateway({
      OPENAI_API_KEY: 'sk-test-upstream-body-edge',
      OPENAI_BASE_URL: fake.url,
      NEXUS_MASTER_KEY: masterKey,
      NEXUS_BODY_LIMIT_BYTES: String(bodyLimitBytes),
      HOST: '127.0.0.1',
    });
  });

  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  /** Sends, then checks that nothing reached the upstream and that a normal request on a new connection works. */
  async function refusedUpstreamUntouched(request: RawRequest): Promise<RawReply> {
    const before = fake.calls.length;
    const reply = await rawPost(gateway.origin, request);
    assert.equal(fake.calls.length, before, 'nothing reaches the upstream');
    await assertStillServing(gateway, fake);
    return reply;
  }

  for (const endpoint of postEndpoints) {
    const { path, shape } = endpoint;

    describe(`POST ${path}`, () => {
      // Half the limit again: past the limit, well within what the gateway reads to deliver its answer.
      const oversize = padded(endpoint, bodyLimitBytes + bodyLimitBytes / 2);

      for (const framing of ['content-length', 'chunked'] as const) {
        test(`an oversize ${framing} body gets its whole 413, no reset`, limits, async () => {
          const reply = await refusedUpstreamUntouched({ path, framing, body: oversize });
          assertDelivered(reply, shape, tooLarge);
          assert.equal(reply.headers.connection, 'close');
          assert.equal(reply.written, oversize.length, 'the gateway read the whole body before answering');
        });
      }

      for (const [what, bytes] of notUtf8) {
        test(`${what} is a 400 invalid_json`, limits, async () => {
          const body = withBytesInString(endpoint, bytes);
          const reply = await refusedUpstreamUntouched({ path, framing: 'content-length', body });
          assertDelivered(reply, shape, notUtf8Error);
        });
      }

      test('a multi-byte sequence cut short at the very end is a 400 invalid_json', limits, async () => {
        const body = Buffer.concat([Buffer.from(bodyOf(endpoint)), Buffer.from([0xe2, 0x82])]);
        const reply = await refusedUpstreamUntouched({ path, framing: 'content-length', body });
        assertDelivered(reply, shape, notUtf8Error);
      });

      test('a UTF-8 byte order mark before a valid body is ignored', limits, async () => {
        const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(bodyOf(endpoint))]);
        // fetch, not a raw socket: the reply may be a stream, and only its status and text matter here.
        const reply = await fetch(`${gateway.origin}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(hangLimitMs),
        });
        const text = await reply.text();
        assert.equal(reply.status, endpoint.validStatus, text.slice(0, 300));
        assert.doesNotMatch(text, /JSON|UTF-8/, 'the body was parsed');
      });
    });
  }

  test(
    'a streamed reply honours Connection: close: it says so and the gateway closes the socket',
    limits,
    async () => {
      const body = Buffer.from(
        JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      );
      // rawPost waits for the gateway to close the socket, and fails if it is still open after hangLimitMs.
      const reply = await rawPost(gateway.origin, {
        path: '/v1/chat/completions',
        framing: 'content-length',
        body,
      });
      assert.equal(reply.status, 200, reply.body);
      assert.equal(reply.headers.connection, 'close');
      assert.equal(reply.socketError, undefined);
      assert.match(reply.body, /data: \[DONE\]/);
    },
  );

  describe('past the discard cap the connection is cut, not held', () => {
    const declaredLength = 1024 * 1024 * 1024;
    const piece = Buffer.alloc(pieceBytes, 'x');
    function* endless(): Iterable<Buffer> {
      for (;;) yield piece;
    }

    test('a 1 GiB content-length is answered at once and the connection closed', limits, async () => {
      const reply = await refusedUpstreamUntouched({
        path: '/v1/chat/completions',
        framing: 'content-length',
        body: endless,
        declaredLength,
      });
      assert.ok(reply.written < declaredLength, 'the gateway did not read the whole body');
      // The client was still sending, so it may see the reply or a reset; a reply is the 413.
      if (reply.status !== 0) assert.equal(reply.status, 413);
    });

    test('an endless chunked body is cut after the cap', limits, async () => {
      const reply = await refusedUpstreamUntouched({
        path: '/v1/chat/completions',
        framing: 'chunked',
        body: endless,
      });
      if (reply.status !== 0) assert.equal(reply.status, 413);
    });
  });

  describe('valid UTF-8 is passed on exactly', () => {
    test(
      'a character split across two chunks of a chunked body reaches the upstream whole',
      limits,
      async () => {
        const content = 'héllo € 😀 日本';
        const body = Buffer.from(JSON.stringify({ ...chatBody, messages: [{ role: 'user', content }] }));
        const split = body.indexOf(Buffer.from('😀')) + 2;
        const before = fake.calls.length;
        const reply = await rawPost(gateway.origin, {
          path: '/v1/chat/completions',
          framing: 'chunked',
          body: () => [body.subarray(0, split), body.subarray(split)],
        });
        assert.equal(reply.status, 200, reply.body.slice(0, 300));
        assert.equal(fake.calls.length, before + 1);
        const sent = fake.calls.at(-1)?.body as { messages: Array<{ content: string }> };
        assert.equal(sent.messages[0]?.content, content);
      },
    );

    test('bad bytes in a chunked body are a 400 invalid_json too', limits, async () => {
      const endpoint = postEndpoints[0]!;
      const body = withBytesInString(endpoint, [0xc3, 0x28]);
      const reply = await refusedUpstreamUntouched({
        path: endpoint.path,
        framing: 'chunked',
        body: () => piecesOf(body, 7),
      });
      assertDelivered(reply, endpoint.shape, notUtf8Error);
    });
  });
});

describe('a client that stalls past the limit', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    fake = await startFakeOpenAI();
    gateway = await startGateway({
      OPENAI_API_KEY: 'sk-test-upstream-body-edge',
      OPENAI_BASE_URL: fake.url,
      NEXUS_MASTER_KEY: masterKey,
      NEXUS_BODY_LIMIT_BYTES: String(bodyLimitBytes),
      REQUEST_TIMEOUT_MS: '300',
      HOST: '127.0.0.1',
    });
  });

  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  const endpoint = postEndpoints[0]!;
  const oversize = padded(endpoint, bodyLimitBytes * 1.5);
  for (const framing of ['content-length', 'chunked'] as const) {
    test(`${framing}: the request deadline ends the exchange with its 413`, limits, async () => {
      const before = fake.calls.length;
      const reply = await rawPost(gateway.origin, {
        path: endpoint.path,
        framing,
        body: oversize,
        stallAfterBytes: bodyLimitBytes + bodyLimitBytes / 4,
      });
      assertDelivered(reply, endpoint.shape, tooLarge);
      assert.equal(fake.calls.length, before, 'nothing reaches the upstream');
      await assertStillServing(gateway, fake);
    });
  }
});

/** A normal chat completion on a new connection succeeds and reaches the upstream once. */
async function assertStillServing(gateway: TestGateway, fake: FakeOpenAI): Promise<void> {
  const before = fake.calls.length;
  const reply = await rawPost(gateway.origin, {
    path: '/v1/chat/completions',
    framing: 'content-length',
    body: Buffer.from(JSON.stringify(chatBody)),
  });
  assert.equal(reply.status, 200, `still serving: ${reply.status} ${reply.body.slice(0, 300)}`);
  assert.equal((JSON.parse(reply.body) as { object?: string }).object, 'chat.completion');
  assert.equal(fake.calls.length, before + 1);
}
