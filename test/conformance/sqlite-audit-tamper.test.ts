/**
 * Tamper evidence on the SQLite store: the export suite, plus rows changed in the file by someone
 * who dropped the append-only triggers, found by exporting and verifying.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteAuditStore } from '../../gateway/audit/sqlite-audit-store.ts';
import { verifyExport } from '../../gateway/audit/verify-export.ts';
import { auditEvent, testAuditKey } from './audit-store.conformance.ts';
import { collect, runAuditTamperSuite } from './audit-tamper.conformance.ts';

function tempFile() {
  const dir = mkdtempSync(join(tmpdir(), 'gw-audit-tamper-'));
  return { dir, file: join(dir, 'audit.sqlite') };
}

runAuditTamperSuite('sqlite', async () => {
  const { dir, file } = tempFile();
  return {
    store: new SqliteAuditStore({ file }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('SqliteAuditStore tampered in the file', () => {
  it('refuses UPDATE and DELETE of checkpoints, and verify finds edited rows and checkpoints', async () => {
    const { dir, file } = tempFile();
    const key = testAuditKey();
    let store = new SqliteAuditStore({ file });
    try {
      await store.append(Array.from({ length: 10 }, () => auditEvent()));
      await store.createCheckpoint(key.signer);
      const db = new Database(file);
      expect(() => db.prepare("UPDATE audit_checkpoints SET time = 'x'").run()).toThrow(/append-only/);
      expect(() => db.prepare('DELETE FROM audit_checkpoints').run()).toThrow(/append-only/);
      db.exec('DROP TRIGGER audit_entries_no_update');
      db.prepare(`UPDATE audit_entries SET receiver = 'ags:16051000' WHERE chain = 'main' AND seq = 4`).run();
      db.close();
      await store.close();
      store = new SqliteAuditStore({ file });
      const result = await verifyExport(await collect(store), { publicKey: key.publicKey });
      expect(result).toMatchObject({
        ok: false,
        failure: { reason: 'hash-mismatch', chain: 'main', firstBadSeq: 4 },
      });
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
