/**
 * The system certificate store a configuration means, for the server and for `gw pki issue`:
 * PostgreSQL when DATABASE_URL is set (the rule of open-revocation-store.ts, so every replica pins
 * the same certificate), else <dataDir>/pki/systems/*.crt.
 *
 * With PostgreSQL, the pins of the data directory's systems/*.crt (an installation moving from the
 * embedded mode, a PKI Secret, a certificate `gw pki init` issued for a newly listed system) are
 * imported on every open — but only for systems the database has no pin for: a data directory is
 * a copy made at some time, and its certificate of a system re-issued since beside another replica
 * is the replaced one, which must not come back.
 */
import path from 'node:path';
import type { ResolvedConfig } from '../config/load.ts';
import type { Logger } from '../log/logger.ts';
import type { SystemCertificateStore } from '../ports/system-certificate-store.ts';
import { FileSystemCertificateStore } from './file-system-certificate-store.ts';
import { PgSystemCertificateStore } from './pg-system-certificate-store.ts';

export async function connectSystemCertificateStore(
  config: Pick<ResolvedConfig, 'dataDir'> & Partial<Pick<ResolvedConfig, 'databaseUrl' | 'databaseSchema'>>,
  options: { logger?: Logger } = {},
): Promise<SystemCertificateStore> {
  const pkiDir = path.join(config.dataDir, 'pki');
  if (!config.databaseUrl) return new FileSystemCertificateStore(pkiDir);
  const store = await PgSystemCertificateStore.connect({
    url: config.databaseUrl,
    schema: config.databaseSchema,
  });
  try {
    const imported = await importFileSystemCertificates(store, pkiDir);
    if (imported.length > 0)
      options.logger?.info({ systems: imported, from: pkiDir }, 'pki: file system certificates imported');
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** Pins the certificates of <pkiDir>/systems/*.crt in `store` for the systems it has none for; those systems. */
export async function importFileSystemCertificates(
  store: SystemCertificateStore,
  pkiDir: string,
): Promise<string[]> {
  const imported: string[] = [];
  for (const pin of await new FileSystemCertificateStore(pkiDir).pins()) {
    const result = await store.pinIfAbsent({
      systemId: pin.systemId,
      certificatePem: pin.certificatePem,
      by: 'import',
      now: new Date(pin.issuedAt),
    });
    if (result.added) imported.push(pin.systemId);
  }
  return imported;
}
