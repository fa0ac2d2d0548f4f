/**
 * vitest globalSetup: a real Kafka broker for the Kafka suites.
 *
 * - KAFKA_BROKERS set: that cluster is used as it is (nothing started, nothing stopped).
 * - Otherwise `deploy/kafka/local.sh acquire <pid>` takes a lease on the local single-node broker
 *   on 127.0.0.1:${KAFKA_PORT:-9092}, starting it if it is not running (and fetching Kafka from
 *   Maven Central on first use). Teardown releases the lease; the broker stops when the last test run
 *   holding a lease is done, and only if a test run started it: a broker a developer started with
 *   `local.sh start` is left running. Leases make concurrent test runs safe: one run's teardown never
 *   stops the broker under another run.
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

function localSh(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    // The script reports on stderr (fetch progress, start time, errors with the broker's log tail).
    const child = spawn('bash', [LOCAL_SH, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
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

  const holder = String(process.pid);
  const started = Date.now();
  const code = await localSh(['acquire', holder]);
  if (code !== 0) {
    throw new Error(
      `test/setup/kafka.ts: deploy/kafka/local.sh acquire failed (exit ${code}); see its output above, ` +
        'or point KAFKA_BROKERS at a running broker',
    );
  }
  process.stderr.write(`kafka globalSetup: broker ready after ${Date.now() - started} ms\n`);
  const brokers = `127.0.0.1:${process.env.KAFKA_PORT ?? '9092'}`;
  process.env.KAFKA_BROKERS = brokers;
  project.provide('kafkaBrokers', brokers);

  return async () => {
    await localSh(['release', holder]);
  };
}
