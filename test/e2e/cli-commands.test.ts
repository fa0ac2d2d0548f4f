/**
 * Operator commands run as the operator runs them (`gw …` as its own process), their results
 * checked with the tools a vendor or an operator would use on them:
 * - `gw standards export <dir>`: the directory holds every XSD, code list and example of the
 *   catalogue, byte for byte, and xmllint validates each exported example against the exported XSD;
 * - `gw pki issue <systemId>` beside a running gateway: the PEM certificate and key and the PKCS#12
 *   chain to the gateway CA for OpenSSL, name the system, and authenticate it over mTLS at the
 *   running gateway at once (curl, PEM and PKCS#12 alike), without a restart; an id the directory
 *   does not list is refused (nothing written, nothing audited) unless `--unlisted` says it is meant.
 */
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { SYSTEM_URI_PREFIX } from '../../gateway/pki/bootstrap.ts';
import { catalogue } from '../../standards/index.ts';
import { startTestGateway, TEST_PASSPHRASE, type TestGateway, tempDir } from '../support/gateway.ts';

const GW = path.join(REPO_ROOT, 'bin/gw.js');
// Each `gw` process starts Node, tsx and the CLI's modules: seconds apiece on a busy 2-core machine.
const PROCESS_TEST_TIMEOUT_MS = 180_000;

