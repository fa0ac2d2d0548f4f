/**
 * A Kafka broker of one test file's own (deploy/kafka/local.sh with another port and data
 * directory), for tests that stop it: the shared test broker of the `kafka` project is never touched.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { freePortBelowEphemeral } from './ports.ts';

export interface PrivateKafka {
  brokers: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops the broker and removes its data. */
  destroy(): Promise<void>;
}

export async function privateKafka(): Promise<PrivateKafka> {
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
      await localSh('stop').catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
