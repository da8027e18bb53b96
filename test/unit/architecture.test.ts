import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
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

/** The src folder (`core`, `http`, ...) or root file a path under src belongs to. */
function folderOf(path: string): string {
  const [head] = relative(src, path).split('/');
  return head!.endsWith('.ts') ? '(root)' : head!;
}

/** Folder → the src folders its files import (relative specifiers only). */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of files(src)) {
    const from = folderOf(file);
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    for (const specifier of importsOf(file)) {
      if (!specifier.startsWith('.')) continue;
      const to = folderOf(resolve(dirname(file), specifier));
      if (to !== from) edges.add(to);
    }
  }
  return graph;
}

it('imports between src folders run one way: no folder cycle', () => {
  const graph = folderGraph();
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (folder: string, path: string[]) => {
    if (state.get(folder) === 'done') return;
    assert.notEqual(state.get(folder), 'visiting', `folder cycle: ${[...path, folder].join(' → ')}`);
    state.set(folder, 'visiting');
    for (const next of graph.get(folder) ?? []) visit(next, [...path, folder]);
    state.set(folder, 'done');
  };
  for (const folder of graph.keys()) visit(folder, []);
});

it("the layers: edge → pipeline → resilience → the providers' contract; core imports none of them", () => {
  const graph = folderGraph();
  const forbidden: Record<string, string[]> = {
    core: ['http', 'pipeline', 'resilience', 'providers', 'protocols', 'store', 'transport', 'observability'],
    protocols: ['http', 'pipeline', 'resilience', 'providers'],
    providers: ['http', 'pipeline', 'resilience', 'protocols', 'store'],
    resilience: ['http', 'pipeline', 'protocols', 'store'],
    pipeline: ['http', 'store'],
    // The cache is self-contained: core's shapes and config/catalogue only; its Redis store lives in store/.
    cache: [
      'http',
      'pipeline',
      'resilience',
      'providers',
      'protocols',
      'store',
      'transport',
      'observability',
      'limits',
      'tenancy',
      'ledger',
      'services',
    ],
  };
  for (const [folder, banned] of Object.entries(forbidden)) {
    for (const target of graph.get(folder) ?? []) {
      assert.ok(!banned.includes(target), `${folder}/ imports ${target}/`);
    }
  }
});

it('outside providers/, only the adapter contract and the registry interface are imported', () => {
  for (const file of files(src)) {
    if (relative(src, file).startsWith('providers/')) continue;
    for (const specifier of importsOf(file)) {
      if (!specifier.startsWith('.')) continue;
      const path = relative(src, resolve(dirname(file), specifier));
      if (!path.startsWith('providers/')) continue;
      assert.ok(
        path === 'providers/types.ts' ||
          (path === 'providers/registry.ts' && !relative(src, file).startsWith('resilience/')),
        `${relative(src, file)} imports ${path}`,
      );
    }
  }
});
