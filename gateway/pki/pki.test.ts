import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../errors/catalogue.ts';
import { ensurePki, type Pki, type PkiOptions } from './bootstrap.ts';
import {
  createCa,
  decryptPrivateKey,
  decryptPrivateKeyPem,
  encryptPrivateKeyPem,
  isEncryptedPkcs8Pem,
  issueCertificate,
  readEncryptedPrivateKey,
  writeEncryptedPrivateKey,
} from './ca.ts';

const execFileAsync = promisify(execFile);
const PASSPHRASE = 'correct horse battery staple';
const temporaryDirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-pki-'));
  temporaryDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
});

function options(dir: string, overrides: Partial<PkiOptions> = {}): PkiOptions {
  return {
    dir,
    systems: ['sn-melde', 'st-melde'],
    passphrase: PASSPHRASE,
    signingAlgorithm: 'rsa-sha256',
    rsaBits: 2048,
    serverNames: ['localhost', '127.0.0.1'],
    ...overrides,
  };
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** keyUsage bits of an RSA certificate (forge cannot parse EC certificates). */
function keyUsageOf(certPem: string): Record<string, boolean> {
  const ext = forge.pki.certificateFromPem(certPem).getExtension('keyUsage') as Record<
    string,
    boolean
  > | null;
  return ext ?? {};
}

describe('ca primitives', () => {
  const ca = createCa({ commonName: 'Unit CA', days: 30, keyAlgorithm: 'rsa-2048' });

  it('creates a self-signed CA certificate with CA constraints', () => {
    const x = new X509Certificate(ca.certPem);
    expect(x.ca).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.serialNumber.toLowerCase()).toBe(ca.serial);
    expect(keyUsageOf(ca.certPem)).toMatchObject({ keyCertSign: true, cRLSign: true });
    expect(ca.keyPem).toContain('-----BEGIN PRIVATE KEY-----');
  });

  it.each(['rsa-2048', 'rsa-3072', 'ec-p256'] as const)(
    'issues %s end-entity certificates chaining to the CA',
    (keyAlgorithm) => {
      const issued = issueCertificate(ca, {
        commonName: 'sn-melde',
        sanUris: ['urn:laender-gateway:system:sn-melde'],
        sanDns: ['localhost'],
        sanIps: ['127.0.0.1'],
        usage: ['client', 'signing'],
        days: 2,
        keyAlgorithm,
      });
      const x = new X509Certificate(issued.certPem);
      const caX = new X509Certificate(ca.certPem);
      expect(x.checkIssued(caX)).toBe(true);
      expect(x.verify(caX.publicKey)).toBe(true);
      expect(x.ca).toBe(false);
      expect(x.serialNumber.toLowerCase()).toBe(issued.serial);
      expect(issued.serial).toMatch(/^[0-9a-f]{32}$/);
      expect(x.subjectAltName).toContain('URI:urn:laender-gateway:system:sn-melde');
      expect(x.subjectAltName).toContain('DNS:localhost');
      expect(x.subjectAltName).toContain('IP Address:127.0.0.1');
      expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // Node reports the extended key usage here
      expect(x.checkPrivateKey(createPrivateKey(issued.keyPem))).toBe(true);
      expect(createPrivateKey(issued.keyPem).asymmetricKeyType).toBe(
        keyAlgorithm.startsWith('rsa') ? 'rsa' : 'ec',
      );
      if (keyAlgorithm.startsWith('rsa')) {
        expect(keyUsageOf(issued.certPem)).toMatchObject({
          digitalSignature: true,
          nonRepudiation: true,
          keyEncipherment: true,
        });
        expect(keyUsageOf(issued.certPem).keyCertSign).toBeFalsy();
      }
    },
  );

  it('sets key usages per purpose', () => {
    const server = issueCertificate(ca, {
      commonName: 'gw',
      sanDns: ['localhost'],
      usage: 'server',
      days: 1,
      keyAlgorithm: 'rsa-2048',
    });
    expect(new X509Certificate(server.certPem).keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(keyUsageOf(server.certPem)).toMatchObject({ digitalSignature: true, keyEncipherment: true });
    const signing = issueCertificate(ca, {
      commonName: 'seal',
      usage: 'signing',
      days: 1,
      keyAlgorithm: 'rsa-2048',
    });
    expect(new X509Certificate(signing.certPem).keyUsage).toBeUndefined();
    expect(keyUsageOf(signing.certPem)).toMatchObject({ digitalSignature: true, nonRepudiation: true });
    expect(keyUsageOf(signing.certPem).keyEncipherment).toBeFalsy();
  });

  it('uses random, distinct serials', () => {
    const serials = new Set(
      Array.from(
        { length: 5 },
        () =>
          issueCertificate(ca, { commonName: 'x', usage: 'client', days: 1, keyAlgorithm: 'ec-p256' }).serial,
      ),
    );
    expect(serials.size).toBe(5);
  });

  it('encrypts and decrypts PKCS#8 keys with a passphrase', () => {
    const encrypted = encryptPrivateKeyPem(ca.keyPem, PASSPHRASE);
    expect(isEncryptedPkcs8Pem(encrypted)).toBe(true);
    expect(encrypted).not.toContain('BEGIN PRIVATE KEY');
    expect(() => createPrivateKey(encrypted)).toThrow();
    expect(() => decryptPrivateKey(encrypted, 'wrong passphrase')).toThrow();
    expect(decryptPrivateKeyPem(encrypted, PASSPHRASE)).toBe(ca.keyPem);
  });

  it('writes and reads encrypted key files (mode 0600)', () => {
    const file = path.join(tempDir(), 'key.pem');
    writeEncryptedPrivateKey(file, ca.keyPem, PASSPHRASE);
    expect(mode(file).toString(8)).toBe('600');
    expect(readFileSync(file, 'utf8')).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    expect(readEncryptedPrivateKey(file, PASSPHRASE).export({ type: 'pkcs8', format: 'pem' })).toBe(
      ca.keyPem,
    );
    expect(() => readEncryptedPrivateKey(file, 'wrong passphrase')).toThrow();
  });
});

describe('ensurePki', () => {
  let dir: string;
  let first: Pki;

  beforeAll(async () => {
    dir = path.join(tempDir(), 'pki');
    first = await ensurePki(options(dir));
  });

  it('creates the CA, the gateway identities and one certificate per system', () => {
    for (const name of [
      'ca.crt',
      'ca.key',
      'server.crt',
      'server.key',
      'signing.crt',
      'signing.key',
      'gateway-client.crt',
      'gateway-client.key',
      'systems/sn-melde.crt',
      'systems/sn-melde.key',
      'systems/st-melde.crt',
      'systems/st-melde.key',
    ]) {
      expect(existsSync(path.join(dir, name)), name).toBe(true);
    }
    expect(existsSync(path.join(dir, 'passphrase'))).toBe(false); // one was configured
    expect(first.warnings).toEqual([]);
    expect(first.systemCertPath('sn-melde')).toBe(path.join(dir, 'systems', 'sn-melde.crt'));
    expect(first.systemKeyPath('sn-melde')).toBe(path.join(dir, 'systems', 'sn-melde.key'));
  });

  it('writes every file with mode 0600 and every directory with 0700', () => {
    const files = filesUnder(dir);
    expect(files.length).toBeGreaterThanOrEqual(12);
    for (const file of files) expect(mode(file).toString(8), file).toBe('600');
    expect(mode(dir).toString(8)).toBe('700');
    expect(mode(path.join(dir, 'systems')).toString(8)).toBe('700');
  });

  it('keeps gateway keys encrypted at rest; system keys are plain PKCS#8 for hand-over', () => {
    for (const name of ['ca.key', 'server.key', 'signing.key', 'gateway-client.key']) {
      const pem = readFileSync(path.join(dir, name), 'utf8');
      expect(pem, name).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
      expect(() => createPrivateKey(pem), name).toThrow();
      expect(() => createPrivateKey({ key: pem, passphrase: 'not the passphrase' }), name).toThrow();
      expect(createPrivateKey({ key: pem, passphrase: PASSPHRASE }).type).toBe('private');
    }
    const systemKey = readFileSync(path.join(dir, 'systems', 'sn-melde.key'), 'utf8');
    expect(systemKey).toContain('-----BEGIN PRIVATE KEY-----');
    expect(
      new X509Certificate(readFileSync(path.join(dir, 'systems', 'sn-melde.crt'))).checkPrivateKey(
        createPrivateKey(systemKey),
      ),
    ).toBe(true);
  });

  it('issues certificates with the right names, usages and key types', () => {
    const server = new X509Certificate(first.server.certPem);
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(server.checkPrivateKey(createPrivateKey(first.server.keyPem))).toBe(true);
    expect(first.signing.algorithm).toBe('rsa-sha256');
    expect(first.signing.privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(new X509Certificate(first.signing.certPem).checkPrivateKey(first.signing.privateKey)).toBe(true);
    expect(new X509Certificate(first.gatewayClient.certPem).keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    const system = new X509Certificate(readFileSync(first.systemCertPath('st-melde')));
    expect(system.subject).toBe('CN=st-melde');
    expect(system.subjectAltName).toBe('URI:urn:laender-gateway:system:st-melde');
    for (const pem of [first.server.certPem, first.signing.certPem, first.gatewayClient.certPem]) {
      expect(new X509Certificate(pem).verify(first.caX509.publicKey)).toBe(true);
    }
  });

  it('reuses everything on a second call and only adds missing systems', async () => {
    const before = Object.fromEntries(filesUnder(dir).map((file) => [file, readFileSync(file, 'utf8')]));
    const second = await ensurePki(options(dir, { systems: ['sn-melde', 'st-melde', 'th-melde'] }));
    for (const [file, content] of Object.entries(before))
      expect(readFileSync(file, 'utf8'), file).toBe(content);
    expect(second.caCertPem).toBe(first.caCertPem);
    expect(new X509Certificate(second.signing.certPem).serialNumber).toBe(
      new X509Certificate(first.signing.certPem).serialNumber,
    );
    expect(new X509Certificate(second.server.certPem).serialNumber).toBe(
      new X509Certificate(first.server.certPem).serialNumber,
    );
    expect(second.created).toEqual(['systems/th-melde.key', 'systems/th-melde.crt']);
    expect(mode(path.join(dir, 'systems', 'th-melde.key')).toString(8)).toBe('600');
  });

  it('reissues the server certificate when the configured names are not covered', async () => {
    const before = new X509Certificate(first.server.certPem).serialNumber;
    const again = await ensurePki(options(dir, { serverNames: ['localhost', '127.0.0.1', 'gw.example.de'] }));
    const server = new X509Certificate(again.server.certPem);
    expect(server.serialNumber).not.toBe(before);
    expect(server.checkHost('gw.example.de')).toBe('gw.example.de');
    expect(again.created).toEqual(['server.key', 'server.crt']);
  });

  it('refuses to start with a wrong passphrase', async () => {
    const error = await ensurePki(options(dir, { passphrase: 'a different passphrase' })).catch(
      (e: unknown) => e,
    );
    expect(isGatewayError(error) && error.code).toBe('GW_ERR_CONFIG_INVALID');
  });

  it('refuses system ids that are not safe file names', async () => {
    const error = await ensurePki(options(dir, { systems: ['../evil'] })).catch((e: unknown) => e);
    expect(isGatewayError(error) && error.code).toBe('GW_ERR_CONFIG_INVALID');
  });

  it('generates a passphrase once when none is configured, and warns', async () => {
    const other = path.join(tempDir(), 'pki');
    const a = await ensurePki(
      options(other, { passphrase: undefined, signingAlgorithm: 'ecdsa-p256-sha256' }),
    );
    const passphraseFile = path.join(other, 'passphrase');
    expect(mode(passphraseFile).toString(8)).toBe('600');
    const generated = readFileSync(passphraseFile, 'utf8').trim();
    expect(generated.length).toBeGreaterThanOrEqual(32);
    expect(a.warnings.join('\n')).toMatch(/generated a random one/);
    expect(a.warnings.join('\n')).not.toContain(generated);
    expect(a.signing.algorithm).toBe('ecdsa-p256-sha256');
    expect(a.signing.privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(
      createPrivateKey({ key: readFileSync(path.join(other, 'signing.key'), 'utf8'), passphrase: generated })
        .type,
    ).toBe('private');

    const b = await ensurePki(
      options(other, { passphrase: undefined, signingAlgorithm: 'ecdsa-p256-sha256' }),
    );
    expect(readFileSync(passphraseFile, 'utf8').trim()).toBe(generated);
    expect(b.created).toEqual([]);
    expect(b.warnings.join('\n')).toMatch(/kept in/);
  });

  it('does not create two CAs when several processes start at once', async () => {
    const shared = path.join(tempDir(), 'pki');
    const bootstrapUrl = new URL('./bootstrap.ts', import.meta.url).href;
    const script = `import(${JSON.stringify(bootstrapUrl)})
      .then((m) => m.ensurePki(${JSON.stringify(options(shared))}))
      .then((pki) => console.log(pki.caX509.fingerprint256 + ' ' + pki.signing.certPem.length))`;
    const run = () => execFileAsync(process.execPath, ['--import', 'tsx', '-e', script], { timeout: 60_000 });
    const outputs = await Promise.all([run(), run(), run()]);
    const lines = new Set(outputs.map((output) => output.stdout.trim()));
    expect(lines.size).toBe(1);
    const local = await ensurePki(options(shared));
    expect([...lines][0]).toBe(`${local.caX509.fingerprint256} ${local.signing.certPem.length}`);
    expect(local.created).toEqual([]);
    expect(existsSync(path.join(shared, '.lock'))).toBe(false);
  });

  describe('systemOfClientCertificate', () => {
    const raw = (pem: string) => ({ raw: new X509Certificate(pem).raw });

    it('accepts a system certificate issued by the gateway CA (SAN URI)', () => {
      const pem = readFileSync(first.systemCertPath('sn-melde'), 'utf8');
      expect(first.systemOfClientCertificate(raw(pem))).toEqual({
        systemId: 'sn-melde',
        serial: new X509Certificate(pem).serialNumber.toLowerCase(),
      });
    });

    it('falls back to the CN when there is no system SAN URI', () => {
      const caKeyPem = decryptPrivateKeyPem(readFileSync(path.join(dir, 'ca.key'), 'utf8'), PASSPHRASE);
      const issued = issueCertificate(
        { certPem: first.caCertPem, keyPem: caKeyPem },
        { commonName: 'by-melde', usage: 'client', days: 1, keyAlgorithm: 'ec-p256' },
      );
      expect(first.systemOfClientCertificate(raw(issued.certPem))?.systemId).toBe('by-melde');
    });

    it('refuses a certificate of a foreign CA naming the same system', () => {
      const foreign = createCa({ commonName: 'Laender-Gateway CA', days: 30, keyAlgorithm: 'rsa-2048' });
      const forged = issueCertificate(foreign, {
        commonName: 'sn-melde',
        sanUris: ['urn:laender-gateway:system:sn-melde'],
        usage: ['client', 'signing'],
        days: 30,
        keyAlgorithm: 'ec-p256',
      });
      expect(first.systemOfClientCertificate(raw(forged.certPem))).toBeNull();
      // A self-signed certificate with our CA's name is refused too.
      expect(first.systemOfClientCertificate(raw(foreign.certPem))).toBeNull();
    });

    it('refuses expired and not-yet-valid certificates of our CA', () => {
      const caKeyPem = decryptPrivateKeyPem(readFileSync(path.join(dir, 'ca.key'), 'utf8'), PASSPHRASE);
      const ca = { certPem: first.caCertPem, keyPem: caKeyPem };
      const base = {
        commonName: 'sn-melde',
        sanUris: ['urn:laender-gateway:system:sn-melde'],
        usage: 'client',
        keyAlgorithm: 'ec-p256',
      } as const;
      const expired = issueCertificate(ca, {
        ...base,
        days: 1,
        notBefore: new Date(Date.now() - 3 * 86_400_000),
      });
      const future = issueCertificate(ca, { ...base, days: 1, notBefore: new Date(Date.now() + 86_400_000) });
      expect(first.systemOfClientCertificate(raw(expired.certPem))).toBeNull();
      expect(first.systemOfClientCertificate(raw(future.certPem))).toBeNull();
    });

    it('refuses certificates without client authentication, CA certificates and no certificate', () => {
      expect(first.systemOfClientCertificate(raw(first.server.certPem))).toBeNull();
      expect(first.systemOfClientCertificate(raw(first.caCertPem))).toBeNull();
      expect(first.systemOfClientCertificate({ raw: Buffer.alloc(0) })).toBeNull();
      expect(first.systemOfClientCertificate({})).toBeNull();
      expect(first.systemOfClientCertificate({ raw: Buffer.from('not a certificate') })).toBeNull();
    });
  });
});
