/**
 * Two audit stores on the same data, on SQLite (a temp file) and on PostgreSQL (a fresh schema):
 * the process that appends, and another process that reads back what it finds stored. Suites that
 * must hold on both backends run once per entry:
 *
 *   for (const [name, open] of Object.entries(auditStorePairs('mysuite'))) …
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PgAuditStore } from '../../gateway/audit/pg-audit-store.ts';
import { SqliteAuditStore, type SqliteAuditStoreOptions } from '../../gateway/audit/sqlite-audit-store.ts';
import type { AuditStore } from '../../gateway/ports/audit-store.ts';
import { dropSchema, freshSchemaName, PG_URL } from './pg-test-schema.ts';

export interface AuditStorePair {
  /** Appends, and projects what it appended from memory. */
  store: AuditStore;
  /** Another process on the same data: it projects and reads from the stored entries. */
  other: AuditStore;
  /** Closes both stores and removes their data. */
  cleanup: () => Promise<void>;
}

/**
 * `tag` (a plain identifier) names the temp directory and the schema, so that leftovers say which
 * suite made them. `sqlite` adds options to both SQLite stores (NORMAL sync unless it says otherwise:
 * no test here is about power loss).
 */
export function auditStorePairs(
  tag: string,
  sqlite: Omit<SqliteAuditStoreOptions, 'file'> = {},
): Record<'sqlite' | 'postgres', () => Promise<AuditStorePair>> {
  return {
    sqlite: async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), `gw-${tag}-`));
      const options = { file: path.join(dir, 'audit.db'), sync: 'NORMAL' as const, ...sqlite };
      return pair(new SqliteAuditStore(options), new SqliteAuditStore(options), async () =>
        rmSync(dir, { recursive: true, force: true }),
      );
    },
    postgres: async () => {
      const schema = freshSchemaName(tag);
      const store = await PgAuditStore.connect({ url: PG_URL, schema });
      const other = await PgAuditStore.connect({ url: PG_URL, schema });
      return pair(store, other, () => dropSchema(schema));
    },
  };
}

function pair(store: AuditStore, other: AuditStore, remove: () => Promise<void>): AuditStorePair {
  return {
    store,
    other,
    cleanup: async () => {
      await store.close();
      await other.close();
      await remove();
    },
  };
}
