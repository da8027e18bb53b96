import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { DCLinter } from 'dclint';
import { stringify } from 'yaml';
import { asRecord, readRepositoryFile, readYamlFile, repositoryRoot } from '../support/deploy-files.ts';

/**
 * docker-compose.yml against the Compose Specification's JSON schema (the copy the dclint package ships) and
 * dclint's correctness and security rules, then the wiring a user relies on when running `docker compose up`:
 * two replicas of one image, dependencies that wait for health, Prometheus scraping both with the token, and
 * Grafana finding its datasource and dashboard. Docker itself cannot run here.
 */

const composeFile = 'docker-compose.yml';
const compose = asRecord(readYamlFile(composeFile), composeFile);
const services = asRecord(compose.services, 'services');
const service = (name: string) => asRecord(services[name], `services.${name}`);
const environment = (name: string) =>
  asRecord(service(name).environment ?? {}, `services.${name}.environment`);

const require = createRequire(import.meta.url);
const composeSchema = JSON.parse(
  readFileSync(join(require.resolve('dclint/package.json'), '..', 'schemas', 'compose.schema.json'), 'utf8'),
) as Record<string, unknown>;

function schemaErrors(document: unknown): string[] {
  // The schema names draft-07 by an https URL Ajv does not know; it is draft-07, Ajv's default.
  const { $schema: _draft, ...schema } = composeSchema;
  const validateCompose = new Ajv({ allErrors: true, strict: false }).compile(schema);
  if (validateCompose(document)) return [];
  return (validateCompose.errors ?? []).map((error) => `${error.instancePath} ${error.message}`);
}

/** One finding of dclint (its published typings do not resolve under NodeNext, so they are restated). */
interface LintMessage {
  readonly rule: string;
  readonly message: string;
  readonly line: number;
}

/** dclint with every rule about correctness or security as an error, and its style rules (key order) off. */
function lint(path: string): LintMessage[] {
  const linter = new DCLinter({
    rules: {
      'no-build-and-image': 2,
      'no-duplicate-container-names': 2,
      'no-duplicate-exported-ports': 2,
      'no-quotes-in-volumes': 2,
      'no-unbound-port-interfaces': 2,
      'no-version-field': 2,
      'require-project-name-field': 2,
      'service-container-name-regex': 2,
      'service-image-require-explicit-tag': 2,
      'require-quotes-in-ports': 0,
      'service-dependencies-alphabetical-order': 0,
      'service-keys-order': 0,
      'service-ports-alphabetical-order': 0,
      'services-alphabetical-order': 0,
      'top-level-properties-order': 0,
    },
    quiet: true,
    debug: false,
    exclude: [],
  });
  const results: Array<{ messages: LintMessage[] }> = linter.lintFiles([path], false);
  return results.flatMap((result) => result.messages);
}

/** The services built from this repository's Dockerfile or running the image it builds. */
const nexusImage = String(service('nexus-1').image);
const replicas = Object.keys(services).filter((name) => service(name).image === nexusImage);

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema', () => {
    assert.deepEqual(schemaErrors(compose), []);
  });

  it('the schema check catches a mistyped dependency condition', () => {
    const broken = structuredClone(compose);
    asRecord(asRecord(asRecord(broken.services, '').grafana, '').depends_on, '').prometheus = {
      condition: 'service_healty',
    };
    assert.ok(schemaErrors(broken).some((error) => error.includes('depends_on')));
  });

  it('passes dclint: pinned image tags, ports bound to an interface, no duplicate ports or names', () => {
    const messages = lint(join(repositoryRoot, composeFile));
    assert.deepEqual(
      messages.map((message) => `${message.line}: ${message.rule}: ${message.message}`),
      [],
    );
  });

  it('dclint reports an unpinned image and a port open on every interface', () => {
    const broken = structuredClone(compose);
    const redis = asRecord(asRecord(broken.services, '').redis, '');
    redis.image = 'redis';
    redis.ports = ['6379:6379'];
    const file = join(mkdtempSync(join(tmpdir(), 'nexus-compose-')), 'docker-compose.yml');
    writeFileSync(file, stringify(broken));
    const rules = lint(file).map((message) => message.rule);
    assert.ok(rules.includes('service-image-require-explicit-tag'));
    assert.ok(rules.includes('no-unbound-port-interfaces'));
  });

  it('runs two Nexus replicas of one image built from the Dockerfile, on 127.0.0.1:3000 and :3001', () => {
    assert.equal(replicas.length, 2);
    const builders = replicas.filter((name) => service(name).build !== undefined);
    assert.equal(builders.length, 1, 'one replica builds the image, the other runs it');
    const build = asRecord(service(builders[0]!).build, 'build');
    assert.equal(build.context, '.');
    assert.equal(build.dockerfile, 'Dockerfile');
    assert.ok(replicas.every((name) => ['build', 'never'].includes(String(service(name).pull_policy))));
    const ports = replicas.flatMap((name) => service(name).ports as string[]);
    assert.deepEqual(ports.sort(), ['127.0.0.1:3000:3000', '127.0.0.1:3001:3000']);
  });

  it('gives both replicas the same PostgreSQL, Redis, master key and metrics token', () => {
    const [first, second] = replicas.map(environment);
    assert.deepEqual(first, second);
    assert.match(String(first?.DATABASE_URL), /^postgres:\/\/[^@]+@postgres:5432\//);
    assert.equal(first?.REDIS_URL, 'redis://redis:6379');
    assert.ok(services.postgres && services.redis);
    assert.match(String(first?.NEXUS_MASTER_KEY), /^\$\{NEXUS_MASTER_KEY(:-.{8,})?\}$/);
    assert.equal(first?.HOST, '0.0.0.0');
  });

  it('waits for each dependency to be healthy, and every such dependency has a health check', () => {
    const dockerfileHasHealthcheck = /^HEALTHCHECK /m.test(readRepositoryFile('Dockerfile'));
    for (const [name, definition] of Object.entries(services)) {
      const dependsOn = asRecord(asRecord(definition, name).depends_on ?? {}, `${name}.depends_on`);
      for (const [dependency, condition] of Object.entries(dependsOn)) {
        assert.ok(services[dependency], `${name} depends on unknown service ${dependency}`);
        assert.equal(asRecord(condition, dependency).condition, 'service_healthy', `${name} → ${dependency}`);
        const hasHealthcheck =
          service(dependency).healthcheck !== undefined ||
          (replicas.includes(dependency) && dockerfileHasHealthcheck);
        assert.ok(hasHealthcheck, `${dependency} has no health check for ${name} to wait on`);
      }
    }
    for (const replica of replicas) {
      assert.deepEqual(Object.keys(asRecord(service(replica).depends_on, replica)).sort(), [
        'postgres',
        'redis',
      ]);
    }
  });

  it('lets a replica drain before docker stops it: stop_grace_period > SHUTDOWN_TIMEOUT_MS + 5 s exit guard', () => {
    for (const replica of replicas) {
      const drainMs = Number(environment(replica).SHUTDOWN_TIMEOUT_MS ?? 10_000);
      const grace = /^(\d+)s$/.exec(String(service(replica).stop_grace_period));
      assert.ok(grace, `${replica} sets stop_grace_period in seconds`);
      assert.ok(
        Number(grace[1]) * 1000 > drainMs + 5_000,
        `${replica}: ${grace[0]} for a ${drainMs} ms drain`,
      );
    }
  });

  it('mounts only files that exist in the repository', () => {
    for (const [name, definition] of Object.entries(services)) {
      for (const volume of (asRecord(definition, name).volumes ?? []) as string[]) {
        const [source] = volume.split(':');
        if (source?.startsWith('./'))
          assert.ok(existsSync(join(repositoryRoot, source)), `${name}: ${source}`);
      }
    }
  });

  it('documents in .env.example every variable it reads', () => {
    const example = readRepositoryFile('.env.example');
    const documented = new Set([...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]));
    const read = new Set(
      [...readRepositoryFile(composeFile).matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]),
    );
    assert.deepEqual(
      [...read].filter((name) => !documented.has(name)),
      [],
    );
  });
});

