// Interleaved A/B throughput: this build of Nexus against an older commit (by default the core gateway before
// the resilience layer), both running at once behind the shared peer harness's fake upstream, measured in short
// alternating wrk cells (A B, then B A, ...) so that the machine's drift (on this VM, 10-25% from one minute to
// the next) lands on both sides alike instead of on whichever build ran later. Reports, per scenario, the median
// of the per-round ratios with a bootstrap 95% interval, and the cost (1 - ratio).
//
// Usage: npm run bench:ab -- [--ref 3cd87ed] [--rounds 12] [--seconds 4] [--conc 16] [--scenarios chat,stream]
//                            [--env LOG_LEVEL=warn] [--out bench/results/ab.md]
// Same pinning as the harness on a 2-core machine: wrk and the fake upstream on CPU 0, the gateways on CPU 1.
// Traffic goes only to 127.0.0.1; every cell is bounded in time; it stops everything it started.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
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
    ref: { type: 'string', default: '3cd87ed' },
    rounds: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '5' },
    conc: { type: 'string', default: '1,16,64' },
    scenarios: { type: 'string', default: 'chat,stream' },
    out: { type: 'string' },
    /** KEY=VALUE for both gateways, repeatable: `--env LOG_LEVEL=warn` prices the layer apart from the access log. */
    env: { type: 'string', multiple: true, default: [] },
  },
});
const rounds = Number(args.rounds);
const seconds = Number(args.seconds);
const scenarios = args.scenarios.split(',').filter(Boolean);
const levels = args.conc.split(',').filter(Boolean).map(Number);
/** One table row per scenario and concurrency. */
const rows = scenarios.flatMap((scenario) => levels.map((conc) => ({ scenario, conc, pairs: [] })));
const harness = process.env.PEER_HARNESS ?? join(root, '..', 'shared', 'bench', 'peer');
const mockPort = Number(process.env.MOCK_PORT ?? 18080);
const basePort = Number(process.env.NEXUS_BENCH_PORT ?? 18400);

if (!existsSync(join(harness, 'mock-upstream.mjs'))) {
  console.error(`bench:ab: the peer harness's fake upstream is not at ${harness} (set PEER_HARNESS)`);
  process.exit(1);
}

if (spawnSync('wrk', ['-v']).error !== undefined) {
  console.error(
    'bench:ab: wrk is not installed (apt-get install wrk; npm run bench installs it when run as root)',
  );
  process.exit(1);
}

const children = [];
let worktree;
let scripts;
function cleanup() {
  if (scripts !== undefined) rmSync(scripts, { recursive: true, force: true });
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }
  if (worktree !== undefined) {
    spawnSync('git', ['-C', root, 'worktree', 'remove', '--force', worktree]);
  }
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

function run(command, argv, options = {}) {
  const result = spawnSync(command, argv, { stdio: 'inherit', ...options });
  if (result.status !== 0) throw new Error(`${command} ${argv.join(' ')} failed (${result.status})`);
}

scripts = mkdtempSync(join(tmpdir(), 'nexus-ab-'));
for (const scenario of scenarios) {
  writeWrkScript(join(scripts, `${scenario}.lua`), { stream: scenario === 'stream' });
}

/** One wrk cell against one gateway: its throughput, and the gateway's CPU time per request over the cell. */
function cell(gateway, scenario, conc, duration) {
  const script = join(scripts, `${scenario}.lua`);
  return wrkCell({ port: gateway.port, pid: gateway.pid, script, conc, duration });
}

// Builds: this checkout (npm run bench:ab has built it) and the reference commit in a temporary worktree.
const dirty =
  spawnSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], {
    encoding: 'utf8',
  }).stdout.trim() !== '';
const head = `${spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], {
  encoding: 'utf8',
}).stdout.trim()}${dirty ? ' + changes' : ''}`;
const ref = spawnSync('git', ['-C', root, 'rev-parse', '--short', args.ref], {
  encoding: 'utf8',
}).stdout.trim();
if (ref === '') throw new Error(`unknown ref ${args.ref}`);
worktree = mkdtempSync(join(tmpdir(), 'nexus-ab-ref-'));
rmSync(worktree, { recursive: true });
run('git', ['-C', root, 'worktree', 'add', '--detach', worktree, ref], { stdio: 'ignore' });
symlinkSync(join(root, 'node_modules'), join(worktree, 'node_modules'));
run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: worktree });

