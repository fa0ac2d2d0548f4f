import { defineConfig } from 'vitest/config';

// Two projects: the Kafka suites get a real broker (test/setup/kafka.ts starts deploy/kafka/local.sh
// unless KAFKA_BROKERS names one); everything else runs without one. Kafka suites are named
// test/**/kafka*.test.ts or live under test/kafka/.
const KAFKA_SUITES = ['test/**/kafka*.test.ts', 'test/kafka/**/*.test.ts'];

export default defineConfig({
  test: {
    exclude: ['**/node_modules/**'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Suites start servers, child processes and a broker on 2 cores, but most of a suite's time is
    // waiting (for processes, sockets, the broker): a third worker keeps the run well under 20 minutes.
    maxWorkers: 3,
    setupFiles: ['test/setup/fast-check.ts', 'test/setup/kept-logs.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [
            'gateway/**/*.test.ts',
            'adapters/**/*.test.ts',
            'standards/**/*.test.ts',
            'test/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**', ...KAFKA_SUITES],
        },
      },
      { extends: true, test: { name: 'kafka', include: KAFKA_SUITES, globalSetup: ['test/setup/kafka.ts'] } },
    ],
  },
});
