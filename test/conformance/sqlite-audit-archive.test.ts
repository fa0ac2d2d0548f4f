/** SqliteDocumentArchive: the DocumentArchive conformance suite (crypto-shredding included) on temp files. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteDocumentArchive } from '../../gateway/audit/archive/sqlite-document-archive.ts';
import { SqliteAuditStore } from '../../gateway/audit/sqlite-audit-store.ts';
import { ARCHIVE_PASSPHRASE, runArchiveConformance } from './audit-archive.conformance.ts';

runArchiveConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-archive-'));
  const file = join(dir, 'archive.sqlite');
  return {
    archive: new SqliteDocumentArchive({ file, passphrase: ARCHIVE_PASSPHRASE }),
    reopen: async (passphrase) => new SqliteDocumentArchive({ file, passphrase }),
    auditStore: async () => new SqliteAuditStore({ file: join(dir, 'audit.sqlite') }),
    sql: async (statement) => {
      const db = new Database(file);
      try {
        const prepared = db.prepare(statement);
        if (prepared.reader) return prepared.all() as Array<Record<string, unknown>>;
        prepared.run();
        return [];
      } finally {
        db.close();
      }
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
