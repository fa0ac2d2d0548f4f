/**
 * vitest globalSetup: a real Kafka broker for the Kafka suites.
 *
 * - KAFKA_BROKERS set: that cluster is used as it is (nothing started, nothing stopped).
 * - Otherwise deploy/kafka/local.sh starts the local single-node broker (fetching Kafka from Maven
 *   Central on first use) on 127.0.0.1:${KAFKA_PORT:-9092}. A broker that was already running
 *   (a developer's) is used and left running; one this setup started is stopped at teardown.
 *
 * Tests read the address with `inject('kafkaBrokers')` (or process.env.KAFKA_BROKERS).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Comma-separated bootstrap servers, e.g. "127.0.0.1:9092". */
    kafkaBrokers: string;
  }
}

const LOCAL_SH = fileURLToPath(new URL('../../deploy/kafka/local.sh', import.meta.url));

function localSh(command: 'start' | 'stop' | 'status', quiet = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [LOCAL_SH, command], {
      stdio: ['ignore', quiet ? 'ignore' : 'inherit', quiet ? 'ignore' : 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const configured = process.env.KAFKA_BROKERS?.trim();
  if (configured) {
    project.provide('kafkaBrokers', configured);
    return undefined;
  }

  const wasRunning = (await localSh('status', true)) === 0;
  if (!wasRunning) {
    const started = Date.now();
    const code = await localSh('start');
    if (code !== 0) {
      throw new Error(
        `test/setup/kafka.ts: deploy/kafka/local.sh start failed (exit ${code}); see the output above, ` +
          'or point KAFKA_BROKERS at a running broker',
      );
    }
    process.stderr.write(`kafka globalSetup: local broker up in ${Date.now() - started} ms\n`);
  }
  const brokers = `127.0.0.1:${process.env.KAFKA_PORT ?? '9092'}`;
  process.env.KAFKA_BROKERS = brokers;
  project.provide('kafkaBrokers', brokers);

  if (wasRunning) return undefined;
  return async () => {
    await localSh('stop');
  };
}
