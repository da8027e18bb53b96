// What an exact cache hit costs: one gateway with the response cache on, primed with one answer per scenario, so
// every request of the run is a hit (`x-nexus-cache: HIT`), against one with the cache off (every request proxied
// to the fake upstream), in short alternating wrk cells (on, off, then off, on, ...) so the machine's drift lands
// on both alike. JSON chat and a streamed chat (replayed from the stored stream: the stream scenario's prompt
// differs, so its entry was stored from a stream), hits/s at each concurrency and latency percentiles from wrk's
// `--latency` histogram (read at C=1), and the gateway's CPU time per request.
//
// Usage: npm run bench:cache -- [--rounds 3] [--seconds 4] [--warmup 2] [--conc 1,16,64] [--scenarios chat,stream]
//                               [--out bench/results/cache-hits.md]
// Pinned like bench/tenancy.mjs on a 2-core machine: wrk and the fake upstream on CPU 0, both gateways on CPU 1
// (only one has traffic at a time). Traffic goes only to 127.0.0.1; every cell is bounded; it stops everything it
// started.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  benchRun,
  cpu,
  cpuSeconds,
  gatewayNodeFlags,
  harnessBody,
  median,
  pinned,
  startPinned,
  waitReady,
} from './measure.mjs';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '2' },
    conc: { type: 'string', default: '1,16,64' },
    scenarios: { type: 'string', default: 'chat,stream' },
    out: { type: 'string' },
  },
});
const rounds = Number(args.rounds);
const seconds = Number(args.seconds);
const levels = args.conc.split(',').filter(Boolean).map(Number);
const scenarios = args.scenarios.split(',').filter(Boolean);
const harness = process.env.PEER_HARNESS ?? join(root, '..', 'shared', 'bench', 'peer');
const mockPort = Number(process.env.MOCK_PORT ?? 18095);
const basePort = Number(process.env.NEXUS_BENCH_PORT ?? 18470);
const masterKey = 'nexus-bench-master-key';
/** Every cell and wait is bounded; this bounds the whole run too (default settings take about 2 minutes). */
const runLimitMs = 15 * 60_000;
const startedAt = Date.now();

const { fail, children, temporary, stopChildren } = benchRun('bench:cache', { root, harness });

/** The harness's request; the stream scenario asks another question, so its entry is stored from a stream. */
function body(scenario) {
  const text = harnessBody(scenario === 'stream');
  return scenario === 'stream' ? text.replace('network proxies.', 'network proxies, streamed.') : text;
}

const scripts = mkdtempSync(join(tmpdir(), 'nexus-bench-cache-wrk-'));
temporary.push(scripts);
function script(scenario) {
  const file = join(scripts, `${scenario}.lua`);
  writeFileSync(
    file,
    [
      'wrk.method = "POST"',
      `wrk.body = [==[${body(scenario)}]==]`,
      'wrk.headers["content-type"] = "application/json"',
      `wrk.headers["authorization"] = "Bearer ${masterKey}"`,
      'done = function(summary, latency, requests)',
      '  local e = summary.errors',
      '  io.write(string.format("CACHEJSON %d %d %d %.1f %.1f %.1f\\n", summary.requests, summary.duration,',
      '    e.connect + e.read + e.write + e.timeout + e.status,',
      '    latency:percentile(50), latency:percentile(99), latency.max))',
      'end',
    ].join('\n'),
  );
  return file;
}

/** One wrk cell: throughput, latency percentiles (µs), and the gateway's CPU time per request. */
function cell(gateway, scenario, conc, duration) {
  if (Date.now() - startedAt > runLimitMs) fail(`stopped after ${runLimitMs / 60_000} minutes`);
  const cpuBefore = cpuSeconds(gateway.pid);
  const argv = ['-t', '1', '-c', String(conc), '-d', `${duration}s`, '--timeout', '10s', '--latency'];
  argv.push('-s', script(scenario), `http://127.0.0.1:${gateway.port}/v1/chat/completions`);
  const [file, list] = pinned ? ['taskset', ['-c', cpu.load, 'wrk', ...argv]] : ['wrk', argv];
  const result = spawnSync(file, list, { encoding: 'utf8', timeout: (duration + 30) * 1000 });
  const match = /CACHEJSON (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)/.exec(result.stdout ?? '');
  if (match === null) throw new Error(`wrk failed: ${result.stderr || result.stdout}`);
  const [requests, micros, errors, p50, p99, max] = match.slice(1).map(Number);
  if (errors > 0) throw new Error(`${errors} failed requests on ${gateway.mode} (${scenario})`);
  return {
    rps: requests / (micros / 1e6),
    p50Ms: p50 / 1000,
    p99Ms: p99 / 1000,
    maxMs: max / 1000,
    cpuUs: ((cpuSeconds(gateway.pid) - cpuBefore) * 1e6) / requests,
  };
}

/** fetch, tried twice: a pooled connection the gateway closed while wrk ran fails the first try. */
async function fetchOnce(url, init) {
  try {
    return await fetch(url, init);
  } catch {
    return fetch(url, init);
  }
}

