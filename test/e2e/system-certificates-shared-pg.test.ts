import { createPrivateKey, X509Certificate } from 'node:crypto';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { signingAlgorithmOfKey } from '../../gateway/pki/bootstrap.ts';
import { DocumentSigner } from '../../gateway/signing/signer.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from '../conformance/pg-test-schema.ts';
import { type GwResult, runGw } from '../kafka/support/gw-process.ts';
import {
  eventually,
  startTestGateway,
  TEST_PASSPHRASE,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { scraperAuth } from '../support/metrics-scrape.ts';

// A `gw` process starts Node, tsx and the CLI's modules: seconds apiece on a busy machine.
const PROCESS_TEST_TIMEOUT_MS = 180_000;
/** Not a catalogued standard: a document whose signature passed is refused next for its root element. */
const DOCUMENT = '<x:Antrag xmlns:x="urn:xoev-de:test"><x:Wert>1</x:Wert></x:Antrag>';
const SIGNATURE_VERIFIED = { status: 422, code: 'GW_ERR_UNKNOWN_STANDARD' };
const SIGNATURE_REFUSED = { status: 422, code: 'GW_ERR_SIGNATURE_INVALID' };

interface Identity {
  certPem: string;
  keyPem: string;
}

describe('system certificates of replicas on one PostgreSQL, each with its own data directory', () => {
  const schema = freshSchemaName('system_certificates_e2e');
  const dirs: string[] = [];
  const replicas: TestGateway[] = [];
  const clients: SystemClient[] = [];
  /** The PKI Secret: the PKI as the first start made it, copied into every replica's data directory. */
  let secret: string;
  let a: TestGateway;
  let b: TestGateway;

  async function replica(name: string): Promise<TestGateway> {
    const dataDir = tempDir(`pins-${name}`);
    dirs.push(dataDir);
    if (secret) cpSync(secret, path.join(dataDir, 'pki'), { recursive: true });
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

  const identityIn = (pkiDir: string, system: string): Identity => ({
    certPem: readFileSync(path.join(pkiDir, 'systems', `${system}.crt`), 'utf8'),
    keyPem: readFileSync(path.join(pkiDir, 'systems', `${system}.key`), 'utf8'),
  });
  const serialOf = (identity: Identity) => new X509Certificate(identity.certPem).serialNumber.toLowerCase();

  /**
   * POST /v1/messages as `identity` (mutual TLS with its certificate) with DOCUMENT signed by its
   * key: what the replica says about the sender's signature.
   */
  async function signedBy(at: TestGateway, identity: Identity): Promise<{ status: number; code: string }> {
    const privateKey = createPrivateKey(identity.keyPem);
    const signed = new DocumentSigner({
      privateKey,
      certPem: identity.certPem,
      algorithm: signingAlgorithmOfKey(privateKey),
    }).signCanonical(DOCUMENT);
    const client = new SystemClient(at.gateway.url, {
      caPem: readFileSync(path.join(secret, 'ca.crt'), 'utf8'),
      certPem: identity.certPem,
      keyPem: identity.keyPem,
    });
    clients.push(client);
    const r = await client.call<{ code: string }>('POST', '/v1/messages', signed, {
      'content-type': 'application/xml',
    });
    return { status: r.status, code: r.body.code };
  }

  beforeAll(async () => {
    a = await replica('gateway-0');
    secret = tempDir('pins-secret');
    dirs.push(secret);
    cpSync(path.join(a.dataDir, 'pki'), secret, { recursive: true });
    rmSync(path.join(secret, '.lock'), { recursive: true, force: true });
    b = await replica('gateway-1');
  }, 120_000);
  afterAll(async () => {
    for (const c of clients.splice(0)) await c.close();
    for (const r of replicas.splice(0)) await r.stop();
    await dropSchema(schema);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it(
    '`gw pki issue` beside gateway-0 re-pins the system at gateway-1 within 2 s: the new key verifies, the replaced one is refused; a replica from the stale Secret pins the new one',
    async () => {
      const old = identityIn(secret, 'sn-melde');
      for (const at of [a, b]) expect(await signedBy(at, old)).toEqual(SIGNATURE_VERIFIED);

      // Shorter than the 730 days of the certificate it replaces, so the expiry gauge tells them apart.
      const issued = await gw(a, 'pki', 'issue', 'sn-melde', '--days', '400');
      const exitedAt = Date.now();
      expect(issued.code, issued.stderr).toBe(0);
      const renewed = identityIn(path.join(a.dataDir, 'pki'), 'sn-melde');
      expect(serialOf(renewed)).not.toBe(serialOf(old));
      expect(issued.stdout).toContain(`replaced ${serialOf(old)}`);
      // gateway-1's data directory still has the old certificate; it pins the new one on its own.
      expect(identityIn(path.join(b.dataDir, 'pki'), 'sn-melde').certPem).toBe(old.certPem);
      // Each replica pins it at its own next poll (every 250 ms): gateway-0 is not told by the command.
      for (const [at, name] of [
        [b, 'gateway-1'],
        [a, 'gateway-0'],
      ] as const) {
        const pinnedAt = await eventually(
          async () =>
            (await signedBy(at, renewed)).code === SIGNATURE_VERIFIED.code ? Date.now() : undefined,
          10_000,
          `${name} verifying the new certificate`,
        );
        expect(
          pinnedAt - exitedAt,
          `${name} pinned ${pinnedAt - exitedAt} ms after the command`,
        ).toBeLessThan(2000);
        expect(await signedBy(at, renewed)).toEqual(SIGNATURE_VERIFIED);
      }
      // gateway-1's expiry gauge shows the certificate it now verifies with, not its systems/ copy.
      const metrics = String(
        (await b.client(null).call<string>('GET', '/metrics', undefined, await scraperAuth(b.gateway))).body,
      );
      const gauge = /^gateway_certificate_expiry_seconds\{kind="system",system="sn-melde"\} (\S+)$/m.exec(
        metrics,
      )?.[1];
      const renewedLeft = (Date.parse(new X509Certificate(renewed.certPem).validTo) - Date.now()) / 1000;
      expect(Math.abs(Number(gauge) - renewedLeft), `gauge ${gauge}`).toBeLessThan(300);
      // The replaced certificate is not the pin any more, at either replica (it is not revoked:
      // mutual TLS still admits it, the signature check does not).
      for (const at of [a, b]) expect(await signedBy(at, old)).toEqual(SIGNATURE_REFUSED);
      // Another system is untouched.
      expect(await signedBy(b, identityIn(secret, 'st-melde'))).toEqual(SIGNATURE_VERIFIED);

      // The store holds the history: the imported pin, then the one the command made.
      const rows = await withPgClient(schema, (client) =>
        client.query<{ serial: string; issued_by: string }>(
          "SELECT serial, issued_by FROM pki_system_certificate WHERE system_id = 'sn-melde' ORDER BY seq",
        ),
      );
      expect(rows.rows).toEqual([
        { serial: serialOf(old), issued_by: 'import' },
        { serial: serialOf(renewed), issued_by: 'cli' },
      ]);
      // `gw pki list` beside gateway-1 shows the system's certificates as pinned, not its stale copy.
      const listed = await gw(b, 'pki', 'list', '--json');
      expect(listed.code, listed.stderr).toBe(0);
      const melde = (
        JSON.parse(listed.stdout) as { kind: string; serial: string; systemId: string | null; file: string }[]
      )
        .filter((entry) => entry.systemId === 'sn-melde')
        .map(({ kind, serial, file }) => ({ kind, serial, file }));
      expect(melde).toEqual([
        { kind: 'system', serial: serialOf(renewed), file: 'pki_system_certificate' },
        { kind: 'system (replaced)', serial: serialOf(old), file: 'pki_system_certificate' },
      ]);

      // A replica replaced from the Secret, whose systems/sn-melde.crt is the replaced one: the
      // store's pin wins over the stale file, from the first request.
      const fresh = await replica('gateway-2');
      expect(identityIn(path.join(fresh.dataDir, 'pki'), 'sn-melde').certPem).toBe(old.certPem);
      expect(await signedBy(fresh, renewed)).toEqual(SIGNATURE_VERIFIED);
      expect(await signedBy(fresh, old)).toEqual(SIGNATURE_REFUSED);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
  it(
    'fails closed: while the pins cannot be read, a replica refuses sender-signed documents with 503 and stays ready; it verifies again once they can',
    async () => {
      const current = identityIn(path.join(a.dataDir, 'pki'), 'st-melde');
      expect(await signedBy(b, current)).toEqual(SIGNATURE_VERIFIED);
      await withPgClient(schema, (c) =>
        c.query('ALTER TABLE pki_system_certificate RENAME TO pki_system_certificate_away'),
      );
      try {
        await eventually(
          async () => ((await signedBy(b, current)).status === 503 ? true : undefined),
          10_000,
          'gateway-1 refusing while the pins cannot be read',
        );
        expect(await signedBy(b, current)).toEqual({ status: 503, code: 'GW_ERR_NOT_READY' });
        // Everything else goes on: the revocations (their own table) and readiness are untouched.
        const client = b.client('st-melde');
        expect((await client.call('GET', '/v1/systems/st-melde/inbox')).status).toBe(200);
        expect((await client.call('GET', '/health/ready')).status).toBe(200);
      } finally {
        await withPgClient(schema, (c) =>
          c.query('ALTER TABLE pki_system_certificate_away RENAME TO pki_system_certificate'),
        );
      }
      await eventually(
        async () => ((await signedBy(b, current)).code === SIGNATURE_VERIFIED.code ? true : undefined),
        10_000,
        'gateway-1 verifying again',
      );
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});
