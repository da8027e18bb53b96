import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';

const providerIds = ['openai', 'groq', 'vllm'];

function yamlFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'nexus-config-')), 'nexus.yaml');
  writeFileSync(file, text);
  return file;
}

describe('config', () => {
  it('has working defaults with an empty environment', () => {
    const config = loadConfig({ env: {}, providerIds });
    assert.equal(config.server.port, 3000);
    assert.equal(config.auth.masterKey, undefined);
    assert.deepEqual(config.providers, {});
    assert.equal(config.demo.enabled, 'auto');
  });

  it('reads zero-config provider keys, key pools in numeric order and base URLs from env', () => {
    const config = loadConfig({
      env: {
        OPENAI_API_KEY: 'sk-one',
        GROQ_KEY_2: 'gsk-two',
        GROQ_KEY_10: 'gsk-ten',
        GROQ_KEY_1: 'gsk-one',
        VLLM_BASE_URL: 'http://127.0.0.1:8000/v1',
      },
      providerIds,
    });
    assert.deepEqual(config.providers.openai?.apiKeys, ['sk-one']);
    assert.deepEqual(config.providers.groq?.apiKeys, ['gsk-one', 'gsk-two', 'gsk-ten']);
    assert.equal(config.providers.vllm?.baseUrl, 'http://127.0.0.1:8000/v1');
  });

  it('reads PORT, HOST, NEXUS_MASTER_KEY, CORS_ORIGIN(S) and LOG_LEVEL', () => {
    const config = loadConfig({
      env: {
        PORT: '8080',
        HOST: '0.0.0.0',
        NEXUS_MASTER_KEY: 'master-key-123',
        CORS_ORIGIN: 'https://a.example, https://b.example',
        LOG_LEVEL: 'warn',
      },
      providerIds,
    });
    assert.equal(config.server.port, 8080);
    assert.equal(config.server.host, '0.0.0.0');
    assert.equal(config.auth.masterKey, 'master-key-123');
    assert.deepEqual(config.server.corsOrigins, ['https://a.example', 'https://b.example']);
    assert.equal(config.log.level, 'warn');
  });

  it('interpolates ${ENV} and ${ENV:-default} in the YAML file, and env overrides the file', () => {
    const file = yamlFile(
      'server:\n  port: 4000\n  bodyLimitBytes: ${LIMIT:-2048}\nproviders:\n  groq:\n    apiKeys: ["${GROQ_SECRET}"]\naliases:\n  fast: groq/llama-3.1-8b-instant\n',
    );
    const config = loadConfig({ env: { GROQ_SECRET: 'gsk-from-env', PORT: '5000' }, file, providerIds });
    assert.equal(config.server.port, 5000);
    assert.equal(config.server.bodyLimitBytes, 2048);
    assert.deepEqual(config.providers.groq?.apiKeys, ['gsk-from-env']);
    assert.equal(config.aliases.fast, 'groq/llama-3.1-8b-instant');
  });

  it('names the exact path of a bad value, and where it came from', () => {
    assert.throws(
      () => loadConfig({ env: { PORT: 'eighty' }, providerIds }),
      (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /server\.port \(from env PORT\)/);
        return true;
      },
    );
    const file = yamlFile('providers:\n  groq:\n    baseUrl: not-a-url\n');
    assert.throws(
      () => loadConfig({ env: {}, file, providerIds }),
      /providers\.groq\.baseUrl \(in .*nexus\.yaml\)/,
    );
  });

  it('reads auth.jwt from NEXUS_JWT_*: one of a secret or a JWKS URL, claims defaulted', () => {
    assert.equal(loadConfig({ env: {}, providerIds }).auth.jwt, undefined);
    const secret = 'x'.repeat(32);
    const jwt = loadConfig({
      env: {
        NEXUS_JWT_SECRET: secret,
        NEXUS_JWT_ISSUER: 'https://idp.test',
        NEXUS_JWT_PROJECT_CLAIM: 'proj',
      },
      providerIds,
    }).auth.jwt;
    assert.deepEqual(jwt, {
      secret,
      issuer: 'https://idp.test',
      orgClaim: 'org_id',
      projectClaim: 'proj',
      adminClaim: 'nexus_admin',
    });
    assert.throws(
      () => loadConfig({ env: { NEXUS_JWT_SECRET: 'short' }, providerIds }),
      /auth\.jwt\.secret \(from env NEXUS_JWT_SECRET\): must be at least 32 characters/,
    );
    assert.throws(
      () =>
        loadConfig({
          env: { NEXUS_JWT_SECRET: secret, NEXUS_JWT_JWKS_URL: 'https://idp.test/jwks.json' },
          providerIds,
        }),
      /exactly one of secret/,
    );
    assert.throws(
      () => loadConfig({ env: { NEXUS_JWT_ISSUER: 'https://idp.test' }, providerIds }),
      /exactly one of secret/,
      'an issuer alone is not a way to verify anything',
    );
  });

  it('reads the storage settings: SQLite under ./data by default, PostgreSQL from DATABASE_URL', () => {
    const defaults = loadConfig({ env: {}, providerIds });
    assert.equal(defaults.storage.dataDir, './data');
    assert.equal(defaults.database.url, undefined);
    assert.equal(defaults.database.poolSize, 10);
    assert.equal(defaults.database.schema, 'public');
    const config = loadConfig({
      env: {
        NEXUS_DATA_DIR: '/var/lib/nexus',
        DATABASE_URL: 'postgres://nexus@db.internal:5432/nexus',
        DATABASE_POOL_SIZE: '25',
        DATABASE_SCHEMA: 'gateway',
      },
      providerIds,
    });
    assert.equal(config.storage.dataDir, '/var/lib/nexus');
    assert.equal(config.database.url, 'postgres://nexus@db.internal:5432/nexus');
    assert.equal(config.database.poolSize, 25);
    assert.equal(config.database.schema, 'gateway');
    assert.throws(
      () => loadConfig({ env: { DATABASE_URL: 'mysql://db/nexus' }, providerIds }),
      /database\.url \(from env DATABASE_URL\): must be a postgres/,
    );
    assert.throws(
      () => loadConfig({ env: { DATABASE_POOL_SIZE: '0' }, providerIds }),
      /database\.poolSize \(from env DATABASE_POOL_SIZE\)/,
    );
    assert.throws(
      () => loadConfig({ env: { DATABASE_SCHEMA: 'x; drop table usage' }, providerIds }),
      /database\.schema \(from env DATABASE_SCHEMA\): must be a lower-case identifier/,
    );
  });

  it('rejects unknown keys so a typo cannot silently do nothing', () => {
    const file = yamlFile('server:\n  prot: 4000\n');
    assert.throws(() => loadConfig({ env: {}, file, providerIds }), /server.*prot/);
  });

  it('fails on an unset ${VAR} without default, naming the path', () => {
    const file = yamlFile('auth:\n  masterKey: ${NOT_SET_ANYWHERE}\n');
    assert.throws(
      () => loadConfig({ env: {}, file, providerIds }),
      /auth\.masterKey: environment variable NOT_SET_ANYWHERE is not set/,
    );
  });

  it('freezes the result', () => {
    const config = loadConfig({ env: { OPENAI_API_KEY: 'sk-x' }, providerIds });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.server));
    assert.throws(() => {
      (config.server as { port: number }).port = 1;
    }, TypeError);
  });
});
