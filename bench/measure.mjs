// What the interleaved benchmarks (bench/ab.mjs, bench/tenancy.mjs) share: the CPU layout and pinned starts on a
// 2-core machine, readiness, a process's CPU time, the harness's request bodies, and medians with a bootstrap
// interval. Every helper is bounded in time; traffic goes only to 127.0.0.1.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Node's flags for a gateway, as `npm start` runs it (package.json): a 32 MB young generation, which halves how
 * often the scavenger runs under load (measured: -19% CPU per streamed request, -9% per JSON request).
 */
export const gatewayNodeFlags = ['--max-semi-space-size=32'];

/** Whether taskset is there to pin processes to cores. */
export const pinned = spawnSync('taskset', ['--version']).status === 0;

/** As the peer harness lays out 2 cores: wrk and the fake upstream on CPU 0, the gateways on CPU 1. */
export const cpu = { load: '0', mock: '0', gateway: '1' };

/**
 * Starts `command` in its own process group, pinned to `core` when taskset exists, and records it in
 * `children` (so the caller can kill every group at exit). `env` is added to `baseEnv`.
 */
export function startPinned(children, core, command, argv, env, baseEnv = process.env) {
  const [file, list] = pinned ? ['taskset', ['-c', core, command, ...argv]] : [command, argv];
  const child = spawn(file, list, { env: { ...baseEnv, ...env }, stdio: 'ignore', detached: true });
  children.push(child);
  return child;
}

/** Resolves once `url` answers 2xx; throws after `attempts` tries 100 ms apart. */
export async function waitReady(url, attempts = 200) {
  for (let i = 0; i < attempts; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`${url} did not become ready`);
}

const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

/** The harness's own request bodies (../shared/bench/peer/bench.mjs), so these cells match its rows. */
export const harnessBody = (stream) =>
  JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'Write a haiku about the latency of network proxies.' },
    ],
    max_tokens: 64,
    temperature: 0,
    stream,
  });

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Deterministic PRNG (mulberry32): the same seed, the same numbers (bootstrap resamples, synthetic vectors). */
export function random(seed) {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The 95% bootstrap interval of the median (4000 resamples, seeded by `seed`). */
export function bootstrapInterval(values, seed) {
  const next = random(seed);
  const medians = [];
  for (let i = 0; i < 4000; i++) {
    medians.push(median(values.map(() => values[Math.floor(next() * values.length)])));
  }
  medians.sort((a, b) => a - b);
  return [medians[Math.floor(0.025 * medians.length)], medians[Math.floor(0.975 * medians.length)]];
}

/**
 * A wrk script for the harness's request (`stream` or not), with the `authorization` bearer `key` when given,
 * that prints `ABJSON <requests> <µs> <errors>` at the end for `wrkCell`.
 */
export function writeWrkScript(file, { stream, key }) {
  writeFileSync(
    file,
    [
      'wrk.method = "POST"',
      `wrk.body = [==[${harnessBody(stream)}]==]`,
      'wrk.headers["content-type"] = "application/json"',
      ...(key === undefined ? [] : [`wrk.headers["authorization"] = "Bearer ${key}"`]),
      'done = function(summary) io.write(string.format("ABJSON %d %d %d\\n", summary.requests, summary.duration,',
      '  summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status)) end',
    ].join('\n'),
  );
  return file;
}

/**
 * One wrk cell of `duration` seconds at `conc` connections on /v1/chat/completions of `port`, wrk pinned to
 * `loadCore` (none: unpinned): its throughput and, when `pid` is given, that process's CPU µs per request.
 * CPU time is the steadier measure of cost on a shared VM: time stolen by neighbours lowers req/s but is not
 * charged to the process. Throws on any failed request.
 */
export function wrkCell({ port, pid, script, conc, duration, loadCore = pinned ? cpu.load : undefined }) {
  const cpuBefore = pid === undefined ? 0 : cpuSeconds(pid);
  const argv = ['-t', '1', '-c', String(conc), '-d', `${duration}s`, '--timeout', '10s'];
  argv.push('-s', script, `http://127.0.0.1:${port}/v1/chat/completions`);
  const [file, list] = loadCore === undefined ? ['wrk', argv] : ['taskset', ['-c', loadCore, 'wrk', ...argv]];
  const result = spawnSync(file, list, { encoding: 'utf8', timeout: (duration + 30) * 1000 });
  const match = /ABJSON (\d+) (\d+) (\d+)/.exec(result.stdout ?? '');
  if (match === null) throw new Error(`wrk failed: ${result.stderr || result.stdout}`);
  const [requests, micros, errors] = match.slice(1).map(Number);
  if (errors > 0) throw new Error(`${errors} failed requests on port ${port} (${script})`);
  return {
    rps: requests / (micros / 1e6),
    cpuUs: pid === undefined ? undefined : ((cpuSeconds(pid) - cpuBefore) * 1e6) / requests,
  };
}

/**
 * What every wrk benchmark starts with: it stops with `name: message` when the peer harness's fake upstream,
 * wrk or the build is missing, and it keeps the process groups it starts (`children`) and the temporary paths
 * (`temporary`), which `stopChildren` kills and removes, also at exit and on SIGINT/SIGTERM.
 */
export function benchRun(name, { root, harness }) {
  const fail = (message) => {
    console.error(`${name}: ${message}`);
    process.exit(1);
  };
  if (!existsSync(join(harness, 'mock-upstream.mjs'))) {
    fail(`the peer harness's fake upstream is not at ${harness} (set PEER_HARNESS)`);
  }
  if (spawnSync('wrk', ['-v']).error !== undefined) fail('wrk is not installed (apt-get install wrk)');
  if (!existsSync(join(root, 'dist', 'src', 'main.js'))) fail(`no build: run it as npm run ${name}`);
  const children = [];
  const temporary = [];
  const stopChildren = () => {
    for (const child of children) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }
    children.length = 0;
    for (const path of temporary) rmSync(path, { recursive: true, force: true });
  };
  process.on('exit', stopChildren);
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
  return { fail, children, temporary, stopChildren };
}
