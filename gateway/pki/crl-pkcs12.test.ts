/**
 * The CRL and the PKCS#12 bundles, checked by an independent implementation: the openssl command
 * line (OpenSSL parses, verifies the CA signature, and refuses a revoked certificate with the CRL),
 * plus Node's TLS stack loading the PKCS#12 and completing an mTLS handshake with it.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCa, type IssuedCertificate, issueCertificate } from './ca.ts';
import { crlToPem, signCrl } from './crl.ts';
import { createPkcs12 } from './pkcs12.ts';

const execFileAsync = promisify(execFile);

async function openssl(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync('openssl', args, { encoding: 'utf8' });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw new Error(`openssl is required for this suite: ${String(error)}`);
    return { code: e.code, output: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

let work: string;
let ca: CertificateAuthority;
let revokedLeaf: IssuedCertificate;
let goodLeaf: IssuedCertificate;
let n = 0;

function file(name: string, content: string | Buffer): string {
  const full = path.join(work, `${++n}-${name}`);
  writeFileSync(full, content);
  return full;
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'gw-crl-'));
  ca = createCa({ commonName: 'Laender-Gateway CA', days: 1, keyAlgorithm: 'rsa-2048' });
  const leaf = (name: string) =>
    issueCertificate(ca, {
      commonName: name,
      sanUris: [`urn:laender-gateway:system:${name}`],
      usage: ['client', 'signing'],
      days: 1,
      keyAlgorithm: 'ec-p256',
    });
  revokedLeaf = leaf('sn-melde');
  goodLeaf = leaf('st-melde');
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('CRL', () => {
  const hour = 3_600_000;

  function crl(entries: Parameters<typeof signCrl>[0]['entries'], number = 7n): Buffer {
    const now = new Date();
    return signCrl(
      { entries, thisUpdate: now, nextUpdate: new Date(now.getTime() + hour), number },
      { certPem: ca.certPem, privateKey: createPrivateKey(ca.keyPem) },
    );
  }

  it('is a DER v2 CRL signed by the CA, with the revoked serial, reason, number and AKI', async () => {
    const der = crl([{ serial: revokedLeaf.serial, revokedAt: new Date(), reason: 'keyCompromise' }], 1234n);
    const result = await openssl([
      'crl',
      '-inform',
      'DER',
      '-in',
      file('crl.der', der),
      '-CAfile',
      file('ca.pem', ca.certPem),
      '-noout',
      '-text',
    ]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/verify OK/);
    expect(result.output).toContain('Version 2');
    expect(result.output).toContain('Issuer: CN = Laender-Gateway CA');
    expect(result.output).toContain(`Serial Number: ${revokedLeaf.serial.toUpperCase()}`);
    expect(result.output).toContain('Key Compromise');
    expect(result.output).toMatch(/CRL Number:\s+1234/);
    expect(result.output).toContain('Authority Key Identifier');
  });

  it('makes OpenSSL refuse the revoked certificate and accept the others', async () => {
    const crlFile = file(
      'crl.pem',
      crlToPem(crl([{ serial: revokedLeaf.serial, revokedAt: new Date(), reason: 'unspecified' }])),
    );
    const caFile = file('ca.pem', ca.certPem);
    const verify = (certPem: string) =>
      openssl(['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', crlFile, file('leaf.pem', certPem)]);
    const revoked = await verify(revokedLeaf.certPem);
    expect(revoked.code).not.toBe(0);
    expect(revoked.output).toContain('certificate revoked');
    const good = await verify(goodLeaf.certPem);
    expect(good.code, good.output).toBe(0);
  });

  it('an empty CRL omits revokedCertificates and verifies', async () => {
    const caFile = file('ca.pem', ca.certPem);
    const crlFile = file('empty.pem', crlToPem(crl([])));
    const result = await openssl(['crl', '-in', crlFile, '-CAfile', caFile, '-noout', '-text']);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('No Revoked Certificates');
    const leaf = await openssl([
      'verify',
      '-crl_check',
      '-CAfile',
      caFile,
      '-CRLfile',
      crlFile,
      file('leaf.pem', revokedLeaf.certPem),
    ]);
    expect(leaf.code, leaf.output).toBe(0);
  });

  it('a CRL signed by another CA does not verify', async () => {
    const other = createCa({ commonName: 'Laender-Gateway CA', days: 1, keyAlgorithm: 'rsa-2048' });
    const now = new Date();
    const forged = signCrl(
      { entries: [], thisUpdate: now, nextUpdate: new Date(now.getTime() + hour), number: 1n },
      { certPem: other.certPem, privateKey: createPrivateKey(other.keyPem) },
    );
    const result = await openssl([
      'crl',
      '-inform',
      'DER',
      '-in',
      file('forged.der', forged),
      '-CAfile',
      file('ca.pem', ca.certPem),
      '-noout',
    ]);
    expect(result.output).not.toMatch(/verify OK/);
  });
});

describe('PKCS#12', () => {
  it.each(['ec-p256', 'rsa-2048'] as const)(
    '%s: OpenSSL checks the MAC and decrypts the key; a wrong password fails',
    async (keyAlgorithm) => {
      const leaf = issueCertificate(ca, {
        commonName: 'sn-melde',
        usage: ['client', 'signing'],
        days: 1,
        keyAlgorithm,
      });
      const p12 = file(
        'bundle.p12',
        createPkcs12({
          key: leaf.keyPem,
          certificatesPem: [leaf.certPem, ca.certPem],
          password: 'correct-Password_1',
          friendlyName: 'sn-melde',
        }),
      );
      const good = await openssl([
        'pkcs12',
        '-in',
        p12,
        '-passin',
        'pass:correct-Password_1',
        '-nodes',
        '-info',
      ]);
      expect(good.code, good.output).toBe(0);
      expect(good.output).toContain('MAC: sha256');
      expect(good.output).toContain('PBES2, PBKDF2, AES-256-CBC');
      expect(good.output).toContain('friendlyName: sn-melde');
      expect(good.output).toContain('subject=CN = sn-melde');
      expect(good.output).toContain('BEGIN PRIVATE KEY');
      const bad = await openssl(['pkcs12', '-in', p12, '-passin', 'pass:wrong', '-nodes', '-noout']);
      expect(bad.code).not.toBe(0);
      expect(bad.output).toMatch(/mac verify/i);
    },
  );

  it('Node TLS presents the PKCS#12 identity in a real mTLS handshake', async () => {
    const serverCert = issueCertificate(ca, {
      commonName: 'localhost',
      sanIps: ['127.0.0.1'],
      usage: 'server',
      days: 1,
      keyAlgorithm: 'ec-p256',
    });
    const leaf = issueCertificate(ca, {
      commonName: 'sn-melde',
      usage: ['client', 'signing'],
      days: 1,
      keyAlgorithm: 'ec-p256',
    });
    const pfx = createPkcs12({
      key: leaf.keyPem,
      certificatesPem: [leaf.certPem, ca.certPem],
      password: 'pw-123456',
    });
    const server = createServer(
      {
        key: serverCert.keyPem,
        cert: serverCert.certPem,
        ca: ca.certPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (request, response) => {
        const peer = (request.socket as TLSSocket).getPeerCertificate();
        response.end(peer.subject.CN);
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const body = await new Promise<string>((resolve, reject) => {
        const socket = connect(
          { host: '127.0.0.1', port, pfx, passphrase: 'pw-123456', ca: ca.certPem },
          () => {
            socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
          },
        );
        let received = '';
        socket.on('data', (chunk) => {
          received += chunk;
        });
        socket.on('end', () => resolve(received));
        socket.on('error', reject);
      });
      expect(body).toMatch(/^HTTP\/1\.1 200/);
      expect(body.trimEnd().endsWith('sn-melde')).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
