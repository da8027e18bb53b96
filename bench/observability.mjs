import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  benchRun,
  bootstrapInterval,
  cpu,
  gatewayNodeFlags,
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
    'workers-rounds': { type: 'string', default: '4' },
    variants: { type: 'string', default: 'off,on,tracing' },
    out: { type: 'string' },
  },
});
const rounds = Number(args.rounds);
const seconds = Number(args.seconds);
const conc = Number(args.conc);
const scenarios = args.scenarios.split(',').filter(Boolean);
const harness = process.env.PEER_HARNESS ?? join(root, '..', 'shared', 'bench', 'peer');
const mockPort = Number(process.env.MOCK_PORT ?? 18090);
const sinkPort = mockPort + 1;
const basePort = Number(process.env.NEXUS_BENCH_PORT ?? 18440);
const masterKey = 'nexus-bench-master-key';
const runLimitMs = 20 * 60_000;
const startedAt = Date.now();

const { fail, children, temporary, stopChildren } = benchRun('bench:observability', { root, harness });
const chosen = args.variants.split(',').filter(Boolean);
const tracing = chosen.includes('tracing');

const scripts = mkdtempSync(join(tmpdir(), 'nexus-bench-observability-'));
temporary.push(scripts);
const scriptOf = (scenario) =>
  writeWrkScript(join(scripts, `${scenario}.lua`), { stream: scenario === 'stream', key: masterKey });

/** One wrk cell against `port`: req/s, and the CPU µs per request of `pid` when given. */
function cell(port, pid, scenario, duration, loadCore = pinned ? cpu.load : undefined) {
  if (Date.now() - startedAt > runLimitMs) fail(`stopped after ${runLimitMs / 60_000} minutes`);
  return wrkCell({ port, pid, script: scriptOf(scenario), conc, duration, loadCore });
}

const baseEnv = { PATH: process.env.PATH };
const gatewayEnv = (port) => ({
  PORT: String(port),
  HOST: '127.0.0.1',
  NEXUS_MASTER_KEY: masterKey,
  OPENAI_BASE_URL: `http://127.0.0.1:${mockPort}/v1`,
  OPENAI_API_KEY: 'bench-upstream-key',
  // The cache would answer the harness's one repeated request itself: this measures the proxy path.
  CACHE_ENABLED: 'false',
  NEXUS_DATA_DIR: mkdtempSync(join(tmpdir(), 'nexus-bench-observability-data-')),
});

