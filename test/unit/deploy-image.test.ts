import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { DockerfileParser, From, type Instruction } from 'dockerfile-ast';
import { ValidationSeverity, validate } from 'dockerfile-utils';
import { readRepositoryFile, repositoryRoot } from '../support/deploy-files.ts';
import { startGateway } from '../support/gateway.ts';

/**
 * The Dockerfile, linted by dockerfile-utils (the validator behind the Docker language server) and read by its
 * parser for the properties a production image needs. `docker build` cannot run here (no base images), so the
 * parts that can run without it do: the HEALTHCHECK command against a real gateway, and the production-only
 * dependency set against src/'s imports.
 */

const dockerfileText = readRepositoryFile('Dockerfile');
const dockerfile = DockerfileParser.parse(dockerfileText);
const packageJson = JSON.parse(readRepositoryFile('package.json')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
};

/** The instructions of each stage, in order (the last stage is the image that ships). */
function stages(): Array<{ name: string; base: string; instructions: Instruction[] }> {
  const found: Array<{ name: string; base: string; instructions: Instruction[] }> = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction instanceof From) {
      found.push({
        name: instruction.getBuildStage() ?? '',
        base: instruction.getImage() ?? '',
        instructions: [],
      });
    } else {
      found.at(-1)?.instructions.push(instruction);
    }
  }
  return found;
}

const runtime = stages().at(-1)!;
const ofKeyword = (keyword: string) => runtime.instructions.filter((item) => item.getKeyword() === keyword);

/** The exec-form JSON array of an instruction such as `CMD [...]` or `HEALTHCHECK ... CMD [...]`. */
function execForm(instruction: Instruction): string[] {
  const content = instruction.getArgumentsContent() ?? '';
  const json = content.slice(content.indexOf('['));
  const parsed: unknown = JSON.parse(json);
  assert.ok(Array.isArray(parsed), `${instruction.getKeyword()} is not in exec form: ${content}`);
  return parsed as string[];
}

describe('Dockerfile', () => {
  it('has no problem dockerfile-utils reports, warnings counted as errors', () => {
    const strict = ValidationSeverity.ERROR;
    const diagnostics = validate(dockerfileText, {
      deprecatedMaintainer: strict,
      directiveCasing: strict,
      emptyContinuationLine: strict,
      instructionCasing: strict,
      instructionCmdMultiple: strict,
      instructionEntrypointMultiple: strict,
      instructionHealthcheckMultiple: strict,
      instructionJSONInSingleQuotes: strict,
      instructionWorkdirRelative: strict,
    });
    assert.deepEqual(
      diagnostics.map((item) => `line ${item.range.start.line + 1}: ${item.message}`),
      [],
    );
  });

  it('is multi-stage: compilers in the build stages only, a slim Node 20 base for the image that ships', () => {
    const all = stages();
    assert.ok(all.length >= 2, 'a single stage would ship the compilers');
    const toolchain = all.find((stage) =>
      stage.instructions.some((item) => /apt-get install.*python3.*make.*g\+\+/s.test(item.toString())),
    );
    assert.ok(toolchain, 'better-sqlite3 needs python3, make and g++ in a build stage');
    const base = dockerfile
      .getInitialARGs()
      .find((arg) => `\${${arg.getProperty()?.getName()}}` === runtime.base);
    const image = base?.getProperty()?.getValue() ?? runtime.base;
    assert.match(
      image,
      /^node:20(\.[\d.]+)?-[a-z]+-slim$/,
      'the runtime stage starts from a slim node:20 image',
    );
    assert.ok(
      runtime.instructions.every((item) => !/apt-get|g\+\+|python3/.test(item.toString())),
      'the runtime stage installs no toolchain',
    );
  });

  it('ships production dependencies only, with dist/, catalog/ and package.json where the app looks', () => {
    const copies = ofKeyword('COPY').map((item) => item.toString());
    const fromStage = (destination: string) =>
      /--from=([\w-]+)/.exec(copies.find((copy) => copy.endsWith(destination)) ?? '')?.[1];
    const dependencies = stages().find((stage) => stage.name === fromStage('./node_modules'));
    assert.ok(
      dependencies?.instructions.some((item) => /npm ci\b.*--omit=dev/.test(item.toString())),
      'node_modules comes from a stage that ran `npm ci --omit=dev`',
    );
    const build = stages().find((stage) => stage.name === fromStage('./dist'));
    assert.ok(build?.instructions.some((item) => /npm run build/.test(item.toString())));
    // src/catalog/load.ts reads catalog/ beside dist/; package.json makes dist/*.js ES modules.
    assert.ok(copies.includes('COPY catalog ./catalog'));
    assert.ok(copies.includes('COPY package.json ./'));
  });

  it('runs as a non-root user, with the data directory as a volume and port 3000 exposed', () => {
    const users = ofKeyword('USER').map((item) => item.getArguments()[0]?.getValue() ?? '');
    assert.ok(users.length > 0, 'the final stage sets USER');
    assert.ok(!['root', '0'].includes(users.at(-1)!.split(':')[0]!), `USER ${users.at(-1)}`);
    const environment = ofKeyword('ENV').flatMap((item) =>
      item.getArguments().map((argument) => argument.getValue()),
    );
    const dataDirectory = environment.find((pair) => pair.startsWith('NEXUS_DATA_DIR='))?.split('=')[1];
    assert.ok(dataDirectory?.startsWith('/'), 'NEXUS_DATA_DIR is an absolute path');
    assert.ok(ofKeyword('VOLUME').some((item) => item.toString().includes(`"${dataDirectory}"`)));
    assert.ok(
      ofKeyword('EXPOSE').some((item) => item.getArguments().some((port) => port.getValue() === '3000')),
    );
    assert.ok(environment.includes('HOST=0.0.0.0'), 'the container listens beyond its loopback');
  });

  it('starts with the same command as `npm start`, without the build', () => {
    const [cmd] = ofKeyword('CMD');
    assert.ok(cmd);
    assert.deepEqual(execForm(cmd), packageJson.scripts.start?.split(' '));
  });

  it('checks health through /ready with node itself, in exec form', () => {
    const [healthcheck] = ofKeyword('HEALTHCHECK');
    assert.ok(healthcheck, 'the final stage has a HEALTHCHECK');
    const command = execForm(healthcheck);
    assert.equal(command[0], 'node', 'slim images have no curl or wget');
    assert.ok(command.join(' ').includes('/ready'));
  });
});

