/**
 * The audit public key (audit.pub) as a verifier needs it: nothing here touches the private key or
 * the CA, so `gw audit verify` loads it without node-forge. The key itself: audit-key.ts.
 */
import { createPublicKey, hash, type KeyObject } from 'node:crypto';
import { GatewayError } from '../errors/catalogue.ts';

/** Hex SHA-256 of the SPKI DER: the keyId in every checkpoint. */
export function auditKeyIdOf(publicKey: KeyObject): string {
  return hash('sha256', publicKey.export({ type: 'spki', format: 'der' }), 'hex');
}

/** Reads `audit.pub` (SPKI PEM). */
export function loadAuditPublicKey(pem: string): { publicKey: KeyObject; keyId: string } {
  const publicKey = createPublicKey(pem);
  if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new GatewayError('GW_ERR_CONFIG_INVALID', 'audit public key: expected an ECDSA P-256 key');
  }
  return { publicKey, keyId: auditKeyIdOf(publicKey) };
}
