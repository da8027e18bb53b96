/**
 * /openapi.json and /docs on a running gateway with fake OpenAI and Anthropic upstreams and a Stripe double: the
 * document is valid OpenAPI 3.1 (checked by an OpenAPI validator, and every schema compiled as draft 2020-12),
 * it lists exactly the methods the router serves, every documented operation answers with a status it documents
 * and a body its schema accepts, and the reference page loads only this gateway's own files under a strict CSP,
 * with no way out of its asset folder.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compileErrors, dereference, validate } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import Stripe from 'stripe';
import type { Route } from '../../src/http/exchange.ts';
import { openApiDocument } from '../../src/http/openapi/document.ts';
import { call, json } from '../support/admin-client.ts';
import { type FakeAnthropic, startFakeAnthropic } from '../support/fake-anthropic.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import {
  type DocumentedOperation,
  pathIdFor,
  queryFor,
  type RunIds,
  recordIds,
  runOrder,
  withRunIds,
} from '../support/openapi-requests.ts';
import { type StripeDouble, startStripeDouble } from '../support/stripe-double.ts';

const limits = { timeout: 60_000 };
const masterKey = 'nexus-master-openapi-tests';
const webhookSecret = 'whsec_openapi_tests';
const methods = ['get', 'post', 'patch', 'delete'] as const;

// ajv-formats is CommonJS: its plugin is the module itself, or its `default` under some loaders.
const addFormats = ((addFormatsModule as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => Ajv2020;

type Json = Record<string, unknown>;
interface Operation extends DocumentedOperation {
  readonly parameters: ReadonlyArray<{ name: string; in: string; example?: string }>;
  readonly requestBody?: { content: Record<string, { schema: Json; example: unknown }> };
  readonly responses: Record<string, { content?: Record<string, { schema?: Json }> }>;
}

/** A copy of the document for the parser, which resolves references in place. */
const copyOf = (document: Json) => structuredClone(document) as unknown as Parameters<typeof validate>[0];
const resolvedCopy = async (document: Json) => (await dereference(copyOf(document))) as unknown as Json;

function operationsOf(document: Json): Operation[] {
  const paths = document.paths as Record<string, Record<string, Json>>;
  return Object.entries(paths).flatMap(([path, item]) =>
    methods
      .filter((method) => item[method] !== undefined)
      .map((method) => ({ ...(item[method] as unknown as Operation), method: method.toUpperCase(), path })),
  );
}

