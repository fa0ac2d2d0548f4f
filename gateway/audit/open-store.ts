/**
 * The audit store the configuration names, for every process that appends to it: the server and
 * the `gw` commands that record administrative events (certificates, tokens, exports). One place
 * decides which implementation a configuration means, so the CLI can never write to a different log:
 * PostgreSQL when DATABASE_URL is set, else <dataDir>/audit.sqlite.
 */
import path from 'node:path';
import type { ResolvedConfig } from '../config/load.ts';
import type { AuditStore } from '../ports/audit-store.ts';
import type { DocumentArchive } from '../ports/document-archive.ts';
import { PgDocumentArchive } from './archive/pg-document-archive.ts';
import { SqliteDocumentArchive } from './archive/sqlite-document-archive.ts';
import { type AuditKey, ensureAuditKey, resolveKeyPassphrase } from './audit-key.ts';
import { PgAuditStore } from './pg-audit-store.ts';
import { SqliteAuditStore } from './sqlite-audit-store.ts';

type StoreConfig = Pick<ResolvedConfig, 'dataDir'> &
  Partial<Pick<ResolvedConfig, 'databaseUrl' | 'databaseSchema'>>;

/** Opens without waiting for PostgreSQL: its first operation waits (short-lived CLI commands). */
export function openAuditStore(config: StoreConfig): AuditStore {
  if (config.databaseUrl)
    return PgAuditStore.open({ url: config.databaseUrl, schema: config.databaseSchema });
  return new SqliteAuditStore({ file: path.join(config.dataDir, 'audit.sqlite') });
}

/** Opens and makes sure the store is usable (migrated) before the gateway starts taking messages. */
export async function connectAuditStore(config: StoreConfig): Promise<AuditStore> {
  if (config.databaseUrl)
    return PgAuditStore.connect({ url: config.databaseUrl, schema: config.databaseSchema });
  return new SqliteAuditStore({ file: path.join(config.dataDir, 'audit.sqlite') });
}

/** The checkpoint signing key under <dataDir>/pki, created on first use (needs the PKI's passphrase). */
export function openAuditKey(config: Pick<ResolvedConfig, 'dataDir' | 'pki'>): AuditKey {
  const pkiDir = path.join(config.dataDir, 'pki');
  return ensureAuditKey({ pkiDir, passphrase: resolveKeyPassphrase(pkiDir, config.pki.keyPassphrase) });
}

/** The document archive beside the audit store: PostgreSQL when DATABASE_URL is set, else <dataDir>/archive.sqlite. */
export async function connectDocumentArchive(
  config: Pick<ResolvedConfig, 'dataDir' | 'pki'> &
    Partial<Pick<ResolvedConfig, 'databaseUrl' | 'databaseSchema'>>,
): Promise<DocumentArchive> {
  const pkiDir = path.join(config.dataDir, 'pki');
  const passphrase = resolveKeyPassphrase(pkiDir, config.pki.keyPassphrase);
  if (config.databaseUrl) {
    return PgDocumentArchive.connect({ url: config.databaseUrl, schema: config.databaseSchema, passphrase });
  }
  return new SqliteDocumentArchive({ file: path.join(config.dataDir, 'archive.sqlite'), passphrase });
}
