/**
 * The dedicated audit key that signs checkpoints: ECDSA P-256 (verifiable by WebCrypto in every
 * browser), kept beside the gateway's other keys and encrypted the same way (PKCS#8, AES-256-CBC,
 * the gateway key passphrase — see gateway/pki/bootstrap.ts):
 *
 *   <dataDir>/pki/audit.key   encrypted private key (mode 0600)
 *   <dataDir>/pki/audit.pub   SPKI public key, for `gw audit verify --checkpoint-key` and auditors
 *
 * Gateway processes that share one PostgreSQL must share this key (as they share the CA), so that
 * every checkpoint verifies with the one audit.pub; the keyId in each checkpoint says which key signed.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { existsSync, linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GatewayError } from '../errors/catalogue.ts';
import { decryptPrivateKey, encryptPrivateKeyPem } from '../pki/ca.ts';
import type { CheckpointSigner } from '../ports/audit-store.ts';
import { auditKeyIdOf } from './audit-public-key.ts';

export { auditKeyIdOf, loadAuditPublicKey } from './audit-public-key.ts';

export interface AuditKey {
  publicKey: KeyObject;
  publicKeyPem: string;
  /** Hex SHA-256 of the SPKI DER. */
  keyId: string;
  signer: CheckpointSigner;
  keyFile: string;
  publicKeyFile: string;
}

/** The key passphrase exactly as ensurePki resolves it: configured, else <pkiDir>/passphrase. */
export function resolveKeyPassphrase(pkiDir: string, configured?: string): string {
  if (configured) return configured;
  const file = path.join(pkiDir, 'passphrase');
  if (!existsSync(file)) {
    throw new GatewayError(
      'GW_ERR_CONFIG_INVALID',
      `audit key: no key passphrase configured and no ${file} (start the gateway once to create the PKI)`,
    );
  }
  return readFileSync(file, 'utf8').trim();
}

/** Writes `content` to `file` only if it does not exist yet (link(2) is atomic); false if it did. */
function createExclusive(file: string, content: string): boolean {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, content, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temporary, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
}

export function signerFor(privateKey: KeyObject, keyId: string): CheckpointSigner {
  return {
    keyId,
    algorithm: 'ecdsa-p256-sha256',
    sign: (data) => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64'),
  };
}

/**
 * Loads the audit key, creating it on first use. Several processes starting at once on one data
 * directory end up with the same key: the first link wins, the others read it.
 */
export function ensureAuditKey(options: { pkiDir: string; passphrase: string }): AuditKey {
  const keyFile = path.join(options.pkiDir, 'audit.key');
  const publicKeyFile = path.join(options.pkiDir, 'audit.pub');
  if (!existsSync(keyFile)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    createExclusive(keyFile, encryptPrivateKeyPem(privateKey, options.passphrase));
  }
  let privateKey: KeyObject;
  try {
    privateKey = decryptPrivateKey(readFileSync(keyFile, 'utf8'), options.passphrase);
  } catch (error) {
    throw new GatewayError(
      'GW_ERR_CONFIG_INVALID',
      `audit key: cannot decrypt ${keyFile} — wrong passphrase`,
      {
        cause: error,
      },
    );
  }
  const publicKey = createPublicKey(privateKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  if (!existsSync(publicKeyFile) || readFileSync(publicKeyFile, 'utf8') !== publicKeyPem) {
    // Derived from the key, so rewriting it is always safe.
    const temporary = `${publicKeyFile}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(temporary, publicKeyPem, { mode: 0o644 });
    renameSync(temporary, publicKeyFile);
  }
  const keyId = auditKeyIdOf(publicKey);
  return { publicKey, publicKeyPem, keyId, signer: signerFor(privateKey, keyId), keyFile, publicKeyFile };
}