/** Sends the scenario's request once, checking the cache verdict the gateway reports. */
async function ask(gateway, scenario, expected) {
  const response = await fetchOnce(`http://127.0.0.1:${gateway.port}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${masterKey}` },
    body: body(scenario),
  });
  await response.arrayBuffer();
  const verdict = response.headers.get('x-nexus-cache');
  if (response.status !== 200 || verdict !== expected) {
    throw new Error(
      `${gateway.mode} ${scenario}: status ${response.status}, x-nexus-cache ${verdict}, not ${expected}`,
    );
  }
}

/** True when something already answers on `port` (another benchmark's gateway would be measured instead). */
async function taken(port) {
  try {
    await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}
for (const port of [mockPort, basePort, basePort + 1]) {
  if (await taken(port)) fail(`port ${port} is in use (set MOCK_PORT / NEXUS_BENCH_PORT)`);
}

const loadBefore = loadavg();
try {
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
  const gateways = ['on', 'off'].map((mode, index) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'nexus-bench-cache-'));
    temporary.push(dataDir);
    const port = basePort + index;
    const child = startPinned(
      children,
      cpu.gateway,
      'node',
      [...gatewayNodeFlags, join(root, 'dist', 'src', 'main.js')],
      {
        PORT: String(port),
        HOST: '127.0.0.1',
        NEXUS_MASTER_KEY: masterKey,
        NEXUS_DATA_DIR: dataDir,
        OPENAI_BASE_URL: `http://127.0.0.1:${mockPort}/v1`,
        OPENAI_API_KEY: 'bench-upstream-key',
        CACHE_ENABLED: mode === 'on' ? 'true' : 'false',
      },
      baseEnv,
    );
    return { mode, port, pid: child.pid };
  });
  await waitReady(`http://127.0.0.1:${mockPort}/health`, 300);
  for (const gateway of gateways) await waitReady(`http://127.0.0.1:${gateway.port}/health`, 300);
  // Prime: the first request of each scenario goes upstream and is stored, every later one is a hit.
  const [on, off] = gateways;
  for (const scenario of scenarios) {
    await ask(on, scenario, 'MISS');
    await new Promise((done) => setTimeout(done, 200));
    await ask(on, scenario, 'HIT');
    await ask(off, scenario, null);
  }
  for (const scenario of scenarios) {
    for (const gateway of gateways) cell(gateway, scenario, Math.max(...levels), Number(args.warmup));
  }

  const rows = scenarios.flatMap((scenario) => levels.map((conc) => ({ scenario, conc, on: [], off: [] })));
  const measuredAt = new Date();
  for (let round = 0; round < rounds; round++) {
    for (const row of rows) {
      for (const gateway of round % 2 === 0 ? [on, off] : [off, on]) {
        const result = cell(gateway, row.scenario, row.conc, seconds);
        row[gateway.mode].push(result);
        console.error(
          `round ${round + 1}/${rounds} ${row.scenario} c=${row.conc} cache ${gateway.mode}: ` +
            `${result.rps.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(3)} ms, p99 ${result.p99Ms.toFixed(3)} ms, ` +
            `${result.cpuUs.toFixed(0)} µs CPU/req`,
        );
      }
    }
  }
  for (const scenario of scenarios) await ask(on, scenario, 'HIT');
  const loadAfter = loadavg();

  const middle = (cells, field) => median(cells.map((one) => one[field]));
  const lines = [
    '## Exact cache hits against the cache off (same build, two gateways on one core)',
    '',
    `${measuredAt.toISOString()}, node ${process.version}, ${rounds} rounds of ${seconds} s wrk cells per gateway, ` +
      `order alternating each round; ${pinned ? 'wrk and the fake upstream on CPU 0, the gateways on CPU 1' : 'unpinned'}. ` +
      `Load average ${loadBefore.map((n) => n.toFixed(2)).join(' ')} before, ` +
      `${loadAfter.map((n) => n.toFixed(2)).join(' ')} after. Medians of the rounds.`,
    '',
    '| scenario | c | hits/s (cache on) | req/s (cache off) | on/off | p50 ms on / off | p99 ms on / off | CPU µs/req on / off |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { scenario, conc, on: hits, off: proxied } of rows) {
    lines.push(
      `| ${scenario === 'chat' ? 'JSON chat' : 'stream (replayed)'} | ${conc} | ${middle(hits, 'rps').toFixed(0)} | ` +
        `${middle(proxied, 'rps').toFixed(0)} | ${(middle(hits, 'rps') / middle(proxied, 'rps')).toFixed(2)} | ` +
        `${middle(hits, 'p50Ms').toFixed(3)} / ${middle(proxied, 'p50Ms').toFixed(3)} | ` +
        `${middle(hits, 'p99Ms').toFixed(3)} / ${middle(proxied, 'p99Ms').toFixed(3)} | ` +
        `${middle(hits, 'cpuUs').toFixed(0)} / ${middle(proxied, 'cpuUs').toFixed(0)} |`,
    );
  }
  const report = `${lines.join('\n')}\n`;
  process.stdout.write(report);
  if (args.out !== undefined) writeFileSync(args.out, report);
} finally {
  stopChildren();
}
process.exit(0);