startPinned(children, cpu.mock, 'node', [join(harness, 'mock-upstream.mjs')], {
  MOCK_PORT: String(mockPort),
});
const gateways = [
  { name: `nexus ${head}`, dir: root, port: basePort },
  { name: `nexus ${ref} (ref)`, dir: worktree, port: basePort + 1 },
];
for (const gateway of gateways) {
  gateway.pid = startPinned(
    children,
    cpu.gateway,
    'node',
    [...gatewayNodeFlags, join(gateway.dir, 'dist', 'src', 'main.js')],
    {
      PORT: String(gateway.port),
      OPENAI_BASE_URL: `http://127.0.0.1:${mockPort}/v1`,
      OPENAI_API_KEY: 'bench-upstream-key',
      // The cache would answer the one repeated request itself: this measures the proxy path.
      CACHE_ENABLED: 'false',
      ...Object.fromEntries(args.env.map((pair) => pair.split(/=(.*)/s).slice(0, 2))),
    },
  ).pid;
}
await waitReady(`http://127.0.0.1:${mockPort}/health`);
for (const gateway of gateways) await waitReady(`http://127.0.0.1:${gateway.port}/health`);

for (const scenario of scenarios) {
  for (const gateway of gateways) cell(gateway, scenario, Math.max(...levels), Number(args.warmup));
}
const started = new Date();
for (let round = 0; round < rounds; round++) {
  for (const row of rows) {
    const order = round % 2 === 0 ? [0, 1] : [1, 0];
    const cells = [];
    for (const index of order) cells[index] = cell(gateways[index], row.scenario, row.conc, seconds);
    row.pairs.push(cells);
    const [a, b] = cells;
    console.error(
      `round ${round + 1}/${rounds} ${row.scenario} c=${row.conc}: ${gateways[0].name} ${a.rps.toFixed(0)} req/s ${a.cpuUs.toFixed(0)} µs CPU/req, ` +
        `${gateways[1].name} ${b.rps.toFixed(0)} req/s ${b.cpuUs.toFixed(0)} µs CPU/req, ratio ${(a.rps / b.rps).toFixed(3)}`,
    );
  }
}

const lines = [
  `## Interleaved A/B: ${gateways[0].name} against ${gateways[1].name}`,
  '',
  `${started.toISOString()}, node ${process.version}, ${rounds} rounds of ${seconds} s cells per build and scenario, ` +
    `order alternating each round${args.env.length > 0 ? `; both with ${args.env.join(' ')}` : ''}; ${pinned ? 'wrk and fake upstream on CPU 0, gateways on CPU 1' : 'unpinned'}.`,
  '',
  `| scenario | c | ${gateways[0].name} median req/s | ${gateways[1].name} median req/s | median ratio | 95% interval | cost | CPU µs/req | ref CPU µs/req | CPU cost (95% interval) |`,
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
];
for (const { scenario, conc, pairs } of rows) {
  const ratios = pairs.map(([a, b]) => a.rps / b.rps);
  const [low, high] = bootstrapInterval(ratios, 20261125);
  const ratio = median(ratios);
  // CPU cost: how much more CPU a request takes here than on the reference, per round.
  const cpuRatios = pairs.map(([a, b]) => a.cpuUs / b.cpuUs);
  const [cpuLow, cpuHigh] = bootstrapInterval(cpuRatios, 20261125);
  const percent = (value) => `${((value - 1) * 100).toFixed(1)}%`;
  lines.push(
    `| ${scenario} | ${conc} | ${median(pairs.map(([a]) => a.rps)).toFixed(0)} | ${median(pairs.map(([, b]) => b.rps)).toFixed(0)} ` +
      `| ${ratio.toFixed(3)} | ${low.toFixed(3)}–${high.toFixed(3)} | ${((1 - ratio) * 100).toFixed(1)}% ` +
      `| ${median(pairs.map(([a]) => a.cpuUs)).toFixed(0)} | ${median(pairs.map(([, b]) => b.cpuUs)).toFixed(0)} ` +
      `| ${percent(median(cpuRatios))} (${percent(cpuLow)} to ${percent(cpuHigh)}) |`,
  );
}
const report = `${lines.join('\n')}\n`;
process.stdout.write(report);
if (args.out !== undefined) writeFileSync(args.out, report);
process.exit(0);
