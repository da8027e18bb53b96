import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../../src', import.meta.url));

function files(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)[^'"]*from\s+'([^']+)'/gm)].map((match) => match[1]!);
}

const providerFolders = readdirSync(join(src, 'providers')).filter((name) =>
  statSync(join(src, 'providers', name)).isDirectory(),
);

it('no provider adapter imports another; shared code lives in providers/shared', () => {
  for (const folder of providerFolders.filter((name) => name !== 'shared')) {
    for (const file of files(join(src, 'providers', folder))) {
      for (const specifier of importsOf(file)) {
        const other = /^\.\.\/([\w-]+)\//.exec(specifier)?.[1];
        assert.ok(
          other === undefined || other === 'shared' || !providerFolders.includes(other),
          `${relative(src, file)} imports ${specifier}`,
        );
      }
    }
  }
});

it('core and resilience import no web framework and no provider internals', () => {
  for (const file of [...files(join(src, 'core')), ...files(join(src, 'resilience'))]) {
    for (const specifier of importsOf(file)) {
      assert.ok(
        !/^node:https?$|fastify|hono|express/.test(specifier),
        `${relative(src, file)} imports ${specifier}`,
      );
      const provider = /providers\/([\w-]+)\//.exec(specifier)?.[1];
      assert.equal(provider, undefined, `${relative(src, file)} reaches into providers/${provider}`);
    }
  }
});

it('node:http is used only by the HTTP edge', () => {
  for (const file of files(src)) {
    if (relative(src, file).startsWith('http/')) continue;
    for (const specifier of importsOf(file)) {
      assert.notEqual(specifier, 'node:http', `${relative(src, file)} imports node:http`);
    }
  }
});