describe('Prometheus in compose', () => {
  const prometheusFile = 'deploy/prometheus/prometheus.yml';
  const prometheus = asRecord(readYamlFile(prometheusFile), prometheusFile);
  const jobs = prometheus.scrape_configs as Array<Record<string, unknown>>;
  const nexusJob = jobs.find((job) => job.job_name === 'nexus');

  it('loads the config file compose mounts', () => {
    const volumes = service('prometheus').volumes as string[];
    assert.ok(volumes.includes(`./${prometheusFile}:/etc/prometheus/prometheus.yml:ro`));
    assert.ok(
      (service('prometheus').command as string[]).includes('--config.file=/etc/prometheus/prometheus.yml'),
    );
  });

  it('scrapes /metrics on both replicas', () => {
    assert.ok(nexusJob, 'a job named nexus');
    assert.equal(nexusJob.metrics_path ?? '/metrics', '/metrics');
    const targets = (nexusJob.static_configs as Array<{ targets: string[] }>).flatMap(
      (config) => config.targets,
    );
    assert.deepEqual(targets.sort(), replicas.map((name) => `${name}:3000`).sort());
  });

  it('sends METRICS_TOKEN as its bearer token, from the file compose mounts with the replicas’ value', () => {
    const authorization = asRecord(nexusJob?.authorization, 'authorization');
    assert.equal(authorization.type, 'Bearer');
    const mounted = (service('prometheus').configs as Array<{ source: string; target: string }>).find(
      (config) => config.target === authorization.credentials_file,
    );
    assert.ok(mounted, `compose mounts ${authorization.credentials_file}`);
    const content = asRecord(asRecord(compose.configs, 'configs')[mounted.source], mounted.source).content;
    assert.equal(content, environment(replicas[0]!).METRICS_TOKEN, 'the same variable and default');
  });
});

describe('Grafana in compose', () => {
  const volumes = service('grafana').volumes as string[];
  const mountOf = (source: string) =>
    volumes.find((volume) => volume.startsWith(`${source}:`))?.split(':')[1];

  it('provisions a Prometheus datasource that points at the prometheus service', () => {
    assert.equal(mountOf('./deploy/grafana/provisioning'), '/etc/grafana/provisioning');
    const file = 'deploy/grafana/provisioning/datasources/prometheus.yml';
    const [datasource] = asRecord(readYamlFile(file), file).datasources as Array<Record<string, unknown>>;
    assert.equal(datasource?.type, 'prometheus');
    assert.equal(datasource?.url, 'http://prometheus:9090');
    assert.ok((service('prometheus').ports as string[]).some((port) => port.endsWith(':9090')));
    assert.equal(datasource?.isDefault, true, "the dashboard's datasource variable starts on the default");
  });

  it('loads the dashboard from the folder compose mounts it into', () => {
    const file = 'deploy/grafana/provisioning/dashboards/nexus.yml';
    const [provider] = asRecord(readYamlFile(file), file).providers as Array<Record<string, unknown>>;
    const folder = asRecord(provider?.options, 'options').path;
    const mounted = mountOf('./deploy/grafana/nexus-dashboard.json');
    assert.equal(mounted, `${folder}/nexus-dashboard.json`);
  });
});
