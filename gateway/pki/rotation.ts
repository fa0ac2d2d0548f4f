/**
 * Rotation of the gateway's sealing key without downtime.
 *
 * `gw pki rotate` (under the PKI lock): (1) copy the current signing.crt to
 * signing-previous/<serial>.crt, (2) issue a new key pair and certificate from the CA, (3) write
 * signing.key, then signing.crt (each atomically). Running gateways notice the new signing.crt
 * (trust.ts: fs.watch plus polling), load the pair, seal new documents with it, and keep verifying
 * seals against the current AND every previous certificate — so documents sealed before the
 * rotation, still on the bus or in inboxes, stay deliverable and verifiable.
 *
 * Order matters: the previous certificate is on disk before anything changes, so a reader never
 * sees a state in which a certificate that sealed something is not in the verification set. Between
 * steps (3a) and (3b) a reader may find a new key with the old certificate; loadSigningPair
 * detects the mismatch and the reader retries.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { GatewayError } from '../errors/catalogue.ts';
import type { SigningKey } from '../signing/signer.ts';
import { keyAlgorithmFor, LEAF_DAYS, type Pki, signingAlgorithmOfKey } from './bootstrap.ts';
import { ensureDir, readText, withLock, writeAtomic } from './files.ts';

export const PREVIOUS_SIGNING_DIR = 'signing-previous';

export interface SigningPair extends SigningKey {
  certificate: X509Certificate;
}

/** Reads signing.crt and signing.key; throws GW_ERR_NOT_READY when they do not belong together. */
export function loadSigningPair(pki: Pick<Pki, 'dir' | 'readGatewayKey'>): SigningPair {
  const certPem = readText(path.join(pki.dir, 'signing.crt'));
  const certificate = new X509Certificate(certPem);
  const privateKey = pki.readGatewayKey('signing.key');
  const fromKey = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const fromCert = certificate.publicKey.export({ type: 'spki', format: 'der' });
  if (!fromKey.equals(fromCert)) {
    throw new GatewayError(
      'GW_ERR_NOT_READY',
      'pki: signing.key and signing.crt do not match (rotation in progress?)',
    );
  }
  return { certPem, certificate, privateKey, algorithm: signingAlgorithmOfKey(privateKey) };
}

/** Certificates replaced by earlier rotations (oldest first by validity start). */
export function readPreviousSigningCertificates(pkiDir: string): X509Certificate[] {
  const dir = path.join(pkiDir, PREVIOUS_SIGNING_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => /^[0-9a-f]+\.crt$/.test(name))
    .map((name) => new X509Certificate(readText(path.join(dir, name))))
    .sort((a, b) => Date.parse(a.validFrom) - Date.parse(b.validFrom));
}

export interface RotationResult {
  previous: X509Certificate;
  current: X509Certificate;
}

export async function rotateSigningKey(
  pki: Pki,
  options: { signingAlgorithm: 'rsa-sha256' | 'ecdsa-p256-sha256'; rsaBits: 2048 | 3072 },
): Promise<RotationResult> {
  return withLock(pki.dir, () => {
    const previousPem = readText(path.join(pki.dir, 'signing.crt'));
    const previous = new X509Certificate(previousPem);
    const archive = path.join(pki.dir, PREVIOUS_SIGNING_DIR);
    ensureDir(archive);
    writeAtomic(path.join(archive, `${previous.serialNumber.toLowerCase()}.crt`), previousPem);
    const issued = pki.issue({
      commonName: 'laender-gateway signing',
      sanUris: ['urn:laender-gateway:gateway:signing'],
      usage: 'signing',
      days: LEAF_DAYS,
      keyAlgorithm: keyAlgorithmFor(options.signingAlgorithm, options.rsaBits),
    });
    pki.writeGatewayPair('signing', issued);
    return { previous, current: new X509Certificate(issued.certPem) };
  });
}
