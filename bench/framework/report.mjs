#!/usr/bin/env node
// Aggregates run.mjs JSONL files into markdown: median over reps, [min–max] req/s range.
//   node bench/framework/report.mjs results/A.jsonl results/B.jsonl > results/summary.md
import { readFileSync } from 'node:fs';

// CLEAN_ONLY=1: drop cells whose every attempt was contaminated (instead of keeping the last one)
const CLEAN_ONLY = process.env.CLEAN_ONLY === '1';
const files = process.argv.slice(2);
if (!files.length) {
  console.error('usage: report.mjs FILE.jsonl...');
  process.exit(1);
}
const recs = files.flatMap((f) =>
  readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l)),
);
const metas = recs.filter((r) => r.type === 'meta');
const allRuns = recs.filter((r) => r.type === 'run');
// per (label, target, scenario, conc): keep clean attempts; if none was clean keep the last one (flagged)
const runs = [];
const flagged = [];
{
  const groups = new Map();
  for (const r of allRuns) {
    const k = `${r.label}|${r.target}|${r.scenario}|${r.conc}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(r);
  }
  for (const g of groups.values()) {
    const clean = g.filter((r) => !r.contaminated);
    if (clean.length) runs.push(...clean);
    else if (CLEAN_ONLY) flagged.push(g[g.length - 1]);
    else {
      runs.push(g[g.length - 1]);
      flagged.push(g[g.length - 1]);
    }
  }
}
const finals = recs.filter((r) => r.type === 'final');
const failed = recs.filter((r) => r.type === 'validation' && r.problems.length);

const order = [];
for (const m of metas) for (const t of m.order) if (!order.includes(t)) order.push(t);
order.sort(
  (a, b) =>
    ['direct', 'ref-proxy', 'node-map', 'node-map-fetch', 'node-fmw', 'fastify', 'hono'].indexOf(a) -
    ['direct', 'ref-proxy', 'node-map', 'node-map-fetch', 'node-fmw', 'fastify', 'hono'].indexOf(b),
);

const med = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n ? (n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2) : null;
};
const cell = (t, scn, c) => runs.filter((r) => r.target === t && r.scenario === scn && r.conc === c);
const int = (x) => (x == null ? '–' : Math.round(x).toLocaleString('en-US'));
const ms = (us) => (us == null ? '–' : (us / 1000).toFixed(3));
const nReps = new Set(metas.map((m) => m.label)).size;
const nTag = (rs) => (rs.length < nReps ? `, n=${rs.length}` : '');
const rng = (rs) =>
  rs.length > 1
    ? ` (${int(Math.min(...rs.map((r) => r.rps)))}–${int(Math.max(...rs.map((r) => r.rps)))}${nTag(rs)})`
    : rs.length === 1 && nReps > 1
      ? ' (n=1)'
      : '';
const delta = (us, base) =>
  us == null || base == null
    ? ''
    : ` (${us - base >= 0 ? '+' : '−'}${Math.abs((us - base) / 1000).toFixed(3)})`;
const p50 = (t, scn, c) => med(cell(t, scn, c).map((r) => r.p50_us));

const m0 = metas[0] || {};
const out = [];
out.push(`# HTTP framework bake-off: results`, '');
out.push(`Runs: ${metas.map((m) => `${m.label} (order: ${m.order.join(', ')})`).join('; ')}.`, '');
out.push(
  `Node ${m0.node} (global fetch = bundled undici ${m0.fetch_undici}); ${m0.wrk}; packages: ${Object.entries(
    m0.pkgs || {},
  )
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}.`,
);
out.push(
  `Cells: ${m0.duration_s} s each, after ${m0.warmup_s} s of warm-up at C=16 per target; ${metas.length} rep(s) per cell; median shown, req/s [min–max] over reps in brackets. Δ = minus the direct row at the same cell.`,
  '',
);
out.push('## Summary', '');
out.push(
  '| Target | chat req/s C=64 | stream req/s C=64 | chat p50 ms C=1 (Δ) | stream p50 ms C=1 (Δ) | chat req/s C=1 | CPU µs/req chat C=64 | CPU µs/req stream C=64 | VmHWM MB |',
);
out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
const bChat = p50('direct', 'chat', 1),
  bStream = p50('direct', 'stream', 1);
for (const t of order) {
  const c64 = cell(t, 'chat', 64),
    s64 = cell(t, 'stream', 64),
    c1 = cell(t, 'chat', 1);
  const hw = finals.filter((f) => f.target === t).map((f) => f.hwm_kb);
  out.push(
    `| ${t} | ${int(med(c64.map((r) => r.rps)))}${rng(c64)} | ${int(med(s64.map((r) => r.rps)))}${rng(s64)} | ${ms(p50(t, 'chat', 1))}${t === 'direct' ? '' : delta(p50(t, 'chat', 1), bChat)} | ${ms(p50(t, 'stream', 1))}${t === 'direct' ? '' : delta(p50(t, 'stream', 1), bStream)} | ${int(med(c1.map((r) => r.rps)))}${rng(c1)} | ${int(med(c64.map((r) => r.cpu_us_per_req)))} | ${int(med(s64.map((r) => r.cpu_us_per_req)))} | ${hw.length ? Math.round(med(hw) / 1024) : '–'} |`,
  );
}
out.push(
  '',
  "For `direct`, CPU is the mock's own (it shares CPU 0 with wrk, so direct at C=64 is capped by CPU 0).",
  '',
);
out.push('## Full matrix', '');
out.push(
  '| Target | Scenario | C | req/s (range) | p50 ms | Δp50 ms | p90 ms | p99 ms | errors / non-2xx | CPU % | CPU µs/req (range) | mock µs/req | busy % CPU0 / CPU1 | other CPU % |',
);
out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const t of order)
  for (const scn of ['chat', 'stream'])
    for (const c of [1, 64]) {
      const rs = cell(t, scn, c);
      if (!rs.length) continue;
      const cu = rs.map((r) => r.cpu_us_per_req);
      const base = p50('direct', scn, c);
      const p = med(rs.map((r) => r.p50_us));
      out.push(
        `| ${t} | ${scn} | ${c} | ${int(med(rs.map((r) => r.rps)))}${rng(rs)} | ${ms(p)} | ${t === 'direct' || base == null ? '–' : (p - base >= 0 ? '+' : '−') + Math.abs((p - base) / 1000).toFixed(3)} | ${ms(med(rs.map((r) => r.p90_us)))} | ${ms(med(rs.map((r) => r.p99_us)))} | ${rs.reduce((a, r) => a + r.errors, 0)} / ${rs.reduce((a, r) => a + r.non2xx, 0)} | ${Math.round(med(rs.map((r) => r.cpu_pct)))} | ${int(med(cu))}${cu.length > 1 ? ` (${int(Math.min(...cu))}–${int(Math.max(...cu))})` : ''} | ${int(med(rs.map((r) => r.mock_cpu_us_per_req)))} | ${Math.round(med(rs.map((r) => r.busy.cpu0)))} / ${Math.round(med(rs.map((r) => r.busy.cpu1)))} | ${rs.every((r) => r.other_cpu_pct != null) ? Math.round(med(rs.map((r) => r.other_cpu_pct))) : '–'} |`,
      );
    }
out.push(
  '',
  `Contamination guard: ${allRuns.filter((r) => r.contaminated).length} of ${allRuns.length} cell runs had more than the threshold of CPU not charged to the target, mock or wrk (other processes on the shared machine); contaminated attempts are not used when a clean attempt of the same cell exists. ${flagged.length ? `Cells with no clean attempt (${CLEAN_ONLY ? 'dropped' : 'kept, flagged'}): ${flagged.map((r) => `${r.target} ${r.scenario} C=${r.conc} (${r.label}, other ${Math.round(r.other_cpu_pct)} %)`).join('; ')}.` : 'No kept cell is contaminated.'}`,
);
if (failed.length)
  out.push('', '## Validation failures', '', ...failed.map((f) => `- ${f.target}: ${f.problems.join('; ')}`));
console.log(out.join('\n'));