describe('OpenAPI document and API reference page', () => {
  let openai: FakeOpenAI;
  let anthropic: FakeAnthropic;
  let stripe: StripeDouble;
  let gateway: TestGateway;
  let document: Json;
  const ajv = addFormats(new Ajv2020({ strict: true, allErrors: true }));

  before(async () => {
    [openai, anthropic, stripe] = await Promise.all([
      startFakeOpenAI(),
      startFakeAnthropic(),
      startStripeDouble(),
    ]);
    gateway = await startGateway({
      NEXUS_MASTER_KEY: masterKey,
      HOST: '127.0.0.1',
      OPENAI_API_KEY: 'sk-upstream-openapi',
      OPENAI_BASE_URL: openai.url,
      ANTHROPIC_API_KEY: 'sk-ant-upstream-openapi',
      ANTHROPIC_BASE_URL: anthropic.url,
      NEXUS_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
      NEXUS_SIGNUP: 'true',
      STRIPE_SECRET_KEY: 'sk_test_openapi',
      STRIPE_WEBHOOK_SECRET: webhookSecret,
      STRIPE_PRICE_ID: 'price_pro_monthly',
      STRIPE_API_BASE_URL: stripe.url,
    });
    const reply = await call(gateway, 'GET', '/openapi.json');
    assert.equal(reply.status, 200, reply.text.slice(0, 500));
    document = json<Json>(reply);
  });

  after(async () => {
    await gateway.close();
    stripe.server.closeAllConnections();
    stripe.server.close();
    await Promise.all([openai.close(), anthropic.close()]);
  });

  test(
    '/openapi.json is valid OpenAPI 3.1, without a key, and its schemas compile as draft 2020-12',
    limits,
    async () => {
      const reply = await call(gateway, 'GET', '/openapi.json');
      assert.equal(reply.status, 200);
      assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(document.openapi, '3.1.0');
      const result = await validate(copyOf(document));
      assert.ok(result.valid, result.valid ? '' : compileErrors(result));
      assert.deepEqual(result.warnings, []);
      const schemas = (document.components as { schemas: Record<string, Json> }).schemas;
      for (const [name, schema] of Object.entries(schemas)) {
        assert.doesNotThrow(() => ajv.compile(schema), `components.schemas.${name} compiles`);
      }
    },
  );

  test(
    'every documented body example is accepted by its own schema and every body has a schema',
    limits,
    async () => {
      const resolved = await resolvedCopy(document);
      for (const operation of operationsOf(resolved)) {
        const takesBody = operation.method === 'POST' || operation.method === 'PATCH';
        const body = operation.requestBody?.content['application/json'];
        // Only checkout takes no body among POSTs: it acts on the calling key's user.
        if (takesBody && operation.operationId !== 'seed000Checkout')
          assert.ok(body, `${operation.operationId} has a body schema`);
        if (body === undefined) continue;
        const check = ajv.compile(body.schema);
        assert.ok(check(body.example), `${operation.operationId} example: ${ajv.errorsText(check.errors)}`);
      }
    },
  );

  test('the document lists exactly the methods the router serves on each path', limits, async () => {
    const byPath = new Map<string, string[]>();
    for (const operation of operationsOf(document)) {
      byPath.set(operation.path, [...(byPath.get(operation.path) ?? []), operation.method]);
    }
    for (const [path, documented] of byPath) {
      const concrete = path.replace(/\{[^}]+\}/, 'some-id');
      // A method no route has: the router answers 405 naming every method it serves on this path.
      const reply = await call(gateway, 'PUT', concrete, { key: masterKey });
      assert.equal(reply.status, 405, `${path}: ${reply.text.slice(0, 200)}`);
      const allowed = (reply.headers.get('allow') ?? '').split(', ').sort();
      assert.deepEqual(allowed, [...documented].sort(), path);
    }
  });

  test('a route without a description, or a description without a route, fails the document', () => {
    const stray: Route = {
      kind: 'plain',
      method: 'GET',
      path: '/v1/undocumented',
      authenticated: true,
      errorShape: 'openai',
      handle: () => async () => undefined,
    };
    assert.throws(() => openApiDocument([stray], '0.0.0'), /GET \/v1\/undocumented has no description/);
    assert.throws(
      () => openApiDocument([], '0.0.0'),
      /descriptions of routes that do not exist: .*POST \/v1\/chat\/completions/,
    );
  });

  test(
    'every documented operation answers a documented 2xx whose JSON body matches its schema',
    limits,
    async () => {
      const resolved = await resolvedCopy(document);
      const operations = operationsOf(resolved).sort((a, b) => runOrder(a) - runOrder(b));
      const ids: RunIds = {};
      const signer = new Stripe('sk_test_openapi');
      for (const operation of operations) {
        const { operationId } = operation;
        let path = operation.path.replace('{model}', 'openai%2Fgpt-4o-mini');
        const id = pathIdFor(operation.path, ids);
        if (id !== undefined) path = path.replace('{id}', encodeURIComponent(id));
        const query = queryFor(operationId, ids);
        const documentedQuery = operation.parameters.filter((parameter) => parameter.in === 'query');
        for (const name of Object.keys(query)) {
          assert.ok(
            documentedQuery.some((parameter) => parameter.name === name),
            `${operationId} documents ?${name}`,
          );
        }
        if (Object.keys(query).length > 0) path += `?${new URLSearchParams(query)}`;
        const example = operation.requestBody?.content['application/json']?.example;
        const body = example === undefined ? undefined : withRunIds(example, ids);
        const headers: Record<string, string> = {};
        if (operationId === 'seed000StripeWebhook') {
          const payload = JSON.stringify(body);
          headers['stripe-signature'] = signer.webhooks.generateTestHeaderString({
            payload,
            secret: webhookSecret,
          });
        }
        const key =
          operation.security.length === 0
            ? undefined
            : operationId === 'seed000Checkout'
              ? ids.registered?.api_key
              : masterKey;
        const reply = await call(gateway, operation.method, path, {
          key,
          headers,
          ...(body === undefined
            ? {}
            : { body: operationId === 'seed000StripeWebhook' ? JSON.stringify(body) : body }),
        });

        const documented = operation.responses[String(reply.status)];
        assert.ok(
          documented,
          `${operationId}: ${reply.status} is not documented (${reply.text.slice(0, 300)})`,
        );
        assert.ok(
          reply.status >= 200 && reply.status < 300,
          `${operationId}: ${reply.status} ${reply.text.slice(0, 300)}`,
        );
        const contentType = (reply.headers.get('content-type') ?? '').split(';')[0]!;
        if (reply.status === 204) {
          assert.equal(reply.text, '', operationId);
          continue;
        }
        assert.ok(documented.content?.[contentType], `${operationId}: ${contentType} is documented`);
        if (contentType === 'text/event-stream') {
          assert.match(reply.text, /data: \[DONE\]\n\n$/, operationId);
          continue;
        }
        if (contentType !== 'application/json') {
          assert.notEqual(reply.text, '', `${operationId}: its ${contentType} reply has a body`);
          continue;
        }
        const schema = documented.content[contentType]?.schema;
        assert.ok(schema, `${operationId}: its JSON reply has a schema`);
        const check = ajv.compile(schema);
        assert.ok(
          check(reply.body),
          `${operationId}: ${ajv.errorsText(check.errors)} in ${reply.text.slice(0, 500)}`,
        );
        recordIds(operationId, reply.body, ids);
      }
      assert.equal(stripe.calls.length, 1, 'checkout reached Stripe');
    },
  );

  test(
    "/docs loads only this gateway's own files, under a CSP that allows nothing else",
    limits,
    async () => {
      const reply = await call(gateway, 'GET', '/docs');
      assert.equal(reply.status, 200);
      assert.equal(reply.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(reply.headers.get('x-content-type-options'), 'nosniff');
      const policy = new Map(
        (reply.headers.get('content-security-policy') ?? '').split('; ').map((directive) => {
          const [name = '', ...values] = directive.split(' ');
          return [name, values.join(' ')];
        }),
      );
      assert.equal(policy.get('default-src'), "'none'");
      assert.equal(policy.get('script-src'), "'self'");
      assert.equal(policy.get('connect-src'), "'self'");
      assert.equal(policy.get('frame-ancestors'), "'none'");
      assert.doesNotMatch(reply.headers.get('content-security-policy') ?? '', /unsafe|\*|https?:/);

      const page = reply.text;
      assert.equal(
        page.match(/<script/g)?.length,
        page.match(/<script src="[^"]+"><\/script>/g)?.length,
        'no inline script',
      );
      const references = [...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
      assert.ok(references.length >= 3, page);
      const packaged = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
      const types: Record<string, string> = {
        js: 'text/javascript; charset=utf-8',
        css: 'text/css; charset=utf-8',
        png: 'image/png',
      };
      for (const reference of references) {
        assert.match(reference, /^\/docs\/assets\/[\w.-]+$/, 'same origin, under /docs/assets/');
        const asset = await fetch(`${gateway.origin}${reference}`);
        const bytes = Buffer.from(await asset.arrayBuffer());
        assert.equal(asset.status, 200, reference);
        assert.equal(asset.headers.get('content-type'), types[reference.split('.').pop()!], reference);
        const name = reference.slice('/docs/assets/'.length);
        if (name === 'nexus-docs.js') {
          assert.match(bytes.toString(), /url: '\/openapi\.json'/);
          assert.match(bytes.toString(), /validatorUrl: null/, 'no document sent to a public validator');
        } else
          assert.ok(bytes.equals(readFileSync(join(packaged, name))), `${name} is swagger-ui-dist's own`);
      }
    },
  );

  test(
    'the assets route answers only its own file names: hostile and unknown paths are 404',
    limits,
    async () => {
      const hostile = [
        '/docs/assets/../../package.json',
        '/docs/assets/..%2f..%2fpackage.json',
        '/docs/assets/%2e%2e/%2e%2e/package.json',
        '/docs/assets/%2e%2e%2f%2e%2e%2fpackage.json',
        '/docs/assets/swagger-ui.css/../../../package.json',
        '/docs/assets/..\\..\\package.json',
        '/docs/assets//etc/passwd',
        '/docs/assets/%2fetc%2fpasswd',
        '/docs/assets/swagger-ui-bundle.js%00.png',
        '/docs/assets/swagger-ui-bundle.js.map',
        '/docs/assets/index.html',
        '/docs/assets/package.json',
      ];
      for (const path of hostile) {
        // node:http sends the path as written (fetch would resolve the dots before sending).
        const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const outgoing = httpRequest(`${gateway.origin}/`, { path, method: 'GET' }, (response) => {
            const pieces: Buffer[] = [];
            response.on('data', (piece: Buffer) => pieces.push(piece));
            response.on('end', () =>
              resolve({ status: response.statusCode ?? 0, body: Buffer.concat(pieces).toString() }),
            );
          });
          outgoing.on('error', reject);
          outgoing.end();
        });
        assert.equal(status, 404, path);
        assert.equal((JSON.parse(body) as { error: { code: string } }).error.code, 'route_not_found', path);
      }
    },
  );
});
