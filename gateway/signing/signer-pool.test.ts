/**
 * The sealing thread pool: real worker threads (running the compiled signer-worker.ts), real keys. Every seal it
 * returns must verify (fast path and xmldsigjs), work must spread over the threads, a rotation must
 * switch the key for every later request, and a dying thread must not take sealing down.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../errors/catalogue.ts';
import { type CertificateAuthority, createCa, issueCertificate } from '../pki/ca.ts';
import type { SigningKey } from './signer.ts';
import { SignerPool } from './signer-pool.ts';
import { verifyDocument } from './verifier.ts';

let ca: CertificateAuthority;
let anchor: X509Certificate;
const pools: SignerPool[] = [];

function key(algorithm: SigningKey['algorithm']): SigningKey {
  const issued = issueCertificate(ca, {
    commonName: `pool ${algorithm}`,
    usage: 'signing',
    days: 1,
    keyAlgorithm: algorithm === 'rsa-sha256' ? 'rsa-2048' : 'ec-p256',
  });
  return { privateKey: createPrivateKey(issued.keyPem), certPem: issued.certPem, algorithm };
}

function document(n: number): string {
  return `<x:Nachricht xmlns:x="urn:xoev-de:test" nr="${n}"><x:Name>Jörg &amp; Söhne ${n}</x:Name></x:Nachricht>`;
}

function pool(options: ConstructorParameters<typeof SignerPool>[0]): SignerPool {
  const created = new SignerPool(options);
  pools.push(created);
  return created;
}

beforeAll(() => {
  ca = createCa({ commonName: 'Pool Test CA', days: 1, keyAlgorithm: 'rsa-2048' });
  anchor = new X509Certificate(ca.certPem);
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

describe('SignerPool', () => {
  it.each(['rsa-sha256', 'ecdsa-p256-sha256'] as const)(
    'seals on two threads; every seal verifies (%s)',
    async (algorithm) => {
      const signingKey = key(algorithm);
      const signers = pool({ threads: 2, key: signingKey });
      await signers.whenReady();
      expect(signers.readyThreads).toBe(2);
      const signed = await Promise.all(Array.from({ length: 200 }, (_, n) => signers.sign(document(n))));
      const pinned = new X509Certificate(signingKey.certPem);
      for (const [n, xml] of signed.entries()) {
        const verified = await verifyDocument(xml, { trustAnchors: [anchor], pinned });
        expect(verified.root.getAttribute('nr')).toBe(String(n));
      }
      // Independent engine on a sample: xmldsigjs canonicalizes instead of trusting the bytes.
      for (const xml of signed.slice(0, 5)) {
        expect(
          (await verifyDocument(xml, { trustAnchors: [anchor], pinned, engine: 'xmldsigjs' })).verifiedBy,
        ).toBe('xmldsigjs');
      }
      const counts = signers.signedCounts;
      expect(counts.inline).toBe(0);
      expect(counts.threads).toHaveLength(2);
      for (const perThread of counts.threads) expect(perThread).toBeGreaterThan(20);
    },
  );

  it('setKey: every request after a rotation is sealed with the new key', async () => {
    const first = key('rsa-sha256');
    const second = key('ecdsa-p256-sha256');
    const signers = pool({ threads: 2, key: first });
    await signers.whenReady();
    const before = await Promise.all([0, 1, 2, 3].map((n) => signers.sign(document(n))));
    signers.setKey(second);
    const after = await Promise.all([4, 5, 6, 7].map((n) => signers.sign(document(n))));
    const firstCert = new X509Certificate(first.certPem);
    const secondCert = new X509Certificate(second.certPem);
    for (const xml of before) await verifyDocument(xml, { trustAnchors: [anchor], pinned: firstCert });
    for (const xml of after) await verifyDocument(xml, { trustAnchors: [anchor], pinned: secondCert });
    // Documents sealed before the rotation stay verifiable against the set of both certificates.
    for (const xml of [...before, ...after]) {
      await verifyDocument(xml, { trustAnchors: [anchor], pinned: [secondCert, firstCert] });
    }
  });

  it('threads 0 signs on the calling thread', async () => {
    const signingKey = key('rsa-sha256');
    const signers = pool({ threads: 0, key: signingKey });
    const xml = await signers.sign(document(1));
    await verifyDocument(xml, { trustAnchors: [anchor], pinned: new X509Certificate(signingKey.certPem) });
    expect(signers.signedCounts).toEqual({ threads: [], inline: 1 });
  });

  it('signs inline while the threads are still starting', async () => {
    const signingKey = key('rsa-sha256');
    const signers = pool({ threads: 1, key: signingKey });
    expect(signers.readyThreads).toBe(0);
    const xml = await signers.sign(document(2));
    expect(signers.signedCounts.inline).toBe(1);
    await verifyDocument(xml, { trustAnchors: [anchor], pinned: new X509Certificate(signingKey.certPem) });
  });

  it('a worker that refuses input answers with the GatewayError code; the pool keeps working', async () => {
    const signers = pool({ threads: 1, key: key('rsa-sha256') });
    await signers.whenReady();
    const error = await signers.sign('<?xml version="1.0"?><a></a>').catch((e: unknown) => e);
    expect(isGatewayError(error) && error.code).toBe('GW_ERR_INTERNAL');
    expect(String((error as Error).message)).toContain('not a canonical XML document');
    await expect(signers.sign(document(3))).resolves.toContain('<ds:SignatureValue>');
  });

  it('a thread that dies fails only its requests and is replaced', async () => {
    const signers = pool({ threads: 2, key: key('rsa-sha256') });
    await signers.whenReady();
    const slots = (signers as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots;
    const inFlight = Array.from({ length: 20 }, (_, n) =>
      signers.sign(document(n)).then(
        () => 'ok',
        () => 'failed',
      ),
    );
    await slots[0]!.worker.terminate();
    const outcomes = await Promise.all(inFlight);
    expect(outcomes.filter((o) => o === 'ok').length).toBeGreaterThan(0);
    await signers.whenReady();
    expect(signers.readyThreads).toBe(2);
    await expect(signers.sign(document(99))).resolves.toContain('<ds:SignatureValue>');
  });

  it('after close() it refuses with GW_ERR_NOT_READY', async () => {
    const signers = pool({ threads: 1, key: key('rsa-sha256') });
    await signers.whenReady();
    await signers.close();
    const error = await signers.sign(document(1)).catch((e: unknown) => e);
    expect(isGatewayError(error) && error.code).toBe('GW_ERR_NOT_READY');
  });
});
