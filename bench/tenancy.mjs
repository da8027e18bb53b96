import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  benchRun,
  bootstrapInterval,
  cpu,
  cpuSeconds,
  gatewayNodeFlags,
  harnessBody,
  median,
  pinned,
  startPinned,
  waitReady,
  writeWrkScript,
  wrkCell,
} from './measure.mjs';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    conc: { type: 'string', default: '32' },
    scenarios: { type: 'string', default: 'chat,stream' },
    backends: { type: 'string', default: 'embedded,cluster' },
    records: { type: 'string', default: '10000' },
    out: { type: 'string' },
  },
});
const rounds = Number(args.rounds);
const seconds = Number(args.seconds);
const levels = args.conc.split(',').filter(Boolean).map(Number);
const scenarios = args.scenarios.split(',').filter(Boolean);
const harness = process.env.PEER_HARNESS ?? join(root, '..', 'shared', 'bench', 'peer');
const mockPort = Number(process.env.MOCK_PORT ?? 18090);
const basePort = Number(process.env.NEXUS_BENCH_PORT ?? 18420);
const postgresUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const masterKey = 'nexus-bench-master-key';
/** Every cell and wait is bounded; this bounds the whole run too (default settings take about 4 minutes). */
const runLimitMs = 20 * 60_000;
const startedAt = Date.now();

const { fail, children, temporary, stopChildren } = benchRun('bench:tenancy', { root, harness });
/** Async teardown the run registered (databases created for it), run after the children stop. */
const cleanups = [];

const dist = (path) => import(pathToFileURL(join(root, 'dist', 'src', path)).href);
const { openStore } = await dist('store/sql/create-store.js');
const { openDatabase } = await dist('store/sql/open-database.js');
const { migrate } = await dist('store/sql/migrate.js');
const { UsageRepository } = await dist('store/sql/usage-repository.js');
const { timeOrderedId } = await dist('ledger/time-ordered-id.js');
const { sql } = await import('kysely');
const { default: pg } = await import('pg');
const { Redis } = await import('ioredis');

async function reachable(url) {
  const { hostname, port } = new URL(url);
  const { Socket } = await import('node:net');
  return new Promise((done) => {
    const socket = new Socket();
    const end = (ok) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(1000, () => end(false));
    socket.once('error', () => end(false));
    socket.connect(Number(port), hostname, () => end(true));
  });
}

// ---------------------------------------------------------------------------------------------------------
// The ledger's write cost: the store's own batch insert (usage-repository.ts), on the store the gateway uses.

/** A record shaped like the ones the log stage writes for a served chat request. */
function ledgerRecord(owner) {
  return {
    // The ledger's own ids (time-ordered UUIDv7), as the log stage writes them.
    requestId: timeOrderedId(),
    attempt: 1,
    createdAt: Date.now(),
    ...owner,
    userId: null,
    provider: 'OpenAI (Key #1)',
    model: 'gpt-4o-mini',
    route: '/v1/chat/completions',
    status: 200,
    errorCode: null,
    promptTokens: 31,
    completionTokens: 20,
    cachedTokens: 0,
    cacheWriteTokens: 0,
    costNanoUsd: 16650,
    savingsNanoUsd: 0,
    latencyMs: 3,
    ttftMs: null,
    cacheResult: null,
    streamed: false,
    outcome: 'ok',
  };
}

/**
 * CPU µs per record of `UsageRepository.insert` in batches of 1, 50 and 500 (the ledger's largest): in this
 * process (what the gateway spends) and, on PostgreSQL, in the backend that runs the inserts (one pooled
 * connection, so one backend pid).
 */
