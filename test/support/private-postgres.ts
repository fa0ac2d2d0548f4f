/**
 * A PostgreSQL cluster of one test file's own (initdb into a temporary directory, its own port and
 * socket directory), for tests that stop, crash or restart the server: the machine's shared server
 * at 127.0.0.1:5432 is used by other suites at the same time and is never touched here.
 *
 * PostgreSQL refuses to run as root: when the tests run as root, initdb and pg_ctl run as the
 * `postgres` user (runuser), in a directory that user owns.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePortBelowEphemeral } from './ports.ts';

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  /** `pg_ctl stop -m immediate`: a crash as far as clients are concerned (recovery on the next start). */
  crash(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server (fast) and removes its directory. */
  destroy(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error(`no PostgreSQL server binaries under ${root}`);
  return path.join(root, versions[0]!, 'bin');
}

const asRoot = process.getuid?.() === 0;

function run(command: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      code === 0
        ? resolve(output)
        : reject(new Error(`${path.basename(command)} exited ${code}:\n${output}`));
    });
  });
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binDir();
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-private-pg-'));
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = path.join(dir, 'data');
  const port = await freePortBelowEphemeral(20_900, 21_900);
  await run(path.join(bin, 'initdb'), [
    '-D',
    data,
    '-A',
    'trust',
    '-U',
    'postgres',
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=100`;
  const start = () =>
    run(path.join(bin, 'pg_ctl'), [
      '-D',
      data,
      '-l',
      path.join(dir, 'server.log'),
      '-w',
      '-t',
      '120',
      '-o',
      options,
      'start',
    ]).then(() => undefined);
  const stop = (mode: 'immediate' | 'fast') =>
    run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']).then(() => undefined);
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    crash: () => stop('immediate'),
    start,
    async destroy() {
      await stop('fast').catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
