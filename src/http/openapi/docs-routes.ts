import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { NexusError } from '../../core/errors.ts';
import type { Route } from '../exchange.ts';
import { openApiDocument } from './document.ts';

/** Where the reference page's files are served from, and the document it renders. */
export const assetsPrefix = '/docs/assets/';
const documentPath = '/openapi.json';

/**
 * The page allows only this origin's scripts, styles, images (and the data: URIs in swagger-ui's CSS) and
 * requests, no inline script, no plugins, no framing, no form posts: what swagger-ui needs and nothing else.
 */
export const docsContentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

// No inline script (the policy forbids it): the page's own start-up code is a file of its own. `validatorUrl:
// null` keeps swagger-ui from sending the document to its public validator.
const initializer = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '${documentPath}',
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
});
`;

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Nexus API reference</title>
<link rel="stylesheet" href="${assetsPrefix}swagger-ui.css">
<link rel="icon" type="image/png" href="${assetsPrefix}favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${assetsPrefix}swagger-ui-bundle.js"></script>
<script src="${assetsPrefix}nexus-docs.js"></script>
</body>
</html>
`;

interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
}

/** swagger-ui-dist's files the page uses, by name: the only names the assets route answers. */
const packagedAssets: Readonly<Record<string, string>> = {
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

/**
 * The page's files, read once: a fixed list of names mapped to their bytes, so a request names a key of this
 * map or gets 404; no part of its path ever reaches the file system.
 */
function loadAssets(): ReadonlyMap<string, Asset> {
  const folder = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const assets = new Map<string, Asset>();
  for (const [name, contentType] of Object.entries(packagedAssets)) {
    assets.set(name, { body: readFileSync(join(folder, name)), contentType });
  }
  assets.set('nexus-docs.js', {
    body: Buffer.from(initializer),
    contentType: 'text/javascript; charset=utf-8',
  });
  return assets;
}

function send(response: ServerResponse, body: string | Buffer, headers: Record<string, string>): void {
  response.writeHead(200, {
    ...headers,
    'content-length': String(Buffer.byteLength(body)),
    'x-content-type-options': 'nosniff',
  });
  response.end(body);
}

/**
 * `GET /openapi.json`, the OpenAPI 3.1 document of `documented` (the route table), built on first request and
 * kept; `GET /docs`, the interactive reference (swagger-ui, served from its npm package by Nexus itself, no
 * CDN); and `GET /docs/assets/{name}`, its files. None needs a key: they describe the API, not a tenant.
 */
export function documentationRoutes(documented: readonly Route[]): Route[] {
  return [
    {
      kind: 'plain',
      method: 'GET',
      path: documentPath,
      authenticated: false,
      errorShape: 'openai',
      handle: (gateway) => {
        let text: string | undefined;
        return async function openApiJson(exchange) {
          text ??= JSON.stringify(openApiDocument(documented, gateway.version));
          send(exchange.response, text, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
        };
      },
    },
    {
      kind: 'plain',
      method: 'GET',
      path: '/docs',
      authenticated: false,
      errorShape: 'openai',
      handle: () =>
        async function docsPage(exchange) {
          send(exchange.response, page, {
            'content-type': 'text/html; charset=utf-8',
            'content-security-policy': docsContentSecurityPolicy,
            'referrer-policy': 'no-referrer',
            'cache-control': 'no-cache',
          });
        },
    },
    {
      kind: 'plain',
      method: 'GET',
      path: `${assetsPrefix}*`,
      authenticated: false,
      errorShape: 'openai',
      handle: () => {
        const assets = loadAssets();
        return async function docsAsset(exchange) {
          const asset = assets.get(exchange.path.slice(assetsPrefix.length));
          if (asset === undefined) {
            throw new NexusError('route_not_found', 'No such file of the API reference page.');
          }
          send(exchange.response, asset.body, {
            'content-type': asset.contentType,
            'cache-control': 'public, max-age=3600',
          });
        };
      },
    },
  ];
}
