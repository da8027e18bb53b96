/**
 * Hostile and malformed input against every public route, over real sockets (SPEC §4): each must get a
 * clear 4xx in the route's error shape naming the problem, never a 500 or a hung connection, and nothing
 * may reach the upstream. Requests carry a 5 s abort signal so a hang fails the test instead of stalling it.
 */
import assert from 'node:assert/strict';
import { type IncomingHttpHeaders, request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const upstreamKey = 'sk-test-upstream-secret';
const masterKey = 'nexus-master-key-bad-input';
const bodyLimitBytes = 1024 * 1024;
const hangLimitMs = 5000;
const limits = { timeout: 15_000 };

type Shape = 'openai' | 'seed-004';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  body: unknown;
}

interface SendOptions {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  /** Send the body with `transfer-encoding: chunked` and no content-length. */
  chunked?: boolean;
  /** Whether to send the master key; default true. */
  auth?: boolean;
}

interface Expected {
  status: number;
  shape: Shape;
  code?: string;
  /** The field at fault; `null` for a problem with the body as a whole. Only checked on OpenAI-shaped routes. */
  param?: string | null;
  message?: RegExp;
}

interface PostEndpoint {
  path: string;
  shape: Shape;
  kind: 'chat' | 'embeddings' | 'seed-000' | 'seed-004-chat' | 'seed-004-embeddings';
  valid: Record<string, unknown>;
}

const userMessages = [{ role: 'user', content: 'hi' }];
const chatBody = { model: 'gpt-4o-mini', messages: userMessages };
const embeddingsBody = { model: 'text-embedding-3-small', input: 'hi' };

const postEndpoints: PostEndpoint[] = [
  { path: '/v1/chat/completions', shape: 'openai', kind: 'chat', valid: chatBody },
  { path: '/v1/embeddings', shape: 'openai', kind: 'embeddings', valid: embeddingsBody },
  { path: '/api/chat', shape: 'openai', kind: 'seed-000', valid: { message: 'hi', model: 'gpt-4o-mini' } },
  {
    path: '/api/chat/stream',
    shape: 'openai',
    kind: 'seed-000',
    valid: { message: 'hi', model: 'gpt-4o-mini' },
  },
  { path: '/api/v1/completions/chat', shape: 'seed-004', kind: 'seed-004-chat', valid: chatBody },
  {
    path: '/api/v1/completions/embeddings',
    shape: 'seed-004',
    kind: 'seed-004-embeddings',
    valid: embeddingsBody,
  },
];

const getEndpoints: Array<{ path: string; shape: Shape; authenticated: boolean }> = [
  { path: '/v1/models', shape: 'openai', authenticated: true },
  { path: '/api/v1/completions/models', shape: 'seed-004', authenticated: true },
  { path: '/health', shape: 'openai', authenticated: false },
  { path: '/ready', shape: 'openai', authenticated: false },
];

/** Field-level problems per body kind: [what, body, expected]. */
type Case = [string, Record<string, unknown>, Omit<Expected, 'shape'>];

const invalid = (param: string, message?: RegExp): Omit<Expected, 'shape'> => ({
  status: 400,
  code: 'invalid_request',
  param,
  message: message ?? new RegExp(param.replace(/[[\].]/g, '\\$&')),
});
const unknownModel = { status: 404, code: 'model_not_found', param: 'model', message: /no-such-model/ };
const unknownProvider = { status: 400, code: 'unknown_provider', param: 'model', message: /'nope'/ };
const notConfigured = { status: 400, code: 'provider_not_configured', param: 'model', message: /groq/ };