const loadBefore = loadavg();
const lines = [];
try {
  startPinned(
    children,
    cpu.mock,
    'node',
    [join(harness, 'mock-upstream.mjs')],
    {
      MOCK_PORT: String(mockPort),
      MOCK_QUIET: '1',
    },
    baseEnv,
  );
  if (tracing) {
    startPinned(
      children,
      cpu.mock,
      'node',
      [join(root, 'bench', 'otlp-sink.mjs')],
      {
        PORT: String(sinkPort),
        OTLP_SINK_PORT: String(sinkPort),
      },
      baseEnv,
    );
  }
  const variants = [
    { name: 'metrics off', env: { METRICS_ENABLED: 'false' } },
    ...(chosen.includes('on') ? [{ name: 'metrics on', env: {} }] : []),
    ...(tracing
      ? [
          {
            name: 'metrics + tracing',
            env: {
              OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}`,
              OTEL_SERVICE_NAME: 'nexus-bench',
            },
          },
        ]
      : []),
  ];
  // Fresh gateway processes every round: a process carries a bias of its own (its JIT's choices, its heap's
  // layout) of the size of the differences measured here, so a variant's several processes average it out.
  const startVariants = async () => {
    for (const [index, variant] of variants.entries()) {
      variant.port = basePort + index;
      const env = gatewayEnv(variant.port);
      temporary.push(env.NEXUS_DATA_DIR);
      variant.child = startPinned(
        children,
        cpu.gateway,
        'node',
        [...gatewayNodeFlags, join(root, 'dist', 'src', 'main.js')],
        { ...env, ...variant.env },
        baseEnv,
      );
      variant.pid = variant.child.pid;
    }
    for (const variant of variants) await waitReady(`http://127.0.0.1:${variant.port}/health`, 300);
    for (const variant of variants) {
      for (const scenario of scenarios) cell(variant.port, variant.pid, scenario, Number(args.warmup));
    }
  };
  const stopVariants = async () => {
    for (const variant of variants) {
      process.kill(-variant.child.pid, 'SIGKILL');
      await new Promise((done) =>
        variant.child.exitCode === null ? variant.child.once('exit', done) : done(),
      );
    }
  };
  await waitReady(`http://127.0.0.1:${mockPort}/health`, 300);
  const measuredAt = new Date();
  const results = new Map(variants.map((variant) => [variant.name, new Map(scenarios.map((s) => [s, []]))]));
  for (let round = 0; round < rounds; round++) {
    await startVariants();
    for (const scenario of scenarios) {
      const order = variants.map((_, index) => variants[(index + round) % variants.length]);
      const row = [];
      for (const variant of order) {
        const measured = cell(variant.port, variant.pid, scenario, seconds);
        results.get(variant.name).get(scenario).push(measured);
        row.push(`${variant.name} ${measured.rps.toFixed(0)} req/s ${measured.cpuUs.toFixed(0)} µs`);
      }
      console.error(`round ${round + 1}/${rounds} ${scenario}: ${row.join(', ')}`);
    }
    await stopVariants();
  }

  lines.push(
    '## Metrics and tracing on against off, same build, fresh gateway processes every round',
    '',
    `${measuredAt.toISOString()}, node ${process.version}, c=${conc}, ${rounds} rounds (each with new processes, warmed ` +
      `${args.warmup} s) of ${seconds} s wrk cells per variant, order rotating each round; ${pinned ? 'wrk, the fake upstream and the OTLP receiver on CPU 0, the gateways on CPU 1' : 'unpinned'}. ` +
      `Ratios are per round against metrics off (median, 95% bootstrap interval). Load average ${loadBefore.map((n) => n.toFixed(2)).join(' ')} before.`,
    '',
    '| scenario | variant | req/s | / metrics off (median) | 95% interval | CPU µs/req | CPU µs added |',
    '|---|---|---:|---:|---:|---:|---:|',
  );
  for (const scenario of scenarios) {
    const off = results.get('metrics off').get(scenario);
    const offCpu = median(off.map((cell) => cell.cpuUs));
    for (const variant of variants) {
      const cells = results.get(variant.name).get(scenario);
      const ratios = cells.map((cell, round) => cell.rps / off[round].rps);
      const [low, high] = bootstrapInterval(ratios, 20261207);
      const cpuUs = median(cells.map((cell) => cell.cpuUs));
      lines.push(
        `| ${scenario} | ${variant.name} | ${median(cells.map((cell) => cell.rps)).toFixed(0)} | ` +
          `${median(ratios).toFixed(3)} | ${low.toFixed(3)}–${high.toFixed(3)} | ${cpuUs.toFixed(1)} | ` +
          `${variant.name === 'metrics off' ? '–' : (cpuUs - offCpu).toFixed(1)} |`,
      );
    }
  }

  // WORKERS=2 against WORKERS=1, unpinned: each gateway may use both cores, as `npm start` would.
  const workerRounds = Number(args['workers-rounds']);
  if (workerRounds > 0) {
    const groups = [1, 2].map((workers, index) => {
      const port = basePort + 10 + index;
      const env = gatewayEnv(port);
      temporary.push(env.NEXUS_DATA_DIR);
      startPinned(
        children,
        '0,1',
        'node',
        [...gatewayNodeFlags, join(root, 'dist', 'src', 'main.js')],
        {
          ...env,
          WORKERS: String(workers),
        },
        baseEnv,
      );
      return { workers, port, cells: new Map(scenarios.map((s) => [s, []])) };
    });
    for (const group of groups) {
      await waitReady(`http://127.0.0.1:${group.port}/health`, 300);
      for (const scenario of scenarios) cell(group.port, undefined, scenario, Number(args.warmup), undefined);
    }
    for (let round = 0; round < workerRounds; round++) {
      for (const scenario of scenarios) {
        for (const group of round % 2 === 0 ? groups : [...groups].reverse()) {
          group.cells.get(scenario).push(cell(group.port, undefined, scenario, seconds, undefined).rps);
        }
      }
    }
    lines.push(
      '',
      '## WORKERS=2 against WORKERS=1 (node:cluster), unpinned on 2 cores shared with wrk and the fake upstream',
      '',
      '| scenario | WORKERS=1 req/s | WORKERS=2 req/s | ratio (median of rounds) |',
      '|---|---:|---:|---:|',
    );
    for (const scenario of scenarios) {
      const [one, two] = groups.map((group) => group.cells.get(scenario));
      lines.push(
        `| ${scenario} | ${median(one).toFixed(0)} | ${median(two).toFixed(0)} | ` +
          `${median(two.map((rps, round) => rps / one[round])).toFixed(2)} |`,
      );
    }
  }
  const report = `${lines.join('\n')}\n`;
  process.stdout.write(report);
  if (args.out !== undefined) writeFileSync(args.out, report);
} finally {
  stopChildren();
}
process.exit(0);
