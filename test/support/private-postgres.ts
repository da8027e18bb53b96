/**
 * A PostgreSQL cluster of the test's own (initdb + pg_ctl, in a temporary directory, on a port of its own), for
 * tests that stop and start the database: the shared server on 5432 is never touched. PostgreSQL refuses to
 * run as root, so as root the binaries run as the `postgres` user.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where initdb and pg_ctl are: `PG_BIN`, else the newest /usr/lib/postgresql/<version>/bin. */
function binDirectory(): string | undefined {
  if (process.env.PG_BIN !== undefined) return process.env.PG_BIN;
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((name) => existsSync(join(base, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(base, versions[0], 'bin');
}

/** The uid and gid of the `postgres` user, from /etc/passwd. */
function postgresUser(): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('postgres:'));
  if (line === undefined) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * Why a private cluster cannot be started here, or undefined when it can: the binaries are missing, or this
 * runs as root on a machine without a `postgres` user to run them as.
 */
export function privatePostgresUnavailable(): string | undefined {
  const bin = binDirectory();
  if (bin === undefined || !existsSync(join(bin, 'initdb')) || !existsSync(join(bin, 'pg_ctl'))) {
    return 'initdb and pg_ctl were not found (install postgresql, or set PG_BIN to their directory)';
  }
  if (process.getuid?.() === 0 && postgresUser() === undefined) {
    return 'running as root and there is no postgres user to run initdb and pg_ctl as';
  }
  return undefined;
}

export class PrivatePostgres {
  readonly #bin: string;
  readonly #user: { uid: number; gid: number } | undefined;
  readonly #directory: string;

  constructor(readonly port: number) {
    const bin = binDirectory();
    if (bin === undefined) throw new Error(privatePostgresUnavailable());
    this.#bin = bin;
    this.#user = process.getuid?.() === 0 ? postgresUser() : undefined;
    this.#directory = mkdtempSync(join(tmpdir(), 'nexus-private-pg-'));
    if (this.#user !== undefined) chownSync(this.#directory, this.#user.uid, this.#user.gid);
  }

  /** The `postgres` database, trust auth, over TCP on 127.0.0.1. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get #data(): string {
    return join(this.#directory, 'data');
  }

  /** Creates the cluster (trust auth, no fsync: the data lives for one test). */
  async init(): Promise<void> {
    await this.#run('initdb', [
      '-D',
      this.#data,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-sync',
      '--no-instructions',
    ]);
  }

  /** Starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    const options = [
      `-p ${this.port}`,
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${this.#directory}`,
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
    ].join(' ');
    await this.#run('pg_ctl', [
      '-D',
      this.#data,
      '-l',
      join(this.#directory, 'log'),
      '-w',
      '-o',
      options,
      'start',
    ]);
  }

  /** Stops the server as a restart does (`-m fast`: sessions are terminated, then a clean shutdown). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.#run('pg_ctl', ['-D', this.#data, '-m', mode, '-w', 'stop']);
  }

  /** Stops the server if it runs and deletes the cluster; never throws. */
  async destroy(): Promise<void> {
    if (existsSync(join(this.#data, 'postmaster.pid'))) await this.stop('immediate').catch(() => {});
    rmSync(this.#directory, { recursive: true, force: true });
  }

  /** The server's log, for failure messages. */
  log(): string {
    const file = join(this.#directory, 'log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  async #run(tool: string, argv: string[]): Promise<void> {
    try {
      // stdio is not inherited: pg_ctl leaves the server running with its output in the log file.
      await run(join(this.#bin, tool), argv, {
        timeout: 60_000,
        cwd: this.#directory,
        ...(this.#user === undefined ? {} : { uid: this.#user.uid, gid: this.#user.gid }),
      });
    } catch (error) {
      const failure = error as { stderr?: string; message: string };
      throw new Error(`${tool} failed: ${failure.stderr || failure.message}\n${this.log()}`);
    }
  }
}
