/**
 * A client certificate that is presented but refused — expired, not yet valid, from a foreign CA,
 * made for TLS servers only, revoked — is told apart from no certificate at all: over real TLS with
 * certificates issued by the running gateway's CA, each refusal keeps its stable code, says why in
 * the problem's detail, and is audited with the reason (and OpenSSL's verification error), the
 * presented serial, subject and issuer. The presented certificate never becomes the actor, and what
 * a hostile certificate carries is recorded bounded.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import {
  type CertificateUsage,
  createCa,
  decryptPrivateKeyPem,
  type IssuedCertificate,
  issueCertificate,
} from '../../gateway/pki/ca.ts';
import { revokeSerial } from '../../gateway/pki/revocation.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, startTestGateway, TEST_PASSPHRASE, type TestGateway } from '../support/gateway.ts';

interface Problem {
  status: number;
  code: string;
  detail: string;
  requestId: string;
}

const DAY_MS = 24 * 3600 * 1000;
const NATIVE_ROUTE = '/v1/systems/:systemId/messages';

let t: TestGateway;
let gatewayCa: { certPem: string; keyPem: string };
let caSubject: string;
const foreignCa = createCa({ commonName: 'Foreign CA', days: 1, keyAlgorithm: 'rsa-2048' });
const clients: SystemClient[] = [];

/** A one-day certificate of `ca` naming sn-melde, for a client by default. */
function certOf(
  ca: Parameters<typeof issueCertificate>[0],
  options: { usage?: CertificateUsage | CertificateUsage[]; notBefore?: Date; commonName?: string } = {},
): IssuedCertificate {
  return issueCertificate(ca, {
    commonName: options.commonName ?? 'sn-melde',
    sanUris: ['urn:laender-gateway:system:sn-melde'],
    usage: options.usage ?? ['client', 'signing'],
    days: 1,
    keyAlgorithm: 'ec-p256',
    ...(options.notBefore ? { notBefore: options.notBefore } : {}),
  });
}

/** A client presenting `cert`; with null, none (closed by t.stop()). */
function withCert(cert: IssuedCertificate | null): SystemClient {
  if (!cert) return t.client(null);
  const client = new SystemClient(t.gateway.url, { caPem: t.gateway.pki.caCertPem, ...cert });
  clients.push(client);
  return client;
}

function sendAsSnMelde(client: SystemClient) {
  return client.call<Problem>('POST', '/v1/systems/sn-melde/messages', rueckmeldung().body, {
    'content-type': 'application/json',
  });
}

/** The one `rejected` event written for the refused request. */
async function auditedRefusal(requestId: string) {
  const events = await t.gateway.auditStore.query({ messageId: requestId });
  expect(events.map((e) => e.kind)).toEqual(['rejected']);
  return events[0]!;
}

beforeAll(async () => {
  t = await startTestGateway();
  gatewayCa = {
    certPem: t.gateway.pki.caCertPem,
    keyPem: decryptPrivateKeyPem(
      readFileSync(path.join(t.dataDir, 'pki', 'ca.key'), 'utf8'),
      TEST_PASSPHRASE,
    ),
  };
  caSubject = new X509Certificate(t.gateway.pki.caCertPem).subject.split('\n').join(', ');
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t?.stop();
});

