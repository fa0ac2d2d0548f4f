/**
 * A Kafka broker of one test file's own (deploy/kafka/local.sh with another port and data
 * directory), for tests that stop it: the shared test broker of the `kafka` project is never touched.
 * stop() is local.sh's clean stop (what the tests exercise); destroy() kills it, as nothing of it is kept.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { freePortBelowEphemeral } from './ports.ts';

export interface PrivateKafka {
  brokers: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Kills the broker (SIGKILL: its data is thrown away, a clean shutdown buys nothing) and removes its data. */
  destroy(): Promise<void>;
}

function threads(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return 0;
  }
}

/** The broker's pid if that process is still this data directory's broker (a pid may be recycled). */
function brokerPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'kafka.pid'), 'utf8').trim());
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('kafka.Kafka') && cmdline.includes(dataDir) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * SIGKILLs `pid`; resolves once it has exited, its ports free: gone, or a zombie not yet reaped whose
 * threads have all exited (the leader of a JVM turns zombie while its other threads, which share
 * its sockets, are still exiting).
 */
async function kill(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return; // exited meanwhile
  }
  for (let i = 0; i < 200; i++) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return;
    }
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z') && threads(pid) <= 1) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the private broker (pid ${pid}) did not exit after SIGKILL`);
}

/** `advertisedPort`: where the broker tells clients to connect (a relay in front of it), if not its own port. */
export async function privateKafka(options: { advertisedPort?: number } = {}): Promise<PrivateKafka> {
  // The broker listens on P, its KRaft controller on P+1.
  const port = await freePortBelowEphemeral(20_100, 20_898, true);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gw-private-kafka-'));
  const localSh = (command: 'start' | 'stop') =>
    new Promise<void>((resolve, reject) => {
      const child = spawn('bash', [path.join(REPO_ROOT, 'deploy/kafka/local.sh'), command], {
        env: {
          ...process.env,
          KAFKA_PORT: String(port),
          KAFKA_DATA_DIR: dataDir,
          KAFKA_START_TIMEOUT: '180',
          ...(options.advertisedPort ? { KAFKA_ADVERTISED_PORT: String(options.advertisedPort) } : {}),
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`local.sh ${command} exited ${code}:\n${err}`)),
      );
    });
  return {
    brokers: `127.0.0.1:${port}`,
    start: () => localSh('start'),
    stop: () => localSh('stop'),
    async destroy() {
      // No clean stop (a controlled shutdown, ~2 s) for data about to be deleted.
      const pid = brokerPid(dataDir);
      await (pid === undefined ? localSh('stop') : kill(pid)).catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