const chatCases: Case[] = [
  ['messages is a string', { ...chatBody, messages: 'hi' }, invalid('messages')],
  ['temperature is a string', { ...chatBody, temperature: 'hot' }, invalid('temperature')],
  ['temperature is out of range', { ...chatBody, temperature: 3 }, invalid('temperature')],
  ['max_tokens is negative', { ...chatBody, max_tokens: -1 }, invalid('max_tokens')],
  ['max_tokens is fractional', { ...chatBody, max_tokens: 1.5 }, invalid('max_tokens')],
  ['stream is a string', { ...chatBody, stream: 'yes' }, invalid('stream')],
  ['stream_options is a string', { ...chatBody, stream_options: 'yes' }, invalid('stream_options')],
  [
    'a content part has no type',
    { ...chatBody, messages: [{ role: 'user', content: [{ text: 'hi' }] }] },
    invalid('messages[0].content[0].type'),
  ],
  [
    'an image part has no url',
    { ...chatBody, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] },
    invalid('messages[0].content[0].image_url.url'),
  ],
  [
    'a role is unknown',
    { ...chatBody, messages: [{ role: 'hacker', content: 'hi' }] },
    invalid('messages[0].role'),
  ],
  ['a message is null', { ...chatBody, messages: [null] }, invalid('messages[0]')],
  ['model is missing', { messages: userMessages }, invalid('model', /model.*required/)],
  ['model is a number', { ...chatBody, model: 42 }, invalid('model')],
  ['model is empty', { ...chatBody, model: '' }, invalid('model')],
  ['model is 300 characters', { ...chatBody, model: 'm'.repeat(300) }, invalid('model')],
  ['messages is missing', { model: 'gpt-4o-mini' }, invalid('messages', /messages.*required/)],
  ['messages is empty', { ...chatBody, messages: [] }, invalid('messages', /at least one message/)],
  ['n is zero', { ...chatBody, n: 0 }, invalid('n')],
  ['stop has five entries', { ...chatBody, stop: ['a', 'b', 'c', 'd', 'e'] }, invalid('stop')],
  [
    'a tool has no name',
    { ...chatBody, tools: [{ type: 'function', function: {} }] },
    invalid('tools[0].function.name'),
  ],
  ['tool_choice is unknown', { ...chatBody, tool_choice: 'sometimes' }, invalid('tool_choice')],
  ['the model is unknown', { ...chatBody, model: 'no-such-model' }, unknownModel],
  ['the provider prefix is unknown', { ...chatBody, model: 'nope/model' }, unknownProvider],
  ['the provider is not configured', { ...chatBody, model: 'groq/llama-3.1-8b-instant' }, notConfigured],
];

const embeddingsCases: Case[] = [
  ['model is missing', { input: 'hi' }, invalid('model', /model.*required/)],
  ['input is missing', { model: 'text-embedding-3-small' }, invalid('input', /input.*required/)],
  ['input is a number', { ...embeddingsBody, input: 42 }, invalid('input')],
  ['input is an empty array', { ...embeddingsBody, input: [] }, invalid('input')],
  ['encoding_format is unknown', { ...embeddingsBody, encoding_format: 'hex' }, invalid('encoding_format')],
  ['dimensions is zero', { ...embeddingsBody, dimensions: 0 }, invalid('dimensions')],
  ['dimensions is a string', { ...embeddingsBody, dimensions: 'big' }, invalid('dimensions')],
  ['the model is unknown', { ...embeddingsBody, model: 'no-such-model' }, unknownModel],
  ['the provider prefix is unknown', { ...embeddingsBody, model: 'nope/model' }, unknownProvider],
  [
    'the provider is not configured',
    { ...embeddingsBody, model: 'groq/llama-3.1-8b-instant' },
    notConfigured,
  ],
];

const seed000Cases: Case[] = [
  ['message is missing', { model: 'gpt-4o-mini' }, invalid('message')],
  ['message is a number', { message: 123 }, invalid('message')],
  ['message is empty', { message: '' }, invalid('message')],
  ['model is a number', { message: 'hi', model: 42 }, invalid('model')],
  ['the model is unknown', { message: 'hi', model: 'no-such-model' }, unknownModel],
  ['the provider prefix is unknown', { message: 'hi', model: 'nope/model' }, unknownProvider],
  ['the provider is not configured', { message: 'hi', model: 'groq/llama-3.1-8b-instant' }, notConfigured],
];

const seed004ChatCases: Case[] = [
  ['messages is a string', { messages: 'hi' }, invalid('messages')],
  ['messages is missing', { model: 'gpt-4o-mini' }, invalid('messages')],
  ['messages is empty', { messages: [] }, invalid('messages')],
  ['temperature is a string', { messages: userMessages, temperature: 'hot' }, invalid('temperature')],
  ['maxTokens is negative', { messages: userMessages, maxTokens: -1 }, invalid('maxTokens')],
  ['cacheTtl is below 60', { messages: userMessages, cacheTtl: 5 }, invalid('cacheTtl')],
  [
    'a content part has no type',
    { messages: [{ role: 'user', content: [{ text: 'hi' }] }] },
    invalid('messages[0].content[0].type'),
  ],
  ['the model is unknown', { ...chatBody, model: 'no-such-model' }, unknownModel],
  ['the provider prefix is unknown', { ...chatBody, model: 'nope/model' }, unknownProvider],
  ['the provider is not configured', { ...chatBody, model: 'groq/llama-3.1-8b-instant' }, notConfigured],
];

