/**
 * The revocation store a configuration means, for the server and for `gw pki`: PostgreSQL when
 * DATABASE_URL is set (the rule of gateway/auth/open-token-store.ts, so every replica refuses the
 * same certificates), else <dataDir>/pki/revoked.json.
 *
 * With PostgreSQL, the revocations of a <dataDir>/pki/revoked.json (an installation moving from the
 * embedded mode, or a PKI Secret that carries the file) are imported on every open: revocations
 * only ever add, so the import is idempotent, keeps each entry's time and reason, and never lets a
 * certificate revoked in the file be admitted because the database did not know it.
 */
import path from 'node:path';
import type { ResolvedConfig } from '../config/load.ts';
import type { Logger } from '../log/logger.ts';
import type { RevocationStore } from '../ports/revocation-store.ts';
import { FileRevocationStore } from './file-revocation-store.ts';
import { PgRevocationStore } from './pg-revocation-store.ts';
import { readRevocations } from './revocation.ts';

export async function connectRevocationStore(
  config: Pick<ResolvedConfig, 'dataDir'> & Partial<Pick<ResolvedConfig, 'databaseUrl' | 'databaseSchema'>>,
  options: { logger?: Logger } = {},
): Promise<RevocationStore> {
  const pkiDir = path.join(config.dataDir, 'pki');
  if (!config.databaseUrl) return new FileRevocationStore(pkiDir);
  const store = await PgRevocationStore.connect({ url: config.databaseUrl, schema: config.databaseSchema });
  try {
    const imported = await importFileRevocations(store, pkiDir);
    if (imported.length > 0)
      options.logger?.info({ serials: imported, from: pkiDir }, 'pki: file revocations imported');
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** Copies the revocations of <pkiDir>/revoked.json into `store`; the serials it did not hold before. */
export async function importFileRevocations(store: RevocationStore, pkiDir: string): Promise<string[]> {
  const added: string[] = [];
  for (const entry of readRevocations(pkiDir)) {
    const result = await store.revoke({
      serial: entry.serial,
      reason: entry.reason,
      ...(entry.subject ? { subject: entry.subject } : {}),
      by: 'import',
      now: new Date(entry.revokedAt),
    });
    if (result.added) added.push(result.entry.serial);
  }
  return added;
}