async function ledgerWriteCost(options) {
  const database = openDatabase(options.dialect === 'postgres' ? { ...options, poolSize: 1 } : options);
  await migrate(database);
  // As the gateway builds it (create-store.ts): on SQLite with the connection, for the prepared-statement path.
  const usage = new UsageRepository(database.db, database.sqlite);
  const backendPid = async () =>
    database.dialect === 'postgres'
      ? (await sql`select pg_backend_pid() as pid`.execute(database.db)).rows[0].pid
      : undefined;
  const owner = { orgId: 'org_bench', projectId: 'prj_bench', keyId: 'key_bench' };
  const rows = [];
  try {
    await usage.insert(Array.from({ length: 500 }, () => ledgerRecord(owner)));
    for (const batch of [1, 50, 500]) {
      const count = batch === 1 ? Math.min(1000, Number(args.records)) : Number(args.records);
      const records = Array.from({ length: count }, () => ledgerRecord(owner));
      const pid = await backendPid();
      const serverBefore = pid === undefined ? 0 : cpuSeconds(pid);
      const before = process.cpuUsage();
      const wallBefore = performance.now();
      for (let i = 0; i < count; i += batch) await usage.insert(records.slice(i, i + batch));
      const wallUs = ((performance.now() - wallBefore) * 1000) / count;
      const spent = process.cpuUsage(before);
      const sameBackend = pid !== undefined && (await backendPid()) === pid;
      rows.push({
        batch,
        count,
        clientUs: (spent.user + spent.system) / count,
        serverUs: sameBackend ? ((cpuSeconds(pid) - serverBefore) * 1e6) / count : undefined,
        wallUs,
      });
    }
  } finally {
    await database.db.destroy();
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------
// Backends: one gateway each, with a tenant key issued in its store before it starts (loaded at boot).

async function issueTenantKey(store) {
  // Every limit on every scope, far above what a run can reach: the cost of checking is measured, never a refusal.
  const limits = { rpm: 1e9, rph: 1e9, tpm: 1e10, tokenBudget: 1e12 };
  const budget = { dailyUsd: 1e5, monthlyUsd: 1e6 };
  const org = await store.organizations.create({ name: 'bench org', limits, budget });
  const project = await store.projects.create({ orgId: org.id, name: 'bench project', limits, budget });
  const created = await store.apiKeys.create({ projectId: project.id, limits, budget });
  return created.secret;
}

async function prepareBackend(name) {
  if (name === 'embedded') {
    const dataDir = mkdtempSync(join(tmpdir(), 'nexus-bench-tenancy-'));
    temporary.push(dataDir);
    const store = await openStore({ dialect: 'sqlite', file: join(dataDir, 'nexus.db') });
    const secret = await issueTenantKey(store);
    await store.close();
    return { name, label: 'embedded (SQLite, limits in process)', env: { NEXUS_DATA_DIR: dataDir }, secret };
  }
  if (!(await reachable(postgresUrl)) || !(await reachable(redisUrl))) {
    console.error(
      `bench:tenancy: PostgreSQL (${postgresUrl}) or Redis (${redisUrl}) is down: cluster skipped`,
    );
    return undefined;
  }
  const suffix = randomUUID().replaceAll('-', '').slice(0, 12);
  const schema = `nexus_bench_${suffix}`;
  const prefix = `nexus-bench-${suffix}:`;
  cleanups.push(async () => {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
    const redis = new Redis(redisUrl);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    redis.disconnect();
  });
  const store = await openStore({ dialect: 'postgres', url: postgresUrl, schema, poolSize: 2 });
  const secret = await issueTenantKey(store);
  await store.close();
  return {
    name,
    label: 'Redis + PostgreSQL',
    env: {
      DATABASE_URL: postgresUrl,
      DATABASE_SCHEMA: schema,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
    },
    secret,
    schema,
  };
}

const scripts = mkdtempSync(join(tmpdir(), 'nexus-bench-tenancy-wrk-'));
temporary.push(scripts);

function script(backend, mode, scenario) {
  const file = join(scripts, `${backend.name}-${mode}-${scenario}.lua`);
  return writeWrkScript(file, {
    stream: scenario === 'stream',
    key: mode === 'on' ? backend.secret : masterKey,
  });
}

/** One wrk cell: throughput, and the gateway's CPU time per request over the cell. */
function cell(backend, mode, scenario, conc, duration) {
  if (Date.now() - startedAt > runLimitMs) fail(`stopped after ${runLimitMs / 60_000} minutes`);
  try {
    return wrkCell({
      port: backend.port,
      pid: backend.pid,
      script: script(backend, mode, scenario),
      conc,
      duration,
    });
  } catch (error) {
    throw new Error(`${backend.name} ${mode} (${scenario}): ${error.message}`);
  }
}

/** A first request each way, to check the wiring: the tenant key is admitted with X-RateLimit-*, the master key is not limited. */
async function check(backend) {
  for (const [mode, key] of [
    ['on', backend.secret],
    ['off', masterKey],
  ]) {
    const response = await fetch(`http://127.0.0.1:${backend.port}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: harnessBody(false),
    });
    await response.arrayBuffer();
    const limited = response.headers.get('x-ratelimit-limit') !== null;
    if (response.status !== 200 || limited !== (mode === 'on')) {
      throw new Error(`${backend.name} ${mode}: status ${response.status}, X-RateLimit-Limit ${limited}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------

const loadBefore = loadavg();
const backends = [];
try {
  for (const name of args.backends.split(',').filter(Boolean)) {
    const backend = await prepareBackend(name);
    if (backend !== undefined) backends.push(backend);
  }
  console.error('bench:tenancy: ledger write cost');
  const ledgerRows = [];
  for (const backend of backends) {
    const options =
      backend.name === 'embedded'
        ? { dialect: 'sqlite', file: join(backend.env.NEXUS_DATA_DIR, 'ledger-cost.db') }
        : { dialect: 'postgres', url: postgresUrl, schema: `${backend.schema}_ledger` };
    if (backend.schema !== undefined) {
      cleanups.push(async () => {
        const client = new pg.Client({ connectionString: postgresUrl });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${backend.schema}_ledger" CASCADE`);
        await client.end();
      });
    }
    for (const row of await ledgerWriteCost(options)) ledgerRows.push({ backend, ...row });
  }

  // Only PATH is inherited: a developer's own provider keys never reach the gateways under test.
  const baseEnv = { PATH: process.env.PATH };
  startPinned(
    children,
    cpu.mock,
    'node',
    [join(harness, 'mock-upstream.mjs')],
    { MOCK_PORT: String(mockPort), MOCK_QUIET: '1' },
    baseEnv,
  );
  for (const [index, backend] of backends.entries()) {
    backend.port = basePort + index;
    backend.pid = startPinned(
      children,
      cpu.gateway,
      'node',
      [...gatewayNodeFlags, join(root, 'dist', 'src', 'main.js')],
      {
        PORT: String(backend.port),
        HOST: '127.0.0.1',
        NEXUS_MASTER_KEY: masterKey,
        OPENAI_BASE_URL: `http://127.0.0.1:${mockPort}/v1`,
        OPENAI_API_KEY: 'bench-upstream-key',
        // The cache would answer the harness's one repeated request itself: this measures the proxy path.
        CACHE_ENABLED: 'false',
        ...backend.env,
      },
      baseEnv,
    ).pid;
  }
  await waitReady(`http://127.0.0.1:${mockPort}/health`, 300);
  for (const backend of backends) {
    await waitReady(`http://127.0.0.1:${backend.port}/health`, 300);
    await check(backend);
  }

  const rows = backends.flatMap((backend) =>
    scenarios.flatMap((scenario) => levels.map((conc) => ({ backend, scenario, conc, pairs: [] }))),
  );
  for (const backend of backends) {
    for (const scenario of scenarios) {
      for (const mode of ['on', 'off'])
        cell(backend, mode, scenario, Math.max(...levels), Number(args.warmup));
    }
  }
  const measuredAt = new Date();
  for (let round = 0; round < rounds; round++) {
    for (const row of rows) {
      const order = round % 2 === 0 ? ['on', 'off'] : ['off', 'on'];
      const cells = {};
      for (const mode of order) cells[mode] = cell(row.backend, mode, row.scenario, row.conc, seconds);
      row.pairs.push(cells);
      console.error(
        `round ${round + 1}/${rounds} ${row.backend.name} ${row.scenario} c=${row.conc}: tenant key ` +
          `${cells.on.rps.toFixed(0)} req/s ${cells.on.cpuUs.toFixed(0)} µs CPU/req, master key ` +
          `${cells.off.rps.toFixed(0)} req/s ${cells.off.cpuUs.toFixed(0)} µs CPU/req, ratio ${(cells.on.rps / cells.off.rps).toFixed(3)}`,
      );
    }
  }
  const loadAfter = loadavg();

  const percent = (value) => `${(value * 100).toFixed(1)}%`;
  const lines = [
    '## Tenancy on (tenant key: limits, budgets) against off (master key), same build, same process',
    '',
    `${measuredAt.toISOString()}, node ${process.version}, ${rounds} rounds of ${seconds} s wrk cells per mode, order ` +
      `alternating each round; ${pinned ? 'wrk and the fake upstream on CPU 0, the gateways on CPU 1' : 'unpinned'} ` +
      `(PostgreSQL and Redis unpinned). Load average ${loadBefore.map((n) => n.toFixed(2)).join(' ')} before, ` +
      `${loadAfter.map((n) => n.toFixed(2)).join(' ')} after. The ledger records every request in both columns.`,
    '',
    '| backend | scenario | c | on req/s | off req/s | on/off (median) | 95% interval | ≥ 85% | on CPU µs/req | off CPU µs/req | CPU added | off req/s spread |',
    '|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|',
  ];
  for (const { backend, scenario, conc, pairs } of rows) {
    const ratios = pairs.map(({ on, off }) => on.rps / off.rps);
    const [low, high] = bootstrapInterval(ratios, 20261207);
    const ratio = median(ratios);
    const offRps = pairs.map(({ off }) => off.rps);
    const onCpu = median(pairs.map(({ on }) => on.cpuUs));
    const offCpu = median(pairs.map(({ off }) => off.cpuUs));
    lines.push(
      `| ${backend.label} | ${scenario} | ${conc} | ${median(pairs.map(({ on }) => on.rps)).toFixed(0)} | ` +
        `${median(offRps).toFixed(0)} | ${ratio.toFixed(3)} | ${low.toFixed(3)}–${high.toFixed(3)} | ` +
        `${ratio >= 0.85 ? 'yes' : 'no'} | ${onCpu.toFixed(0)} | ${offCpu.toFixed(0)} | ` +
        `${(onCpu - offCpu).toFixed(0)} µs (${percent(onCpu / offCpu - 1)}) | ` +
        `${Math.min(...offRps).toFixed(0)}–${Math.max(...offRps).toFixed(0)} |`,
    );
  }
  lines.push(
    '',
    '## Usage ledger write cost (UsageRepository.insert, one record per upstream call)',
    '',
    '| backend | batch | records | CPU µs/record in Nexus | CPU µs/record in PostgreSQL | wall µs/record |',
    '|---|---:|---:|---:|---:|---:|',
  );
  for (const row of ledgerRows) {
    lines.push(
      `| ${row.backend.label} | ${row.batch} | ${row.count} | ${row.clientUs.toFixed(1)} | ` +
        `${row.serverUs === undefined ? '–' : row.serverUs.toFixed(1)} | ${row.wallUs.toFixed(1)} |`,
    );
  }
  const report = `${lines.join('\n')}\n`;
  process.stdout.write(report);
  if (args.out !== undefined) writeFileSync(args.out, report);
} finally {
  stopChildren();
  for (const cleanup of cleanups)
    await cleanup().catch((error) => console.error(`cleanup: ${error.message}`));
}
process.exit(0);
