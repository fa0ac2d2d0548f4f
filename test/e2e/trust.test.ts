/**
 * The trust layer end to end, with the operator's commands run as separate processes beside a
 * running gateway (real HTTPS, real certificates, real SQLite files):
 * - `gw pki revoke`: the revoked system is refused on its very next request — on a connection it
 *   kept alive — within one second of the revocation being written, with a stable code, audited;
 *   its signature no longer verifies; the CRL at /v1/pki/crl lists it;
 * - `gw pki rotate`: new seals use the new key without a restart, earlier seals keep verifying;
 * - `gw token issue|revoke`: a person's token works on the routes of its role only, and not at all
 *   from the request after its revocation.
 */
import { spawn } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SystemClient } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { DocumentSigner } from '../../gateway/signing/signer.ts';
import { refusalReason } from '../../gateway/signing/verifier.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, startTestGateway, TEST_PASSPHRASE, type TestGateway } from '../support/gateway.ts';

const GW = path.join(REPO_ROOT, 'bin/gw.js');
// Each `gw` process starts Node, tsx and the CLI's modules: seconds apiece on a busy 2-core machine.
const PROCESS_TEST_TIMEOUT_MS = 180_000;

interface InboxItem {
  messageId: string;
  signedDocument: string;
}

let t: TestGateway;

function gw(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GW, ...args], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        GATEWAY_DATA_DIR: t.dataDir,
        GATEWAY_CONTRACTS_DIR: t.contractsDir,
        GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
        GATEWAY_LOG_LEVEL: 'warn',
      },
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

/** Sends a Rückmeldung as sn-melde and waits until st-melde's inbox holds it. */
async function sendAndReceive(sn: SystemClient): Promise<InboxItem> {
  const message = rueckmeldung();
  const sent = await sn.send('sn-melde', message.body, 'application/json');
  expect(sent.status, JSON.stringify(sent.body)).toBe(202);
  const st = t.client('st-melde');
  return eventually(
    async () => {
      const response = await st.call<InboxItem>('GET', `/v1/systems/st-melde/inbox/${message.id}`);
      return response.status === 200 ? response.body : undefined;
    },
    20_000,
    `message ${message.id} in the inbox of st-melde`,
  );
}

function signerSerial(signedDocument: string): string {
  const base64 = /<ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/.exec(signedDocument)![1]!;
  return new X509Certificate(Buffer.from(base64, 'base64')).serialNumber.toLowerCase();
}

beforeAll(async () => {
  t = await startTestGateway();
});

afterAll(async () => {
  await t?.stop();
});

