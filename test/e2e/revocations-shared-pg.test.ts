/**
 * Certificate revocation in the replicated deployment: two gateways on one PostgreSQL, each with its
 * OWN data directory holding a copy of the one PKI (a StatefulSet's emptyDir per pod, filled by the
 * init container from the PKI Secret). `gw pki revoke <serial>` run beside gateway-0
 * (`kubectl exec gateway-0 -- gw pki revoke …`) makes gateway-1 refuse the system's certificate
 * within two seconds over real mutual TLS (401 GW_ERR_CLIENT_CERT_REVOKED, audited in its chain);
 * a replica started from a fresh copy of the Secret (a replaced pod) refuses it from its first
 * request; the CRL of every replica lists the serial, signed by the CA. A revocation left in a data
 * directory's revoked.json from the embedded mode is imported at start and refused everywhere.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeSerial } from '../../gateway/pki/revocation.ts';
import { dropSchema, freshSchemaName, PG_URL } from '../conformance/pg-test-schema.ts';
import { type GwResult, runGw } from '../kafka/support/gw-process.ts';
import {
  eventually,
  startTestGateway,
  TEST_PASSPHRASE,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';

const INBOX = (system: string) => `/v1/systems/${system}/inbox`;
const REVOKED = { status: 401, code: 'GW_ERR_CLIENT_CERT_REVOKED' };
// A `gw` process starts Node, tsx and the CLI's modules: seconds apiece on a busy machine.
const PROCESS_TEST_TIMEOUT_MS = 180_000;

describe('certificate revocations of replicas on one PostgreSQL, each with its own data directory', () => {
  const schema = freshSchemaName('revocations_e2e');
  const dirs: string[] = [];
  const replicas: TestGateway[] = [];
  /** The PKI Secret: the PKI as `gw pki init` made it, copied into every replica's data directory. */
  let secret: string;
  let a: TestGateway;
  let b: TestGateway;

  async function replica(name: string, prepare?: (pkiDir: string) => Promise<void>): Promise<TestGateway> {
    const dataDir = tempDir(`revocations-${name}`);
    dirs.push(dataDir);
    if (secret) cpSync(secret, path.join(dataDir, 'pki'), { recursive: true });
    await prepare?.(path.join(dataDir, 'pki'));
    const started = await startTestGateway({
      dataDir,
      env: {
        DATABASE_URL: PG_URL,
        DATABASE_SCHEMA: schema,
        GATEWAY_AUDIT_CHAIN: name,
        GATEWAY_AUDIT_CHECKPOINT_SECONDS: '3600',
      },
    });
    replicas.push(started);
    return started;
  }

  async function stop(replica: TestGateway): Promise<void> {
    replicas.splice(replicas.indexOf(replica), 1);
    await replica.stop();
  }

  /** `gw` as its own process beside a replica: its data directory, the installation's configuration. */
  function gw(beside: TestGateway, ...args: string[]): Promise<GwResult> {
    return runGw(args, {
      ...process.env,
      GATEWAY_DATA_DIR: beside.dataDir,
      GATEWAY_CONTRACTS_DIR: beside.contractsDir,
      GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      GATEWAY_LOG_LEVEL: 'silent',
      DATABASE_URL: PG_URL,
      DATABASE_SCHEMA: schema,
    });
  }

  async function asSystem(at: TestGateway, system: string) {
    const r = await at.client(system).call<{ code: string; requestId: string }>('GET', INBOX(system));
    return r.status === 200
      ? { status: 200, code: undefined, requestId: undefined }
      : { status: r.status, code: r.body.code, requestId: r.body.requestId };
  }
  const refusal = async (at: TestGateway, system: string) => {
    const { status, code } = await asSystem(at, system);
    return { status, code };
  };

  const serialOf = (system: string) =>
    new X509Certificate(readFileSync(path.join(secret, `systems/${system}.crt`))).serialNumber.toLowerCase();

  /** The replica's CRL as OpenSSL reads it, verified against the CA. */
  async function crlText(at: TestGateway): Promise<string> {
    const { request } = await import('undici');
    const response = await request(`${at.gateway.url}/v1/pki/crl`, { dispatcher: at.client(null).agent });
    expect(response.statusCode).toBe(200);
    const work = tempDir('revocations-crl');
    dirs.push(work);
    const der = path.join(work, 'crl.der');
    writeFileSync(der, Buffer.from(await response.body.arrayBuffer()));
    const { stdout, stderr } = await promisify(execFile)('openssl', [
      'crl',
      '-inform',
      'DER',
      '-in',
      der,
      '-CAfile',
      path.join(secret, 'ca.crt'),
      '-noout',
      '-text',
    ]);
    return `${stdout}${stderr}`;
  }

  beforeAll(async () => {
    a = await replica('gateway-0');
    secret = tempDir('revocations-secret');
    dirs.push(secret);
    cpSync(path.join(a.dataDir, 'pki'), secret, { recursive: true });
    rmSync(path.join(secret, '.lock'), { recursive: true, force: true });
    b = await replica('gateway-1');
  }, 120_000);
  afterAll(async () => {
    for (const r of replicas.splice(0)) await r.stop();
    await dropSchema(schema);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it(
    '`gw pki revoke` beside gateway-0 makes gateway-1 refuse the certificate within 2 s, audited; a replica from a fresh copy of the PKI refuses it too; both CRLs list it',
    async () => {
      const serial = serialOf('sn-melde');
      expect(await refusal(a, 'sn-melde')).toEqual({ status: 200, code: undefined });
      expect(await refusal(b, 'sn-melde')).toEqual({ status: 200, code: undefined });

      const revoked = await gw(a, 'pki', 'revoke', serial, '--reason', 'keyCompromise');
      const exitedAt = Date.now();
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(revoked.stdout).toContain(`revoked ${serial}`);
      // Each replica polls the store on its own: both refuse within 2 s of the command's exit — the
      // one it ran beside has no head start.
      const firstRefusal = (at: TestGateway, name: string) =>
        eventually(
          async () => {
            const r = await asSystem(at, 'sn-melde');
            return r.status === 200 ? undefined : { ...r, at: Date.now() };
          },
          10_000,
          `${name} refusing the revoked certificate`,
        );
      const [refused, refusedBeside] = await Promise.all([
        firstRefusal(b, 'gateway-1'),
        firstRefusal(a, 'gateway-0'),
      ]);
      for (const r of [refused, refusedBeside]) {
        expect(r.at - exitedAt, `refused ${r.at - exitedAt} ms after the command`).toBeLessThan(2000);
        expect({ status: r.status, code: r.code }).toEqual(REVOKED);
      }
      expect(await refusal(b, 'sn-melde')).toEqual(REVOKED);
      expect(await refusal(a, 'sn-melde')).toEqual(REVOKED);
      // The other systems are untouched.
      expect(await refusal(b, 'st-melde')).toEqual({ status: 200, code: undefined });

      // Audited: gateway-1's refusal in its own chain, with the system and the serial; the revocation by the CLI.
      const rejected = await b.gateway.auditStore.query({ messageId: refused.requestId! });
      expect(rejected).toEqual([
        expect.objectContaining({
          kind: 'rejected',
          chain: 'gateway-1',
          actor: 'system:sn-melde',
          detail: expect.objectContaining({ code: 'GW_ERR_CLIENT_CERT_REVOKED', certificateSerial: serial }),
        }),
      ]);
      const revocations = await b.gateway.auditStore.query({ kind: 'certificate-revoked' });
      expect(revocations).toEqual([
        expect.objectContaining({
          actor: 'cli',
          senderSystem: 'sn-melde',
          detail: expect.objectContaining({ serial, reason: 'keyCompromise' }),
        }),
      ]);

      // Both replicas publish it in a CRL the CA signed.
      for (const at of [a, b]) {
        const crl = await crlText(at);
        expect(crl).toMatch(/verify OK/);
        expect(crl).toContain(`Serial Number: ${serial.toUpperCase()}`);
        expect(crl).toContain('Key Compromise');
      }

      // gateway-1 replaced: a new pod, its data directory a fresh copy of the Secret, which has no
      // revocation file — the revocation is known from the store alone.
      await stop(b);
      const replaced = await replica('gateway-1-replaced');
      expect(existsSync(path.join(replaced.dataDir, 'pki/revoked.json'))).toBe(false);
      expect(await refusal(replaced, 'sn-melde')).toEqual(REVOKED);
      expect(await crlText(replaced)).toContain(`Serial Number: ${serial.toUpperCase()}`);
      b = replaced;

      // `gw pki list` beside any replica shows it revoked.
      const listed = await gw(b, 'pki', 'list', '--json');
      expect(listed.code, listed.stderr).toBe(0);
      const certificates = JSON.parse(listed.stdout) as { serial: string; status: string }[];
      expect(certificates.find((c) => c.serial === serial)?.status).toBe('revoked');
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'a revocation in a data directory’s revoked.json (the embedded mode) is imported at start and refused by every replica',
    async () => {
      const serial = serialOf('th-melde');
      expect(await refusal(a, 'th-melde')).toEqual({ status: 200, code: undefined });
      const moved = await replica('gateway-2', async (pkiDir) => {
        await revokeSerial(pkiDir, { serial, reason: 'superseded', by: 'cli' });
      });
      expect(await refusal(moved, 'th-melde')).toEqual(REVOKED);
      // The replicas already running poll the store: within 2 s.
      for (const [at, name] of [
        [a, 'gateway-0'],
        [b, 'gateway-1'],
      ] as const) {
        await eventually(
          async () => ((await refusal(at, 'th-melde')).status === 401 ? true : undefined),
          2000,
          `${name} refusing the imported revocation`,
        );
        expect(await refusal(at, 'th-melde')).toEqual(REVOKED);
      }
      // A second start with the same file imports nothing new and changes nothing.
      await stop(moved);
      const again = await replica('gateway-2-again', async (pkiDir) => {
        await revokeSerial(pkiDir, { serial, reason: 'keyCompromise', by: 'cli' });
      });
      expect(await refusal(again, 'th-melde')).toEqual(REVOKED);
      const crl = await crlText(again);
      expect(crl).toContain(`Serial Number: ${serial.toUpperCase()}`);
      expect(crl).toContain('Superseded');
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});
