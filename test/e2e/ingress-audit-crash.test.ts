/**
 * The ingress-audit crash scenario (test/support/ingress-audit-crash-scenario.ts) on the embedded
 * bus: the test sees the record in `bus.sqlite` (its own read-only connection) before it kills the
 * process, and reads the bookmark from the bus's `group_offsets`.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { tempDir } from '../support/gateway.ts';
import { ingressAuditCrashScenario } from '../support/ingress-audit-crash-scenario.ts';

const dataDir = tempDir('ingress-audit-crash');

function readBus<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(path.join(dataDir, 'bus.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

ingressAuditCrashScenario({
  title: 'a gateway killed between the publish and the audit append (embedded: SQLite bus and audit)',
  dataDir,
  // The default prefix: the scenario starts the gateway without KAFKA_TOPIC_PREFIX.
  deliverTopic: 'gw.deliver.st-melde',
  env: () => ({}),
  published: async (messageId) =>
    readBus(
      (db) =>
        (
          db
            .prepare(`SELECT count(*) AS n FROM records WHERE topic LIKE '%.deliver.%' AND headers LIKE ?`)
            .get(`%${messageId}%`) as { n: number }
        ).n,
    ),
  bookmark: async () => {
    const partitions = readBus(
      (db) =>
        db
          .prepare(
            `SELECT r.topic, r.partition, max(r.offset) + 1 AS end, g.next_offset AS committed
             FROM records r LEFT JOIN group_offsets g
               ON g.grp LIKE '%.ingress-audit.main' AND g.topic = r.topic AND g.partition = r.partition
             WHERE r.topic LIKE '%.deliver.%' GROUP BY r.topic, r.partition`,
          )
          .all() as { topic: string; partition: number; end: number; committed: number | null }[],
    );
    return {
      topics: [...new Set(partitions.map((p) => p.topic))],
      behind: partitions
        .filter((p) => p.committed !== p.end)
        .map((p) => `${p.topic}/${p.partition}: end ${p.end}, bookmark ${p.committed}`),
    };
  },
  publishWaitMs: 8_000,
  deliveryWaitMs: 20_000,
  testTimeoutMs: 180_000,
  cleanup: async () => rmSync(dataDir, { recursive: true, force: true }),
});
