/**
 * Nexus as real processes (`node --import tsx src/main.ts`), for tests that need what one process in the test
 * runner cannot give: several replicas sharing PostgreSQL and Redis, a real SIGTERM, a real exit. Every process
 * started here is also killed when the test file's process exits, so a failing test leaves none behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const running = new Set<ChildProcess>();

process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface NexusProcess {
  readonly child: ChildProcess;
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  /** Everything it wrote to stdout and stderr so far (JSON log lines, and any crash). */
  readonly output: string[];
  /** Resolves with the exit code once the process has exited and its output is read ('close'). */
  readonly closed: Promise<number | null>;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL when still running; never throws. */
  kill(): void;
}

/**
 * Starts one gateway with exactly `env` (plus PATH and port 0; nothing else of the test's environment leaks
 * in) and resolves once it logged the URL it listens on, within `startTimeoutMs`.
 */
export async function startNexus(
  env: Record<string, string>,
  startTimeoutMs = 60_000,
): Promise<NexusProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    // The response cache is off unless the test turns it on (as in startGateway).
    env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'info', CACHE_ENABLED: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const closed = new Promise<number | null>((resolve) => {
    child.once('close', (code) => {
      running.delete(child);
      resolve(code);
    });
  });
  const output: string[] = [];
  child.stderr?.on('data', (data: Buffer) => output.push(data.toString()));
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  let origin: string;
  try {
    origin = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`nexus did not start in ${startTimeoutMs} ms:\n${output.join('')}`)),
        startTimeoutMs,
      );
      let listening = false;
      child.stdout?.on('data', (data: Buffer) => {
        output.push(data.toString());
        if (listening) return;
        // On the whole output, not this chunk alone: the line may arrive in two reads.
        const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(output.join(''));
        if (match?.[1] !== undefined) {
          listening = true;
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      void closed.then((code) => {
        clearTimeout(timer);
        reject(new Error(`nexus exited with ${code} before listening:\n${output.join('')}`));
      });
    });
  } catch (error) {
    kill();
    throw error;
  }
  return {
    child,
    origin,
    output,
    closed,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return closed;
    },
    kill,
  };
}

/** The JSON log lines a process wrote whose `msg` starts with `message`. */
export function logLines(nexus: NexusProcess, message: string): Record<string, unknown>[] {
  return nexus.output
    .join('')
    .split('\n')
    .filter((line) => line.includes(`"msg":"${message}`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Fails with the exit and the last of the output of any replica that is no longer running. */
export function assertRunning(processes: readonly NexusProcess[]): void {
  for (const [index, nexus] of processes.entries()) {
    const { exitCode, signalCode } = nexus.child;
    if (exitCode === null && signalCode === null) continue;
    // Access lines left out: the crash is in what remains.
    const tail = nexus.output
      .join('')
      .split('\n')
      .filter((line) => !line.includes('"msg":"request"'))
      .join('\n')
      .slice(-4000);
    throw new Error(`replica ${index} exited (${exitCode ?? signalCode}) while it should serve:\n${tail}`);
  }
}