describe('signing key rotation', () => {
  it(
    '`gw pki rotate` switches new seals to the new key without a restart; earlier seals still verify',
    async () => {
      const sn = t.client('sn-melde');
      const before = await sendAndReceive(sn);
      const oldSerial = signerSerial(before.signedDocument);

      const rotated = await gw(['pki', 'rotate']);
      expect(rotated.code, rotated.stderr).toBe(0);
      expect(rotated.stdout).toContain('new signing certificate');
      const published = await eventually(
        async () => {
          const response = await t
            .client(null)
            .call<{ current: string; previous: string[] }>('GET', '/v1/pki/signing-certificates');
          const current = new X509Certificate(response.body.current).serialNumber.toLowerCase();
          return current !== oldSerial ? response.body : undefined;
        },
        1000,
        'the new signing certificate',
      );
      const newSerial = new X509Certificate(published.current).serialNumber.toLowerCase();
      expect(published.previous.map((pem) => new X509Certificate(pem).serialNumber.toLowerCase())).toContain(
        oldSerial,
      );

      // The next message is sealed with the new key — by the signer threads, without a restart —
      // and delivered, i.e. the delivery stage verified it against the new certificate.
      const after = await sendAndReceive(sn);
      expect(signerSerial(after.signedDocument)).toBe(newSerial);
      // The delivery stage's verifier accepts both generations of seals.
      expect((await t.gateway.trust.verifySeal(before.signedDocument)).signer.serial).toBe(oldSerial);
      expect((await t.gateway.trust.verifySeal(after.signedDocument)).signer.serial).toBe(newSerial);
      const issued = await t.gateway.auditStore.query({ kind: 'certificate-issued' });
      expect(issued.at(-1)).toMatchObject({
        actor: 'cli',
        detail: { serial: newSerial, previousSerial: oldSerial, usage: 'signing' },
      });
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});

describe('revocation', () => {
  it(
    'a system revoked by `gw pki revoke` is refused within a second, on a kept-alive connection, and audited',
    async () => {
      const sn = t.client('sn-melde');
      const item = await sendAndReceive(sn);
      expect(item.signedDocument).toContain('<ds:Signature');
      const snCertPem = readFileSync(path.join(t.dataDir, 'pki/systems/sn-melde.crt'), 'utf8');
      const serial = new X509Certificate(snCertPem).serialNumber.toLowerCase();
      // A document the system signed itself, verified against its pinned certificate: fine before.
      const selfSigned = new DocumentSigner({
        privateKey: createPrivateKey(readFileSync(path.join(t.dataDir, 'pki/systems/sn-melde.key'))),
        certPem: snCertPem,
        algorithm: 'rsa-sha256',
      }).signCanonical('<x:Antrag xmlns:x="urn:xoev-de:test"><x:Wert>1</x:Wert></x:Antrag>');
      await t.gateway.trust.verifySignedBy(selfSigned, new X509Certificate(snCertPem));

      // The system keeps asking over its open connection while the operator revokes it.
      const revocation = gw(['pki', 'revoke', serial, '--reason', 'keyCompromise']);
      let refusedAt = 0;
      let refusal: { status: number; body: { code: string; requestId: string } } | undefined;
      let exited = false;
      void revocation.then(() => {
        exited = true;
      });
      const deadline = Date.now() + 60_000;
      while (!refusal && Date.now() < deadline) {
        const response = await sn.call<{ code: string; requestId: string }>(
          'GET',
          '/v1/systems/sn-melde/inbox',
        );
        if (response.status !== 200) {
          refusedAt = Date.now();
          refusal = response;
        } else if (exited) {
          // The command is done: the refusal must follow within a second.
          expect(Date.now() - statSync(path.join(t.dataDir, 'pki/revoked.json')).mtimeMs).toBeLessThan(1000);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const revoked = await revocation;
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(revoked.stdout).toContain(`revoked ${serial}`);
      expect(refusal).toBeDefined();
      const writtenAt = statSync(path.join(t.dataDir, 'pki/revoked.json')).mtimeMs;
      expect(
        refusedAt - writtenAt,
        `refused ${refusedAt - writtenAt} ms after the revocation was written`,
      ).toBeLessThan(1000);
      expect(refusal!.status).toBe(401);
      expect(refusal!.body.code).toBe('GW_ERR_CLIENT_CERT_REVOKED');

      // Audited: the refusal with the system and the serial; the revocation itself by the CLI.
      const rejected = await t.gateway.auditStore.query({ messageId: refusal!.body.requestId });
      expect(rejected).toEqual([
        expect.objectContaining({
          kind: 'rejected',
          actor: 'system:sn-melde',
          detail: expect.objectContaining({ code: 'GW_ERR_CLIENT_CERT_REVOKED', certificateSerial: serial }),
        }),
      ]);
      const revocations = await t.gateway.auditStore.query({ kind: 'certificate-revoked' });
      expect(revocations).toEqual([
        expect.objectContaining({
          actor: 'cli',
          senderSystem: 'sn-melde',
          detail: expect.objectContaining({ serial, reason: 'keyCompromise' }),
        }),
      ]);

      // Ingress refuses it too, on a fresh connection; another system is unaffected.
      const fresh = t.client('sn-melde');
      const post = await fresh.send('sn-melde', rueckmeldung().body, 'application/json');
      expect(post.status).toBe(401);
      expect((post.body as { code: string }).code).toBe('GW_ERR_CLIENT_CERT_REVOKED');
      expect((await t.client('st-melde').call('GET', '/v1/systems/st-melde/inbox')).status).toBe(200);

      // Verification refuses the system's signature.
      const error = await t.gateway.trust
        .verifySignedBy(selfSigned, new X509Certificate(snCertPem))
        .catch((e: unknown) => e);
      expect(refusalReason(error)).toBe('certificate-revoked');

      // The published CRL lists the serial (its format is checked against OpenSSL in gateway/pki).
      const crl = await t.client(null).call<string>('GET', '/v1/pki/crl');
      expect(crl.status).toBe(200);
      expect(crl.headers['content-type']).toBe('application/pkix-crl');
      const der = await fetchBytes('/v1/pki/crl');
      expect(der.includes(Buffer.from(serial, 'hex'))).toBe(true);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});

/** Raw bytes of a public route (SystemClient decodes bodies as text). */
async function fetchBytes(route: string): Promise<Buffer> {
  const { request } = await import('undici');
  const response = await request(`${t.gateway.url}${route}`, { dispatcher: t.client(null).agent });
  return Buffer.from(await response.body.arrayBuffer());
}

describe('tokens for people', () => {
  it(
    '`gw token issue` tokens work on the routes of their role; `gw token revoke` ends them',
    async () => {
      const [operator, auditor] = await Promise.all([
        gw(['token', 'issue', '--role', 'operator', '--expires', '1h', '--name', 'Betrieb']),
        gw(['token', 'issue', '--role', 'auditor', '--scope', 'land:SN', '--expires', '1h']),
      ]);
      expect(operator.code, operator.stderr).toBe(0);
      expect(auditor.code, auditor.stderr).toBe(0);
      const operatorToken = operator.stdout.trim();
      const auditorToken = auditor.stdout.trim();
      expect(operatorToken).toMatch(/^gwt_[0-9a-f]{12}_\S+$/);
      const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
      const person = t.client(null);

      const whoami = await person.call('GET', '/v1/auth/whoami', undefined, bearer(auditorToken));
      expect(whoami.body).toMatchObject({ role: 'auditor', scope: 'land:SN' });
      // The operator's route: the certificate list, with the revoked system certificate marked.
      const list = await person.call<{
        certificates: { kind: string; systemId: string | null; status: string }[];
      }>('GET', '/v1/pki/certificates', undefined, bearer(operatorToken));
      expect(list.status).toBe(200);
      expect(
        list.body.certificates.find((c) => c.kind === 'system' && c.systemId === 'sn-melde')?.status,
      ).toBe('revoked');
      const wrongRole = await person.call<{ code: string }>(
        'GET',
        '/v1/pki/certificates',
        undefined,
        bearer(auditorToken),
      );
      expect([wrongRole.status, wrongRole.body.code]).toEqual([403, 'GW_ERR_ROLE_FORBIDDEN']);
      const anonymous = await person.call<{ code: string }>('GET', '/v1/pki/certificates');
      expect([anonymous.status, anonymous.body.code]).toEqual([401, 'GW_ERR_TOKEN_REQUIRED']);

      const id = operatorToken.split('_')[1]!;
      const revoked = await gw(['token', 'revoke', id]);
      expect(revoked.code, revoked.stderr).toBe(0);
      const refused = await person.call<{ code: string }>(
        'GET',
        '/v1/pki/certificates',
        undefined,
        bearer(operatorToken),
      );
      expect([refused.status, refused.body.code]).toEqual([401, 'GW_ERR_TOKEN_INVALID']);

      const listed = await gw(['token', 'list', '--json']);
      const records = JSON.parse(listed.stdout) as { id: string; status: string }[];
      expect(records.find((r) => r.id === id)?.status).toBe('revoked');
      expect(listed.stdout).not.toContain(operatorToken.split('_').slice(2).join('_'));
      const issued = await t.gateway.auditStore.query({ kind: 'token-issued' });
      expect(issued.map((e) => e.detail)).toEqual(
        expect.arrayContaining([expect.objectContaining({ tokenId: id, role: 'operator', scope: '*' })]),
      );
      const revocations = await t.gateway.auditStore.query({ kind: 'token-revoked' });
      expect(revocations.map((e) => ({ actor: e.actor, detail: e.detail }))).toEqual([
        { actor: 'cli', detail: { tokenId: id, role: 'operator', scope: '*' } },
      ]);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it('public trust material is public; standards stay public behind the auth hook', async () => {
    const anyone = t.client(null);
    expect((await anyone.call('GET', '/v1/pki/ca')).body).toBe(t.gateway.pki.caCertPem);
    expect((await anyone.call('GET', '/v1/standards')).status).toBe(200);
    expect((await anyone.call('GET', '/health/ready')).status).toBe(200);
  });
});