const seed004EmbeddingsCases: Case[] = [
  ['input is missing', { model: 'text-embedding-3-small' }, invalid('input')],
  ['input is a number', { input: 42 }, invalid('input')],
  ['cacheTtl is above a day', { input: 'hi', cacheTtl: 100_000 }, invalid('cacheTtl')],
  ['the model is unknown', { ...embeddingsBody, model: 'no-such-model' }, unknownModel],
  [
    'the provider is not configured',
    { ...embeddingsBody, model: 'groq/llama-3.1-8b-instant' },
    notConfigured,
  ],
];

const casesByKind: Record<PostEndpoint['kind'], Case[]> = {
  chat: chatCases,
  embeddings: embeddingsCases,
  'seed-000': seed000Cases,
  'seed-004-chat': seed004ChatCases,
  'seed-004-embeddings': seed004EmbeddingsCases,
};

function nestedArrays(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

function nestedObjects(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** Checks a reply is the route's error shape with the expected status, code, param and message. */
function assertError(reply: Reply, expected: Expected) {
  const context = `${reply.status} ${reply.text.slice(0, 300)}`;
  assert.notEqual(reply.status, 500, `never a 500: ${context}`);
  assert.equal(reply.status, expected.status, context);
  assert.match(String(reply.headers['content-type']), /^application\/json/, context);
  if (expected.shape === 'seed-004') {
    const body = reply.body as { success?: unknown; error?: { code?: unknown; message?: unknown } };
    assert.equal(body.success, false, context);
    assert.equal(typeof body.error?.code, 'string', context);
    assert.equal(typeof body.error?.message, 'string', context);
    if (expected.code !== undefined) assert.equal(body.error?.code, expected.code, context);
    if (expected.message !== undefined) assert.match(String(body.error?.message), expected.message, context);
    return;
  }
  const error = (reply.body as { error?: Record<string, unknown> }).error;
  assert.ok(error !== undefined && typeof error === 'object', `an OpenAI error object: ${context}`);
  assert.equal(typeof error.message, 'string', context);
  assert.ok(String(error.message).length > 0, context);
  assert.equal(typeof error.type, 'string', context);
  assert.equal(typeof error.code, 'string', context);
  assert.ok('param' in error, context);
  if (expected.code !== undefined) assert.equal(error.code, expected.code, context);
  if (expected.param !== undefined) assert.equal(error.param, expected.param, context);
  if (expected.message !== undefined) assert.match(String(error.message), expected.message, context);
}

describe('bad input on every route', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    fake = await startFakeOpenAI();
    gateway = await startGateway({
      OPENAI_API_KEY: upstreamKey,
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

  /** One request over node:http, bounded by a 5 s abort so a hung connection fails the test. */
  function send(path: string, options: SendOptions = {}): Promise<Reply> {
    const { method = options.body === undefined ? 'GET' : 'POST', body, chunked = false } = options;
    const headers: Record<string, string> = {
      ...(options.auth === false ? {} : { authorization: `Bearer ${masterKey}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(body === undefined
        ? {}
        : chunked
          ? { 'transfer-encoding': 'chunked' }
          : { 'content-length': String(Buffer.byteLength(body)) }),
      ...options.headers,
    };
    return new Promise((resolve, reject) => {
      let answered = false;
      const outgoing = request(
        `${gateway.origin}${path}`,
        { method, headers, signal: AbortSignal.timeout(hangLimitMs) },
        (response) => {
          answered = true;
          const pieces: Buffer[] = [];
          response.on('data', (piece: Buffer) => pieces.push(piece));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(pieces).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {}
            resolve({ status: response.statusCode ?? 0, headers: response.headers, text, body: parsed });
          });
        },
      );
      // The gateway may answer an oversize body before reading it all; a write error after the reply is fine.
      outgoing.on('error', (error) => {
        if (!answered) reject(error);
      });
      if (body !== undefined && chunked) {
        for (let offset = 0; offset < body.length; offset += 64 * 1024) {
          outgoing.write(body.slice(offset, offset + 64 * 1024));
        }
        outgoing.end();
      } else {
        outgoing.end(body);
      }
    });
  }

  /** Sends, checks the error, and checks that nothing reached the upstream. */
  async function refused(path: string, options: SendOptions, expected: Expected): Promise<Reply> {
    const before = fake.calls.length;
    const reply = await send(path, options);
    assertError(reply, expected);
    assert.equal(fake.calls.length, before, 'nothing reaches the upstream');
    return reply;
  }

  /** Writes raw bytes on a socket and returns everything received until the gateway closes it. */
  function rawExchange(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(Number(new URL(gateway.origin).port), '127.0.0.1', () => socket.write(text));
      let received = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no answer within ${hangLimitMs} ms; received ${JSON.stringify(received)}`));
      }, hangLimitMs);
      socket.on('data', (piece) => {
        received += piece.toString('latin1');
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(received);
      });
    });
  }

  for (const endpoint of postEndpoints) {
    const { path, shape } = endpoint;

    describe(`POST ${path}`, () => {
      const notJson: Array<[string, string, RegExp]> = [
        ['malformed JSON', '{"model": "gpt-4o-mini",', /JSON/],
        ['an empty body', '', /empty/],
        ['a whitespace body', '   \n', /JSON/],
        ['a JSON array', '[{"model":"gpt-4o-mini"}]', /object/],
        ['a JSON string', '"hello"', /object/],
        ['JSON null', 'null', /object/],
        ['a JSON number', '42', /object/],
        ['10k nested arrays', nestedArrays(10_000), /object|nested deeper/],
        ['100k nested arrays', nestedArrays(100_000), /object|nested deeper/],
      ];
      for (const [what, body, message] of notJson) {
        test(`${what} is a 400 naming the problem`, limits, async () => {
          await refused(path, { body }, { status: 400, shape, message });
        });
      }

      test('a body nested 10k objects deep is a 400', limits, async () => {
        await refused(path, { body: nestedObjects(10_000) }, { status: 400, shape });
      });

      test('an empty chunked body is a 400', limits, async () => {
        await refused(path, { body: '', chunked: true }, { status: 400, shape, message: /empty/ });
      });

      const oversize = JSON.stringify({ ...endpoint.valid, padding: 'x'.repeat(bodyLimitBytes + 1024) });
      test('an oversize body with content-length is a 413', limits, async () => {
        await refused(
          path,
          { body: oversize },
          { status: 413, shape, code: 'body_too_large', message: /limit/ },
        );
      });

      test('an oversize chunked body without content-length is a 413', limits, async () => {
        await refused(
          path,
          { body: oversize, chunked: true },
          { status: 413, shape, code: 'body_too_large', message: /limit/ },
        );
      });

      test('multipart/form-data is a 415', limits, async () => {
        const body = '--x\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-4o-mini\r\n--x--\r\n';
        await refused(
          path,
          { body, headers: { 'content-type': 'multipart/form-data; boundary=x' } },
          { status: 415, shape, code: 'unsupported_media_type', message: /multipart\/form-data/ },
        );
      });

      test('GET is a 405 with Allow: POST', limits, async () => {
        const reply = await refused(
          path,
          { method: 'GET' },
          { status: 405, shape, code: 'method_not_allowed', message: /POST/ },
        );
        assert.equal(reply.headers.allow, 'POST');
      });

      test('a wrong key is a 401 before the body is read', limits, async () => {
        await refused(
          path,
          { body: JSON.stringify(endpoint.valid), headers: { authorization: 'Bearer nk-wrong' } },
          { status: 401, shape, code: 'invalid_api_key' },
        );
        await refused(path, { body: JSON.stringify(endpoint.valid), auth: false }, { status: 401, shape });
      });

      test('a __proto__ key supplies no field and pollutes nothing', limits, async () => {
        const body = `{"__proto__":{"polluted":"yes","model":"gpt-4o-mini","message":"hi","input":"hi","messages":${JSON.stringify(userMessages)}}}`;
        await refused(path, { body }, { status: 400, shape });
        assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
      });

      for (const [what, body, expected] of casesByKind[endpoint.kind]) {
        test(`${what} is refused`, limits, async () => {
          await refused(path, { body: JSON.stringify(body) }, { ...expected, shape });
        });
      }
    });
  }

  describe('field-level problems the upstream would reject too', () => {
    test('an empty embeddings input is refused before the upstream', limits, async () => {
      for (const [input, param] of [
        ['', 'input'],
        [[''], 'input[0]'],
      ] as const) {
        await refused(
          '/v1/embeddings',
          { body: JSON.stringify({ ...embeddingsBody, input }) },
          { status: 400, shape: 'openai', code: 'invalid_request', param },
        );
      }
    });
  });

  describe('deep nesting inside an otherwise valid body', () => {
    for (const path of ['/v1/chat/completions', '/v1/embeddings']) {
      const valid = path === '/v1/embeddings' ? embeddingsBody : chatBody;
      for (const [what, nested] of [
        ['arrays', nestedArrays(10_000)],
        ['objects', nestedObjects(10_000)],
      ] as const) {
        test(`${path}: 10k nested ${what} in an extra field is a 4xx, not a 500`, limits, async () => {
          const body = `${JSON.stringify(valid).slice(0, -1)},"extra":${nested}}`;
          const before = fake.calls.length;
          const reply = await send(path, { body });
          assert.ok(reply.status >= 400 && reply.status < 500, `a 4xx: ${reply.status} ${reply.text}`);
          assertError(reply, { status: reply.status, shape: 'openai' });
          assert.equal(fake.calls.length, before, 'nothing reaches the upstream');
        });
      }
    }
  });

  describe('body-level errors on OpenAI-shaped routes', () => {
    for (const path of ['/v1/chat/completions', '/v1/embeddings', '/api/chat', '/api/chat/stream']) {
      test(`${path}: a non-object body has param null, not a made-up name`, limits, async () => {
        await refused(path, { body: '[]' }, { status: 400, shape: 'openai', param: null });
      });
    }
  });

  describe('GET routes', () => {
    for (const { path, shape, authenticated } of getEndpoints) {
      for (const method of ['POST', 'PUT', 'DELETE']) {
        test(`${method} ${path} is a 405 with Allow: GET`, limits, async () => {
          const reply = await refused(
            path,
            { method, body: JSON.stringify(chatBody) },
            { status: 405, shape, code: 'method_not_allowed', message: /GET/ },
          );
          assert.equal(reply.headers.allow, 'GET');
        });
      }
      if (authenticated) {
        test(`GET ${path} with a wrong key is a 401`, limits, async () => {
          await refused(
            path,
            { headers: { authorization: 'Bearer nk-wrong' } },
            { status: 401, shape, code: 'invalid_api_key' },
          );
        });
      } else {
        test(`GET ${path} stays open without a key`, limits, async () => {
          const reply = await send(path, { auth: false });
          assert.equal(reply.status, 200);
        });
      }
    }

    test('GET /v1/models/no-such-model is a 404 naming the model', limits, async () => {
      await refused(
        '/v1/models/no-such-model',
        {},
        { status: 404, shape: 'openai', code: 'model_not_found', param: 'model', message: /no-such-model/ },
      );
    });

    test('GET /v1/models/ with a malformed percent-encoding is a 4xx, not a 500', limits, async () => {
      for (const id of ['%E0%A4%A', '%ZZ', 'openai%2F%']) {
        const reply = await send(`/v1/models/${id}`);
        assert.ok(
          reply.status >= 400 && reply.status < 500,
          `a 4xx for ${id}: ${reply.status} ${reply.text}`,
        );
        assertError(reply, { status: reply.status, shape: 'openai' });
      }
    });
  });

  describe('unknown routes', () => {
    const paths = [
      '/v1/nope',
      '/v1/chat/complete',
      '/api/v2/chat',
      '/',
      '/V1/CHAT/COMPLETIONS',
      '/v1/../etc/passwd',
    ];
    for (const path of paths) {
      test(`${path} is a 404`, limits, async () => {
        await refused(
          path,
          { body: JSON.stringify(chatBody) },
          { status: 404, shape: 'openai', code: 'route_not_found' },
        );
      });
    }

    test('a 6 KB path is a 404 whose message does not echo it whole', limits, async () => {
      const reply = await refused(
        `/v1/${'a'.repeat(6000)}`,
        {},
        { status: 404, shape: 'openai', code: 'route_not_found' },
      );
      assert.ok(reply.text.length < 1000);
    });
  });

  describe('x-request-id', () => {
    /** A generated id: well-formed, and not the hostile value. */
    const generated = (reply: Reply, sent: string) => {
      const id = String(reply.headers['x-request-id']);
      assert.notEqual(id, sent);
      assert.match(id, /^[\w.:-]{8,128}$/);
    };
    const routes = [
      ...postEndpoints.map(({ path }) => ({ path, body: '{}' as string | undefined })),
      ...getEndpoints.map(({ path }) => ({ path, body: undefined })),
    ];
    for (const { path, body } of routes) {
      test(`${path}: a 1000-character id is replaced by a generated one`, limits, async () => {
        const reply = await send(path, {
          headers: { 'x-request-id': 'r'.repeat(1000) },
          ...(body === undefined ? {} : { body }),
        });
        assert.notEqual(reply.status, 500);
        generated(reply, 'r'.repeat(1000));
      });
    }

    for (const hostile of [
      'has spaces',
      'tab\there',
      '<script>alert(1)</script>',
      'semi;colon',
      'é-latin1',
    ]) {
      test(`${JSON.stringify(hostile)} is replaced, not echoed`, limits, async () => {
        const reply = await send('/health', { headers: { 'x-request-id': hostile } });
        assert.equal(reply.status, 200);
        generated(reply, hostile);
      });
    }

    test('a well-formed id of 128 characters is echoed, 129 is replaced', limits, async () => {
      const echoed = await send('/health', { headers: { 'x-request-id': 'a'.repeat(128) } });
      assert.equal(echoed.headers['x-request-id'], 'a'.repeat(128));
      const replaced = await send('/health', { headers: { 'x-request-id': 'a'.repeat(129) } });
      generated(replaced, 'a'.repeat(129));
    });

    test('a newline in x-request-id (obs-fold) gets a 400 and injects no header', limits, async () => {
      const received = await rawExchange(
        'GET /health HTTP/1.1\r\nHost: nexus\r\nx-request-id: evil\r\n injected: yes\r\n\r\n',
      );
      assert.match(received, /^HTTP\/1\.1 400 /);
      assert.doesNotMatch(received, /injected/i);
    });
  });

  describe('hostile headers', () => {
    test('a 20 KB header is a 431 and the connection is closed', limits, async () => {
      const received = await rawExchange(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: nexus\r\nx-filler: ${'a'.repeat(20_000)}\r\ncontent-length: 2\r\n\r\n{}`,
      );
      assert.match(received, /^HTTP\/1\.1 431 /);
    });

    test('a 20 KB header gets an OpenAI error object naming the problem', limits, async () => {
      const received = await rawExchange(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: nexus\r\nx-filler: ${'a'.repeat(20_000)}\r\ncontent-length: 2\r\n\r\n{}`,
      );
      const body = received.slice(received.indexOf('\r\n\r\n') + 4);
      assert.match(received, /content-type: application\/json/i, `got ${JSON.stringify(received)}`);
      const parsed = JSON.parse(body) as { error?: { message?: string } };
      assert.match(String(parsed.error?.message), /header/i);
    });

    test('malformed HTTP framing gets an OpenAI error object, not a bare 400', limits, async () => {
      for (const head of [
        'POST /v1/chat/completions HTTP/1.1\r\nHost: nexus\r\ncontent-length: abc\r\n\r\n{}',
        'POST /v1/chat/completions HTTP/1.1\r\nHost: nexus\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
      ]) {
        const received = await rawExchange(head);
        assert.match(received, /^HTTP\/1\.1 400 /);
        assert.match(received, /content-type: application\/json/i, `got ${JSON.stringify(received)}`);
      }
    });

    test('large but legal headers (12 KB in all) do not break a normal request', limits, async () => {
      const reply = await send('/v1/chat/completions', {
        body: JSON.stringify(chatBody),
        headers: { 'user-agent': 'u'.repeat(6000), 'x-request-id': 'x'.repeat(6000) },
      });
      assert.equal(reply.status, 200);
      assert.notEqual(reply.headers['x-request-id'], 'x'.repeat(6000));
    });

    test('a 12 KB wrong key is a plain 401', limits, async () => {
      await refused(
        '/v1/models',
        { headers: { authorization: `Bearer ${'k'.repeat(12_000)}` } },
        { status: 401, shape: 'openai', code: 'invalid_api_key' },
      );
    });

    test('other content types are a 415', limits, async () => {
      for (const type of ['text/html', 'application/xml', 'image/png']) {
        await refused(
          '/v1/chat/completions',
          { body: JSON.stringify(chatBody), headers: { 'content-type': type } },
          { status: 415, shape: 'openai', code: 'unsupported_media_type' },
        );
      }
    });
  });

  describe('prototype pollution', () => {
    test(
      '__proto__ and constructor keys in a valid request affect neither it nor later ones',
      limits,
      async () => {
        const before = fake.calls.length;
        const body = `{"__proto__":{"stream":true,"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi","__proto__":{"role":"system"}}]}`;
        const reply = await send('/v1/chat/completions', { body });
        assert.equal(reply.status, 200);
        assert.match(String(reply.headers['content-type']), /^application\/json/, 'not turned into a stream');
        const sent = fake.calls[before]?.body as Record<string, unknown>;
        assert.notEqual(sent.stream, true);
        assert.deepEqual(sent.messages, userMessages);

        const later = await send('/v1/chat/completions', { body: JSON.stringify(chatBody) });
        assert.equal(later.status, 200);
        assert.match(String(later.headers['content-type']), /^application\/json/);
        const laterSent = fake.calls.at(-1)?.body as Record<string, unknown>;
        assert.equal(laterSent.polluted, undefined);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
        assert.equal(({} as Record<string, unknown>).stream, undefined);
      },
    );
  });

  describe('afterwards', () => {
    test('the gateway still serves normal requests', limits, async () => {
      const chat = await send('/v1/chat/completions', { body: JSON.stringify(chatBody) });
      assert.equal(chat.status, 200);
      assert.equal((chat.body as { object?: string }).object, 'chat.completion');
      const stream = await send('/v1/chat/completions', {
        body: JSON.stringify({ ...chatBody, stream: true }),
      });
      assert.equal(stream.status, 200);
      assert.match(stream.text, /data: \[DONE\]\n\n$/);
      const embeddings = await send('/v1/embeddings', { body: JSON.stringify(embeddingsBody) });
      assert.equal(embeddings.status, 200);
      const seed = await send('/api/v1/completions/chat', { body: JSON.stringify(chatBody) });
      assert.equal((seed.body as { success?: boolean }).success, true);
      const models = await send('/v1/models');
      assert.equal(models.status, 200);
      const health = await send('/health', { auth: false });
      assert.equal((health.body as { status?: string }).status, 'healthy');
    });

    test('no request was answered with a 500', () => {
      const failures = gateway.logs
        .map(
          (line) => JSON.parse(line) as { msg?: string; status?: number; path?: string; errorCode?: string },
        )
        .filter((entry) => entry.msg === 'request' && (entry.status ?? 0) >= 500)
        .map((entry) => `${entry.status} ${entry.errorCode} ${entry.path?.slice(0, 60)}`);
      assert.deepEqual(failures, []);
    });

    test('the logs never contain the upstream key or the master key', () => {
      const logs = gateway.logs.join('\n');
      assert.ok(logs.length > 0);
      assert.ok(!logs.includes(upstreamKey), 'no upstream key in the logs');
      assert.ok(!logs.includes(masterKey), 'no master key in the logs');
    });
  });
});

describe('a client that stalls mid-body', () => {
  let fake: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    fake = await startFakeOpenAI();
    gateway = await startGateway({
      OPENAI_API_KEY: upstreamKey,
      OPENAI_BASE_URL: fake.url,
      REQUEST_TIMEOUT_MS: '300',
    });
  });

  after(async () => {
    await gateway?.close();
    await fake?.close();
  });

  test('is answered with an error once the request deadline passes, not held open', limits, async () => {
    const port = Number(new URL(gateway.origin).port);
    const received = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(
          'POST /v1/chat/completions HTTP/1.1\r\nHost: nexus\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"model":',
        );
      });
      let text = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new Error(
            `the connection was still open after ${hangLimitMs} ms; received ${JSON.stringify(text)}`,
          ),
        );
      }, hangLimitMs);
      socket.on('data', (piece) => {
        text += piece.toString('utf8');
        if (text.includes('\r\n\r\n')) {
          clearTimeout(timer);
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(text);
      });
    });
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(received)?.[1]);
    assert.ok(
      status >= 400 && status !== 500,
      `an error status, not silence or a 500: ${JSON.stringify(received)}`,
    );
    assert.equal(fake.calls.length, 0);
  });
});
