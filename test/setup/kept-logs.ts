/**
 * After a failed test, prints what the gateways' kept loggers (test/support/kept-logs.ts) recorded
 * since the test before it, so that a red CI run says what the gateway saw.
 */
import { afterEach } from 'vitest';
import { clearKeptLogs, keptLogReport } from '../support/kept-logs.ts';

afterEach((context) => {
  if (context.task.result?.state === 'fail') {
    const report = keptLogReport();
    if (report) process.stderr.write(`\n[${context.task.name}] failed; the gateway logged:\n${report}\n`);
  }
  clearKeptLogs();
});