describe('refused client certificates say whose and why', () => {
  const cases: {
    name: string;
    cert: () => IssuedCertificate;
    reason: string;
    verifyError: string;
    words: string;
    issuer: () => string;
  }[] = [
    {
      name: 'expired',
      cert: () => certOf(gatewayCa, { notBefore: new Date(Date.now() - 3 * DAY_MS) }),
      reason: 'expired',
      verifyError: 'CERT_HAS_EXPIRED',
      words: 'it has expired',
      issuer: () => caSubject,
    },
    {
      name: 'not yet valid',
      cert: () => certOf(gatewayCa, { notBefore: new Date(Date.now() + 3 * DAY_MS) }),
      reason: 'not-yet-valid',
      verifyError: 'CERT_NOT_YET_VALID',
      words: 'it is not valid yet',
      issuer: () => caSubject,
    },
    {
      name: 'from a foreign CA',
      cert: () => certOf(foreignCa),
      reason: 'untrusted-issuer',
      verifyError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      words: 'it is not issued by the gateway CA',
      issuer: () => 'CN=Foreign CA',
    },
    {
      name: 'for TLS servers only',
      cert: () => certOf(gatewayCa, { usage: 'server' }),
      reason: 'wrong-key-usage',
      verifyError: 'INVALID_PURPOSE',
      words: 'its key usage does not admit TLS client authentication',
      issuer: () => caSubject,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: 401 GW_ERR_CLIENT_CERT_REQUIRED, the reason in the detail, audited as presented by anonymous`, async () => {
      const cert = c.cert();
      const client = withCert(cert);
      // Twice over one kept-alive connection: the second answer comes from the per-socket cache.
      for (let i = 0; i < 2; i++) {
        const r = await sendAsSnMelde(client);
        expect([r.status, r.body.code]).toEqual([401, 'GW_ERR_CLIENT_CERT_REQUIRED']);
        expect(r.body.detail).toBe(
          `the presented client certificate was refused: ${c.words} (${c.verifyError})`,
        );
        const event = await auditedRefusal(r.body.requestId);
        expect(event).toMatchObject({ actor: 'anonymous', senderSystem: null });
        expect(event.detail).toEqual({
          code: 'GW_ERR_CLIENT_CERT_REQUIRED',
          method: 'POST',
          route: NATIVE_ROUTE,
          reason: c.reason,
          verifyError: c.verifyError,
          certificateSerial: cert.serial,
          subject: 'CN=sn-melde',
          issuer: c.issuer(),
        });
      }
    });
  }

  it('none: 401 GW_ERR_CLIENT_CERT_REQUIRED as before, nothing about a certificate in the audit', async () => {
    const r = await sendAsSnMelde(withCert(null));
    expect([r.status, r.body.code]).toEqual([401, 'GW_ERR_CLIENT_CERT_REQUIRED']);
    expect(r.body.detail).toBe('A client certificate issued by the gateway CA is required');
    const event = await auditedRefusal(r.body.requestId);
    expect(event).toMatchObject({ actor: 'anonymous', senderSystem: null });
    expect(event.detail).toEqual({
      code: 'GW_ERR_CLIENT_CERT_REQUIRED',
      method: 'POST',
      route: NATIVE_ROUTE,
    });
  });

  it('revoked: 401 GW_ERR_CLIENT_CERT_REVOKED as before, audited with reason, serial, subject and issuer', async () => {
    const cert = certOf(gatewayCa);
    const client = withCert(cert);
    expect((await client.call('GET', '/v1/systems/sn-melde/inbox')).status).toBe(200);
    await revokeSerial(path.join(t.dataDir, 'pki'), { serial: cert.serial, reason: 'keyCompromise' });
    const r = await eventually(async () => {
      const answer = await sendAsSnMelde(client);
      return answer.status === 401 ? answer : undefined;
    });
    expect(r.body.code).toBe('GW_ERR_CLIENT_CERT_REVOKED');
    expect(r.body.detail).toBe(`the certificate ${cert.serial} of sn-melde is revoked`);
    const event = await auditedRefusal(r.body.requestId);
    // A revoked certificate still verifies against the gateway CA: it names its system, as before.
    expect(event).toMatchObject({ actor: 'system:sn-melde', senderSystem: 'sn-melde' });
    expect(event.detail).toEqual({
      code: 'GW_ERR_CLIENT_CERT_REVOKED',
      method: 'POST',
      route: NATIVE_ROUTE,
      reason: 'revoked',
      certificateSerial: cert.serial,
      subject: 'CN=sn-melde',
      issuer: caSubject,
    });
  });

  it('of the gateway CA but naming no system: TLS accepts it, the gateway does not, and says so', async () => {
    const cert = issueCertificate(gatewayCa, {
      commonName: 'Max Mustermann',
      usage: 'client',
      days: 1,
      keyAlgorithm: 'ec-p256',
    });
    const r = await sendAsSnMelde(withCert(cert));
    expect([r.status, r.body.code]).toEqual([401, 'GW_ERR_CLIENT_CERT_REQUIRED']);
    expect(r.body.detail).toBe('the presented client certificate was refused: it names no system');
    const event = await auditedRefusal(r.body.requestId);
    expect(event).toMatchObject({ actor: 'anonymous', senderSystem: null });
    expect(event.detail).toEqual({
      code: 'GW_ERR_CLIENT_CERT_REQUIRED',
      method: 'POST',
      route: NATIVE_ROUTE,
      reason: 'no-system-identity',
      certificateSerial: cert.serial,
      subject: 'CN=Max Mustermann',
      issuer: caSubject,
    });
  });

  it('a hostile subject is recorded bounded, on one line; the detail carries nothing of it', async () => {
    const commonName = `sn-melde\nO=Forged Authority\n${'A'.repeat(20_000)}`;
    const cert = certOf(foreignCa, { commonName });
    const r = await sendAsSnMelde(withCert(cert));
    expect([r.status, r.body.code]).toEqual([401, 'GW_ERR_CLIENT_CERT_REQUIRED']);
    expect(r.body.detail).not.toContain('AAAA');
    expect(r.body.detail).not.toContain('Forged');
    const event = await auditedRefusal(r.body.requestId);
    expect(event.actor).toBe('anonymous');
    const detail = event.detail as Record<string, string>;
    expect(detail.reason).toBe('untrusted-issuer');
    expect(detail.certificateSerial).toBe(cert.serial);
    expect(detail.subject!.length).toBeLessThanOrEqual(256);
    expect(detail.subject).toMatch(/^CN=sn-melde/);
    expect(detail.subject).toMatch(/…$/);
    expect([...detail.subject!].some((ch) => ch.charCodeAt(0) < 0x20)).toBe(false);
    expect(JSON.stringify(event.detail).length).toBeLessThan(1_000);
  });

  it('on a route people may call too: the token is asked for, and the refused certificate is named', async () => {
    const cert = certOf(gatewayCa, { notBefore: new Date(Date.now() - 3 * DAY_MS) });
    const r = await withCert(cert).call<Problem>('GET', '/v1/auth/whoami');
    expect([r.status, r.body.code]).toEqual([401, 'GW_ERR_TOKEN_REQUIRED']);
    expect(r.body.detail).toContain(
      'the presented client certificate was refused: it has expired (CERT_HAS_EXPIRED)',
    );
    const event = await auditedRefusal(r.body.requestId);
    expect(event.actor).toBe('anonymous');
    expect(event.detail).toMatchObject({
      code: 'GW_ERR_TOKEN_REQUIRED',
      reason: 'expired',
      verifyError: 'CERT_HAS_EXPIRED',
      certificateSerial: cert.serial,
    });
  });
});

describe('a certificate of the gateway CA for a system the directory does not list', () => {
  it('authenticates nothing: 403 GW_ERR_CLIENT_CERT_FORBIDDEN also on its own routes, audited', async () => {
    const unlisted = issueCertificate(gatewayCa, {
      commonName: 'bw-kfz',
      sanUris: ['urn:laender-gateway:system:bw-kfz'],
      usage: ['client', 'signing'],
      days: 1,
      keyAlgorithm: 'ec-p256',
    });
    const client = withCert(unlisted);
    for (const [method, url] of [
      ['GET', '/v1/systems/bw-kfz/inbox'],
      ['POST', '/v1/systems/bw-kfz/messages'],
    ] as const) {
      const res = await client.call<Problem>(
        method,
        url,
        method === 'POST' ? rueckmeldung().body : undefined,
        {
          ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
        },
      );
      expect(res.status, url).toBe(403);
      expect(res.body.code).toBe('GW_ERR_CLIENT_CERT_FORBIDDEN');
      expect(res.body.detail).toBe('the certificate names bw-kfz, which the directory does not list');
      const event = await auditedRefusal(res.body.requestId);
      expect(event.detail).toMatchObject({ code: 'GW_ERR_CLIENT_CERT_FORBIDDEN' });
    }
    // A listed system's certificate on the same gateway still works.
    const listed = await t.client('sn-melde').call('GET', '/v1/systems/sn-melde/inbox');
    expect(listed.status).toBe(200);
  });
});

describe('a resumed TLS session without a client certificate', () => {
  it('is asked for a token, not a certificate (OpenSSL reports it authorized with no peer certificate)', async () => {
    const { Agent, request } = await import('node:https');
    // No keep-alive: the second request opens a new connection that resumes the first one's session.
    const agent = new Agent({ ca: t.gateway.pki.caCertPem, keepAlive: false, maxCachedSessions: 10 });
    const get = () =>
      new Promise<{ status: number; code: string; reused: boolean }>((resolve, reject) => {
        const req = request(
          `${t.gateway.url}/v1/messages/3f0c9a52-7d1e-4b8a-9c2f-5e6d7a8b9c01`,
          { agent },
          (res) => {
            let body = '';
            res.on('data', (chunk) => {
              body += chunk;
            });
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                code: (JSON.parse(body) as Problem).code,
                reused: (res.socket as import('node:tls').TLSSocket).isSessionReused(),
              }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      });
    try {
      const first = await get();
      const second = await get();
      expect(second.reused).toBe(true);
      for (const answer of [first, second]) {
        expect(answer.status).toBe(401);
        expect(answer.code).toBe('GW_ERR_TOKEN_REQUIRED');
      }
    } finally {
      agent.destroy();
    }
  });
});
