/**
 * PkiOptions from the configuration — the one derivation shared by the server and the `gw pki`
 * commands, so that a command run beside the server never sees different server names (which
 * would make ensurePki reissue the TLS certificate) or a different passphrase.
 */
import path from 'node:path';
import type { ResolvedConfig } from '../config/load.ts';
import { ensurePki, type Pki, type PkiOptions } from './bootstrap.ts';

export function pkiOptionsFor(
  config: Pick<ResolvedConfig, 'dataDir' | 'host' | 'pki'>,
  systems: string[],
): PkiOptions {
  return {
    dir: path.join(config.dataDir, 'pki'),
    systems,
    passphrase: config.pki.keyPassphrase,
    signingAlgorithm: config.pki.signingAlgorithm,
    rsaBits: config.pki.rsaBits as 2048 | 3072,
    serverNames: ['localhost', '127.0.0.1', '::1', ...(config.host !== '0.0.0.0' ? [config.host] : [])],
  };
}

export function openPki(
  config: Pick<ResolvedConfig, 'dataDir' | 'host' | 'pki'>,
  systems: string[] = [],
): Promise<Pki> {
  return ensurePki(pkiOptionsFor(config, systems));
}
