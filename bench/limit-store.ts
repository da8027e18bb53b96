/**
 * What the Redis limit store costs per admission and per settlement: Redis's time (`INFO commandstats`, the
 * EVALSHA calls' usec, which include the commands the scripts run) and this process's CPU (`process.cpuUsage`,
 * the limiter, ioredis's encoding and decoding, the socket), through `Limiter` + `RedisLimitStore` with a
 * tenant key's 18 counters (a key, its project and its org, each with rpm, rph, tpm, token_budget, daily_usd
 * and monthly_usd; limits high enough that nothing is refused).
 *
 *   node --import tsx bench/limit-store.ts [admissions=20000] [in flight=16]
 *
 * Runs a private redis-server (on PATH) on a free port, so the shared one is neither disturbed nor counted.
 * To compare two builds, run it in each checkout, alternating, on a quiet machine.
 */
import { Redis } from 'ioredis';
import type { Admission, Reservation } from '../src/limits/limit-decision.ts';
import type { Scope } from '../src/limits/limit-types.ts';
import { Limiter } from '../src/limits/limiter.ts';
import { RedisLimitStore } from '../src/store/redis/limit-store.ts';
import { freePort, PrivateRedis } from '../test/support/redis-server.ts';

const admissions = Number(process.argv[2] ?? 20_000);
const inFlight = Number(process.argv[3] ?? 16);

const limits = { rpm: 1e12, rph: 1e12, tpm: 1e14, token_budget: 1e15 };
const budget = { daily_usd: 1e6, monthly_usd: 1e6 };
const org: Scope = { kind: 'org', id: 'o1', limits, budget };
const projects: Scope[] = Array.from({ length: 5 }, (_, i) => ({
  kind: 'project',
  id: `p${i}`,
  limits,
  budget,
}));
const keys: Scope[] = Array.from({ length: 50 }, (_, i) => ({ kind: 'key', id: `k${i}`, limits, budget }));
const scopesOf = (i: number): Scope[] => [keys[i % keys.length]!, projects[i % projects.length]!, org];
const demand = { tokens: 1300, costNanoUsd: 12_345_678 };
const usage = { tokens: 700, costNanoUsd: 6_543_210 };

const server = new PrivateRedis(await freePort());
await server.start();
const admin = new Redis(server.url);
const store = new RedisLimitStore(server.url, { keyPrefix: 'bench:' });

/** Runs `step` for 0..admissions-1, `inFlight` at a time; Redis time and client CPU per step, µs. */
async function phase(name: string, step: (i: number) => Promise<void>): Promise<void> {
  await admin.config('RESETSTAT');
  const cpu = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < admissions) await step(next++);
    }),
  );
  const used = process.cpuUsage(cpu);
  const stats = await admin.info('commandstats');
  const calls = (command: string) =>
    Number(stats.match(new RegExp(`cmdstat_${command}:calls=(\\d+)`))?.[1] ?? 0);
  const usec = Number(stats.match(/cmdstat_evalsha:calls=\d+,usec=(\d+)/)?.[1] ?? 0);
  const commands = [
    'hgetall',
    'hset',
    'hdel',
    'hincrby',
    'hexists',
    'hmget',
    'hscan',
    'pexpire',
    'pttl',
    'sadd',
  ]
    .map((command) => [command, calls(command) / admissions] as const)
    .filter(([, perStep]) => perStep > 0)
    .map(([command, perStep]) => `${command} ${perStep.toFixed(1)}`);
  console.log(
    `${name}: Redis ${(usec / admissions).toFixed(1)} µs, client CPU ${((used.user + used.system) / admissions).toFixed(1)} µs` +
      ` (${calls('evalsha')} EVALSHA; per ${name}: ${commands.join(', ')})`,
  );
}

try {
  await store.ready();
  const limiter = new Limiter({ store });
  const admit = async (i: number): Promise<Reservation> => {
    const decision = await limiter.admit(scopesOf(i), demand);
    if (!decision.admitted) throw new Error(`admission ${i} refused`);
    return (decision as Admission).reservation;
  };
  // Warm-up: the scripts loaded, the hashes made, the JIT warm.
  for (let i = 0; i < 2000; i++) await limiter.settle(await admit(i), usage);
  const reservations: Reservation[] = new Array(admissions);
  await phase('admission', async (i) => {
    reservations[i] = await admit(i);
  });
  await phase('settlement', (i) => limiter.settle(reservations[i]!, usage));
} finally {
  admin.disconnect();
  await store.close();
  await server.kill();
}