function gw(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GW, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, GATEWAY_LOG_LEVEL: 'warn', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A tool's exit code and output (a non-zero exit is an answer here, not an error). */
async function tool(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, {
      env: { ...process.env, ...env },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

const cleanup: string[] = [];
afterAll(() => {
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
});

describe('gw standards export <dir>', () => {
  it(
    'writes every XSD, code list and example of the catalogue; xmllint validates the examples against the exported XSDs',
    async () => {
      const dir = tempDir('standards-export');
      cleanup.push(dir);
      // Something of the vendor's own in the directory: the export leaves it alone.
      writeFileSync(path.join(dir, 'README.vendor'), 'ours\n');
      const exported = await gw(['standards', 'export', dir]);
      expect(exported.code, exported.stderr).toBe(0);
      expect(exported.stderr).toBe('');

      const versions = catalogue.standards();
      const lists = new Map(versions.flatMap((v) => v.codeLists.map((l) => [l.id, l] as const)));
      const examples = versions.reduce((n, v) => n + v.messageTypes.length, 0);
      expect(exported.stdout.trim()).toBe(
        `wrote ${versions.length} XSDs, ${lists.size} code lists and ${examples} examples to ${dir}`,
      );
      expect(readFileSync(path.join(dir, 'README.vendor'), 'utf8')).toBe('ours\n');

      for (const v of versions) {
        const folder = path.join(dir, v.standard, v.version);
        const xsd = path.join(folder, path.basename(v.xsdPath));
        expect(readFileSync(xsd, 'utf8'), `${v.standard} ${v.version} XSD`).toBe(
          readFileSync(v.xsdPath, 'utf8'),
        );
        const exampleFiles = v.messageTypes.map((t) => path.join(folder, 'examples', `${t.name}.xml`));
        expect(readdirSync(path.join(folder, 'examples')).sort()).toEqual(
          v.messageTypes.map((t) => `${t.name}.xml`).sort(),
        );
        for (const [i, t] of v.messageTypes.entries()) {
          expect(readFileSync(exampleFiles[i]!, 'utf8'), `${v.standard} ${v.version} ${t.name}`).toBe(
            readFileSync(path.join(v.examplesDir, `${t.name}.xml`), 'utf8'),
          );
        }
        // As a vendor would check them: the exported files alone, with xmllint.
        const lint = await tool('xmllint', ['--noout', '--nonet', '--schema', xsd, ...exampleFiles]);
        expect(lint.code, `${v.standard} ${v.version}: ${lint.stderr}`).toBe(0);
        for (const file of exampleFiles) expect(lint.stderr).toContain(`${file} validates`);
      }

      expect(readdirSync(path.join(dir, 'codelists')).sort()).toEqual(
        [...lists.keys()].map((id) => `${id}.json`).sort(),
      );
      for (const [id, list] of lists) {
        const written = JSON.parse(readFileSync(path.join(dir, 'codelists', `${id}.json`), 'utf8'));
        expect(written.listURI, id).toBe(list.listURI);
        expect(written.listVersionID, id).toBe(list.listVersionID);
        expect(written.codes, id).toEqual(list.codes);
      }

      const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as {
        versions: { xsd: string; messageTypes: { example: string }[]; codeLists: string[] }[];
      };
      expect(index.versions).toHaveLength(versions.length);
      for (const v of index.versions)
        for (const file of [v.xsd, ...v.messageTypes.map((t) => t.example), ...v.codeLists])
          expect(existsSync(path.join(dir, file)), file).toBe(true);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});

describe('gw pki issue <systemId> beside a running gateway', () => {
  let t: TestGateway;
  const asOperator = () => ({
    GATEWAY_DATA_DIR: t.dataDir,
    GATEWAY_CONTRACTS_DIR: t.contractsDir,
    GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
  });

  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** An mTLS request to the running gateway with curl, as the system's operator would send it. */
  async function curl(credentials: string[], route: string): Promise<{ status: number; body: string }> {
    const { stdout, stderr, code } = await tool('curl', [
      '--silent',
      '--show-error',
      '--cacert',
      path.join(t.dataDir, 'pki/ca.crt'),
      ...credentials,
      '--write-out',
      '\\n%{http_code}',
      `${t.gateway.url}${route}`,
    ]);
    expect(code, stderr).toBe(0);
    const cut = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
  }

  it(
    'writes a PEM certificate and key and a PKCS#12 that chain to the CA, name the system and authenticate it over mTLS at once',
    async () => {
      const pkiDir = path.join(t.dataDir, 'pki');
      const certFile = path.join(pkiDir, 'systems/st-melde.crt');
      const keyFile = path.join(pkiDir, 'systems/st-melde.key');
      const p12File = path.join(pkiDir, 'systems/st-melde.p12');
      const caFile = path.join(pkiDir, 'ca.crt');
      const previous = new X509Certificate(readFileSync(certFile));
      const previousSerial = previous.serialNumber.toLowerCase();

      const issued = await gw(['pki', 'issue', 'st-melde'], asOperator());
      expect(issued.code, issued.stderr).toBe(0);
      const certificate = new X509Certificate(readFileSync(certFile));
      const serial = certificate.serialNumber.toLowerCase();
      expect(serial).not.toBe(previousSerial);
      expect(issued.stdout).toContain(`serial ${serial}`);
      expect(issued.stdout).toContain(`certificate: ${certFile}`);
      expect(issued.stdout).toContain(`private key: ${keyFile}`);
      expect(issued.stdout).toContain(`PKCS#12:     ${p12File}`);
      expect(issued.stdout).toContain(`replaced ${previousSerial}`);
      const p12Password = /^PKCS#12 password \(shown once\): (\S+)$/m.exec(issued.stdout)?.[1];
      expect(p12Password, issued.stdout).toBeDefined();
      // The system's private key and its PKCS#12 are for the operator's eyes only.
      for (const file of [keyFile, p12File]) expect(statSync(file).mode & 0o077, file).toBe(0);

      // OpenSSL: chains to the gateway CA, for TLS client authentication.
      const verified = await tool('openssl', [
        'verify',
        '-CAfile',
        caFile,
        '-purpose',
        'sslclient',
        certFile,
      ]);
      expect(verified.stdout.trim(), verified.stderr).toBe(`${certFile}: OK`);
      // Names the system: the subject's CN and the system URI the gateway identifies callers by.
      const subject = await tool('openssl', [
        'x509',
        '-in',
        certFile,
        '-noout',
        '-subject',
        '-nameopt',
        'RFC2253',
      ]);
      expect(subject.stdout).toMatch(/^subject=(?:.*,)?CN=st-melde(?:,|$)/m);
      const san = await tool('openssl', ['x509', '-in', certFile, '-noout', '-ext', 'subjectAltName']);
      expect(san.stdout).toContain(`URI:${SYSTEM_URI_PREFIX}st-melde`);
      // The key is the certificate's.
      const certPublic = await tool('openssl', ['x509', '-in', certFile, '-noout', '-pubkey']);
      const keyPublic = await tool('openssl', ['pkey', '-in', keyFile, '-pubout']);
      expect(keyPublic.stdout).toBe(certPublic.stdout);

      // The PKCS#12 opens with the printed password and holds the same key, the certificate and the CA.
      const p12Env = { P12_PASSWORD: p12Password! };
      const p12Certs = await tool(
        'openssl',
        ['pkcs12', '-in', p12File, '-passin', 'env:P12_PASSWORD', '-nokeys'],
        p12Env,
      );
      expect(p12Certs.code, p12Certs.stderr).toBe(0);
      const pems =
        p12Certs.stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      expect(pems.map((pem) => new X509Certificate(pem).fingerprint256).sort()).toEqual(
        [certificate.fingerprint256, new X509Certificate(readFileSync(caFile)).fingerprint256].sort(),
      );
      const p12Key = await tool(
        'openssl',
        ['pkcs12', '-in', p12File, '-passin', 'env:P12_PASSWORD', '-nocerts', '-nodes'],
        p12Env,
      );
      expect(p12Key.code, p12Key.stderr).toBe(0);
      const p12KeyFile = path.join(tempDir('p12-key'), 'key.pem');
      cleanup.push(path.dirname(p12KeyFile));
      writeFileSync(p12KeyFile, p12Key.stdout, { mode: 0o600 });
      expect((await tool('openssl', ['pkey', '-in', p12KeyFile, '-pubout'])).stdout).toBe(certPublic.stdout);
      const wrongPassword = await tool(
        'openssl',
        ['pkcs12', '-in', p12File, '-passin', 'pass:not-the-password', '-nokeys'],
        p12Env,
      );
      expect(wrongPassword.code).not.toBe(0);

      // mTLS at the running gateway, no restart: the new certificate is st-melde, and only st-melde.
      const pem = ['--cert', certFile, '--key', keyFile];
      const p12 = ['--cert-type', 'P12', '--cert', `${p12File}:${p12Password}`];
      for (const credentials of [pem, p12]) {
        const own = await curl(credentials, '/v1/systems/st-melde/inbox');
        expect(own.status, own.body).toBe(200);
        const others = await curl(credentials, '/v1/systems/sn-melde/inbox');
        expect(others.status, others.body).toBe(403);
      }
      // Without a certificate the same route is refused: the 200 above was the certificate's doing.
      expect((await curl([], '/v1/systems/st-melde/inbox')).status).toBe(401);

      // The replaced certificate stays valid until revoked (the command says so), and is kept.
      const archived = path.join(pkiDir, 'systems/replaced', `st-melde-${previousSerial}.crt`);
      expect(new X509Certificate(readFileSync(archived)).fingerprint256).toBe(previous.fingerprint256);

      // Audited, and listed (only the serial's presence: the listing's format is not this test's).
      const audited = await t.gateway.auditStore.query({ kind: 'certificate-issued' });
      expect(audited.at(-1)).toMatchObject({
        actor: 'cli',
        senderSystem: 'st-melde',
        detail: { serial, replacedSerial: previousSerial, command: 'pki issue' },
      });
      const listed = await gw(['pki', 'list', '--json'], asOperator());
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain(serial);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'takes the PKCS#12 password from --p12-password-env and prints none',
    async () => {
      const issued = await gw(['pki', 'issue', 'th-melde', '--p12-password-env', 'P12_PASSWORD'], {
        ...asOperator(),
        P12_PASSWORD: 'given-by-the-operator',
      });
      expect(issued.code, issued.stderr).toBe(0);
      expect(issued.stdout).not.toContain('PKCS#12 password');
      expect(issued.stdout).not.toContain('given-by-the-operator');
      const p12File = path.join(t.dataDir, 'pki/systems/th-melde.p12');
      const opened = await tool(
        'openssl',
        ['pkcs12', '-in', p12File, '-passin', 'env:P12_PASSWORD', '-nokeys'],
        {
          P12_PASSWORD: 'given-by-the-operator',
        },
      );
      expect(opened.code, opened.stderr).toBe(0);
      const own = await curl(
        ['--cert-type', 'P12', '--cert', `${p12File}:given-by-the-operator`],
        '/v1/systems/th-melde/inbox',
      );
      expect(own.status, own.body).toBe(200);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'refuses a system the directory does not list, writing and auditing nothing; --unlisted issues it with a warning',
    async () => {
      const systemsDir = path.join(t.dataDir, 'pki/systems');
      const directoryFile = path.join(t.contractsDir, 'directory.yaml');
      const filesOf = (id: string) =>
        readdirSync(systemsDir, { recursive: true, encoding: 'utf8' }).filter((file) =>
          path.basename(file).startsWith(`${id}.`),
        );
      const issuedFor = async (id: string) =>
        (await t.gateway.auditStore.query({ kind: 'certificate-issued' })).filter(
          (event) => event.senderSystem === id,
        );

      // bw-kfz: a typo for one of the listed -kfz systems, as far as the directory knows.
      const refused = await gw(['pki', 'issue', 'bw-kfz'], asOperator());
      expect(refused.code, refused.stdout).not.toBe(0);
      expect(refused.stderr).toContain('GW_ERR_UNKNOWN_SYSTEM');
      expect(refused.stderr).toContain(`bw-kfz is not listed in ${directoryFile}`);
      expect(refused.stderr).toContain('closest listed: sn-kfz, st-kfz, th-kfz');
      expect(refused.stderr).toContain('--unlisted');
      expect(refused.stdout).toBe('');
      expect(filesOf('bw-kfz')).toEqual([]);
      expect(await issuedFor('bw-kfz')).toEqual([]);

      // Prepared ahead of the directory change on purpose: issued, audited as such, and warned about.
      const prepared = await gw(['pki', 'issue', 'bw-kfz', '--unlisted'], asOperator());
      expect(prepared.code, prepared.stderr).toBe(0);
      expect(prepared.stderr).toContain(
        `warning: bw-kfz is not listed in ${directoryFile}; the gateway refuses this certificate`,
      );
      const certFile = path.join(systemsDir, 'bw-kfz.crt');
      const certificate = new X509Certificate(readFileSync(certFile));
      expect(prepared.stdout).toContain(`serial ${certificate.serialNumber.toLowerCase()}`);
      expect(filesOf('bw-kfz').sort()).toEqual(['bw-kfz.crt', 'bw-kfz.key', 'bw-kfz.p12']);
      const audited = await issuedFor('bw-kfz');
      expect(audited).toHaveLength(1);
      expect(audited[0]).toMatchObject({
        actor: 'cli',
        detail: { serial: certificate.serialNumber.toLowerCase(), command: 'pki issue', unlisted: true },
      });
      // As the warning says: the running gateway refuses it until the directory lists bw-kfz.
      const refusedAtGateway = await curl(
        ['--cert', certFile, '--key', path.join(systemsDir, 'bw-kfz.key')],
        '/v1/systems/bw-kfz/inbox',
      );
      expect(refusedAtGateway.status, refusedAtGateway.body).toBe(403);
      expect(refusedAtGateway.body).toContain('GW_ERR_CLIENT_CERT_FORBIDDEN');
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});
