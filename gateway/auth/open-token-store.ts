/**
 * The token store a configuration means, for the server and for `gw token`: PostgreSQL when
 * DATABASE_URL is set (the rule of gateway/audit/open-store.ts, so tokens live where the rest of the
 * state does and every replica reads the same ones), else <dataDir>/auth.sqlite.
 */
import type { ResolvedConfig } from '../config/load.ts';
import type { TokenStore } from '../ports/token-store.ts';
import { PgTokenStore } from './pg-token-store.ts';
import { SqliteTokenStore } from './sqlite-token-store.ts';

export async function connectTokenStore(
  config: Pick<ResolvedConfig, 'dataDir'> & Partial<Pick<ResolvedConfig, 'databaseUrl' | 'databaseSchema'>>,
): Promise<TokenStore> {
  if (config.databaseUrl)
    return PgTokenStore.connect({ url: config.databaseUrl, schema: config.databaseSchema });
  return SqliteTokenStore.inDataDir(config.dataDir);
}
