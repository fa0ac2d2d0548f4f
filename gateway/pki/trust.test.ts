/**
 * LiveTrust against the files the `gw pki` commands write: revocations and signing-key rotations
 * reach a running process within a second — through fs.watch, and through polling alone — and seals
 * made before a rotation keep verifying.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../log/logger.ts';
import { DocumentSigner } from '../signing/signer.ts';
import { refusalReason } from '../signing/verifier.ts';
import { ensurePki, type Pki } from './bootstrap.ts';
import { normalizeSerial, revokeSerial } from './revocation.ts';
import { rotateSigningKey } from './rotation.ts';
import { LiveTrust } from './trust.ts';

const logger = createLogger({ level: 'silent' });
const DOCUMENT = '<x:Nachricht xmlns:x="urn:xoev-de:test"><x:Wert>1</x:Wert></x:Nachricht>';
let work: string;
let pki: Pki;
const trusts: LiveTrust[] = [];

function live(options: { watch?: boolean; pollMs?: number } = {}): LiveTrust {
  const trust = new LiveTrust(pki, { logger, ...options });
  trusts.push(trust);
  return trust;
}

async function within<T>(ms: number, probe: () => T | undefined): Promise<{ value: T; elapsedMs: number }> {
  const started = Date.now();
  for (;;) {
    const value = probe();
    if (value !== undefined) return { value, elapsedMs: Date.now() - started };
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function systemSerial(id: string): string {
  return new X509Certificate(readFileSync(pki.systemCertPath(id))).serialNumber.toLowerCase();
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'gw-trust-'));
  pki = await ensurePki({
    dir: path.join(work, 'pki'),
    systems: ['sn-melde', 'st-melde', 'th-melde'],
    passphrase: 'trust test passphrase',
    signingAlgorithm: 'rsa-sha256',
    rsaBits: 2048,
    serverNames: ['localhost'],
  });
});

afterEach(() => {
  for (const trust of trusts.splice(0)) trust.close();
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('LiveTrust', () => {
  it('a revocation written by another writer is honoured within a second (fs.watch)', async () => {
    const trust = live({ pollMs: 60_000 }); // polling out of the way: the watcher must do it
    const serial = systemSerial('sn-melde');
    expect(trust.isRevoked(serial)).toBe(false);
    await revokeSerial(pki.dir, { serial, reason: 'keyCompromise' });
    const { elapsedMs } = await within(1000, () => (trust.isRevoked(serial) ? true : undefined));
    expect(elapsedMs).toBeLessThan(1000);
    expect(trust.revoked.map((entry) => entry.serial)).toContain(serial);
  });

  it('polling alone picks a revocation up within a second', async () => {
    const trust = live({ watch: false });
    const serial = systemSerial('st-melde');
    await revokeSerial(pki.dir, { serial });
    const { elapsedMs } = await within(1000, () => (trust.isRevoked(serial) ? true : undefined));
    expect(elapsedMs).toBeLessThan(1000);
  });

  it('a corrupt revocation file keeps the last good list', async () => {
    const trust = live({ watch: false, pollMs: 20 });
    const before = trust.revoked.length;
    expect(before).toBeGreaterThan(0);
    const file = path.join(pki.dir, 'revoked.json');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, '{ not json');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(trust.revoked.length).toBe(before);
    writeFileSync(file, good);
  });

  it('the CRL follows the revocation list', async () => {
    const trust = live();
    const first = trust.crlDer();
    expect(first).toBe(trust.crlDer()); // cached while nothing changed
    const serial = systemSerial('th-melde');
    await revokeSerial(pki.dir, { serial });
    await within(1000, () => (trust.isRevoked(serial) ? true : undefined));
    const second = trust.crlDer();
    expect(second.equals(first)).toBe(false);
    expect(second.includes(Buffer.from(serial, 'hex'))).toBe(true);
  });

  it('a rotation switches the sealing key without a restart; earlier seals keep verifying', async () => {
    const trust = live();
    const keys: string[] = [];
    trust.onSigningKeyChange((key) => keys.push(key.certPem));
    const before = new DocumentSigner(trust.signingKey()).signCanonical(DOCUMENT);
    const previousSerial = new X509Certificate(trust.signingKey().certPem).serialNumber.toLowerCase();

    const result = await rotateSigningKey(pki, { signingAlgorithm: 'ecdsa-p256-sha256', rsaBits: 2048 });
    expect(result.previous.serialNumber.toLowerCase()).toBe(previousSerial);
    await within(1000, () => (keys.length === 1 ? true : undefined));
    expect(new X509Certificate(keys[0]!).serialNumber).toBe(result.current.serialNumber);
    expect(trust.signingKey().algorithm).toBe('ecdsa-p256-sha256');
    expect(trust.signingCertificates().map((c) => c.serialNumber)).toEqual([
      result.current.serialNumber,
      result.previous.serialNumber,
    ]);

    const after = new DocumentSigner(trust.signingKey()).signCanonical(DOCUMENT);
    expect((await trust.verifySeal(before)).signer.serial).toBe(previousSerial);
    expect((await trust.verifySeal(after)).signer.serial).toBe(result.current.serialNumber.toLowerCase());

    // A fresh process (ensurePki + LiveTrust) sees the same: new key current, old one verifying.
    const restarted = new LiveTrust(
      await ensurePki({
        dir: pki.dir,
        systems: [],
        passphrase: 'trust test passphrase',
        signingAlgorithm: 'ecdsa-p256-sha256',
        rsaBits: 2048,
        serverNames: ['localhost'],
      }),
      { logger },
    );
    trusts.push(restarted);
    expect(restarted.signingKey().certPem).toBe(keys[0]);
    await restarted.verifySeal(before);
  });

  it('a revoked sealing certificate no longer verifies seals', async () => {
    const trust = live();
    const sealed = new DocumentSigner(trust.signingKey()).signCanonical(DOCUMENT);
    await trust.verifySeal(sealed);
    const serial = new X509Certificate(trust.signingKey().certPem).serialNumber.toLowerCase();
    await revokeSerial(pki.dir, { serial, reason: 'keyCompromise' });
    await within(1000, () => (trust.isRevoked(serial) ? true : undefined));
    const error = await trust.verifySeal(sealed).catch((e: unknown) => e);
    expect(refusalReason(error)).toBe('certificate-revoked');
  });

  it('a certificate outside the sealing set is refused even though the CA issued it', async () => {
    const trust = live();
    const system = pki.issue({ commonName: 'x', usage: 'signing', days: 1, keyAlgorithm: 'ec-p256' });
    const sealed = new DocumentSigner({
      privateKey: createPrivateKey(system.keyPem),
      certPem: system.certPem,
      algorithm: 'ecdsa-p256-sha256',
    }).signCanonical(DOCUMENT);
    expect(refusalReason(await trust.verifySeal(sealed).catch((e: unknown) => e))).toBe(
      'certificate-not-pinned',
    );
    await trust.verifySignedBy(sealed, new X509Certificate(system.certPem));
  });
});

describe('normalizeSerial', () => {
  it('yields what X509Certificate prints, keeping a leading zero nibble', () => {
    expect(normalizeSerial('0B:A7:2D:43')).toBe('0ba72d43');
    expect(normalizeSerial('0x0ba72d43')).toBe('0ba72d43');
    expect(normalizeSerial('ba72d43')).toBe('0ba72d43');
    expect(normalizeSerial('00ff01')).toBe('ff01');
    for (const bad of ['', 'xyz', '12 34 zz', 'a'.repeat(50)]) {
      expect(() => normalizeSerial(bad)).toThrow(/not a certificate serial number/);
    }
    for (let i = 0; i < 50; i++) {
      const certificate = pki.issue({ commonName: 's', usage: 'client', days: 1, keyAlgorithm: 'ec-p256' });
      const printed = new X509Certificate(certificate.certPem).serialNumber;
      expect(normalizeSerial(printed)).toBe(printed.toLowerCase());
      expect(normalizeSerial(printed.match(/../g)!.join(':'))).toBe(printed.toLowerCase());
    }
  });
});
