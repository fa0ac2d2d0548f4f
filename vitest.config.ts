import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['gateway/**/*.test.ts', 'adapters/**/*.test.ts', 'standards/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    // A real Kafka broker for the Kafka suites (deploy/kafka/local.sh), unless KAFKA_BROKERS names one.
    globalSetup: ['test/setup/kafka.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Suites that start servers or brokers run one file at a time per worker; 2 cores here.
    maxWorkers: 2,
  },
});