/** Whether `.dockerignore` keeps `path` (relative to the context root) out of the build context. */
function ignoredByDockerignore(path: string): boolean {
  const patterns = readRepositoryFile('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  assert.ok(
    patterns.every((pattern) => !pattern.startsWith('!')),
    'exceptions (!) are not modelled here',
  );
  return patterns.some((pattern) => {
    const source = pattern
      .replace(/^\/+|\/+$/g, '')
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replaceAll('**', '\u0000')
      .replaceAll('*', '[^/]*')
      .replaceAll('?', '[^/]')
      .replaceAll('\u0000', '.*');
    // A pattern matching a directory excludes everything under it.
    return new RegExp(`^${source}(/.*)?$`).test(path);
  });
}

describe('.dockerignore', () => {
  it('keeps dependencies, builds, databases, secrets and history out of the build context', () => {
    for (const path of ['node_modules', 'dist', 'data/nexus.db', '.env', '.git', 'nexus.yaml']) {
      assert.ok(ignoredByDockerignore(path), path);
    }
  });

  it('keeps in everything the Dockerfile copies from the context', () => {
    const sources = dockerfile
      .getCOPYs()
      .filter((copy) => !copy.toString().includes('--from='))
      .flatMap((copy) =>
        copy
          .getArguments()
          .slice(0, -1)
          .map((argument) => argument.getValue()),
      );
    assert.ok(sources.includes('src') && sources.includes('package-lock.json'));
    assert.deepEqual(
      sources.filter((source) => ignoredByDockerignore(source)),
      [],
    );
  });
});

/** Runs the image's HEALTHCHECK command as Docker would, with `PORT` set; resolves to its exit code. */
async function runHealthcheck(port: number): Promise<number> {
  const [healthcheck] = ofKeyword('HEALTHCHECK');
  const [, ...args] = execForm(healthcheck!);
  try {
    await promisify(execFile)(process.execPath, args, {
      env: { PATH: process.env.PATH ?? '', PORT: String(port) },
      timeout: 10_000,
    });
    return 0;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

describe('the image HEALTHCHECK command', () => {
  it('is healthy against a ready gateway', async () => {
    const gateway = await startGateway();
    try {
      assert.equal(await runHealthcheck(Number(new URL(gateway.origin).port)), 0);
    } finally {
      await gateway.close();
    }
  });

  it('is unhealthy when /ready answers 503 (no provider enabled)', async () => {
    const gateway = await startGateway({ NEXUS_DEMO: 'false' });
    try {
      const ready = await fetch(`${gateway.origin}/ready`);
      assert.equal(ready.status, 503);
      assert.equal(await runHealthcheck(Number(new URL(gateway.origin).port)), 1);
    } finally {
      await gateway.close();
    }
  });

  it('is unhealthy when nothing listens', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.equal(await runHealthcheck(port), 1);
  });
});

function sourceFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** `zod` → zod, `@energetic-ai/embeddings/x` → @energetic-ai/embeddings. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

describe('the image node_modules', () => {
  it('holds every package src/ loads at run time: each one is a production dependency', () => {
    const builtins = new Set(builtinModules);
    const missing: string[] = [];
    for (const file of sourceFiles(join(repositoryRoot, 'src'))) {
      const text = readRepositoryFile(relative(repositoryRoot, file));
      // Static imports (type-only ones are erased by tsc), dynamic imports and import.meta.resolve.
      const specifiers = [
        ...text.matchAll(/^\s*(?:import|export)(?!\s+type\s)[^'"]*from\s+'([^']+)'/gm),
        ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
        ...text.matchAll(/import\.meta\.resolve\(\s*'([^']+)'\s*\)/g),
      ].map((match) => match[1]!);
      for (const specifier of specifiers) {
        if (specifier.startsWith('.') || specifier.startsWith('node:') || builtins.has(specifier)) continue;
        const name = packageName(specifier);
        if (packageJson.dependencies[name] === undefined)
          missing.push(`${relative(repositoryRoot, file)}: ${name}`);
      }
    }
    assert.deepEqual(missing, [], '`npm ci --omit=dev` would leave these out of the image');
  });
});
