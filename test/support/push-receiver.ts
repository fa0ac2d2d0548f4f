/**
 * A connected system's HTTPS endpoint for push delivery: a real TLS server with a certificate from
 * the gateway CA that requires the gateway's client certificate. The PKI is created first (the
 * gateway reuses it when it starts on the same data directory).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { CallbackEvent } from '../../gateway/callbacks/callback-event.ts';
import { ReplayGuard, verifyCallback } from '../../gateway/callbacks/signature.ts';
import { ensurePki, type Pki } from '../../gateway/pki/bootstrap.ts';
import { decryptPrivateKeyPem, issueCertificate } from '../../gateway/pki/ca.ts';
import { TEST_PASSPHRASE } from './gateway.ts';

export interface PushedRequest {
  messageId: string;
  contentType: string;
  body: Buffer;
  headers: Record<string, string | string[] | undefined>;
  clientCommonName: string;
}

export interface PushReceiver {
  url: string;
  pki: Pki;
  close(): Promise<void>;
}

/** `respond` returns (or resolves to) the HTTP status to answer with (2xx = accepted). */
export async function startPushReceiver(
  dataDir: string,
  respond: (request: PushedRequest) => number | Promise<number>,
): Promise<PushReceiver> {
  const pki = await ensurePki({
    dir: path.join(dataDir, 'pki'),
    systems: ['sn-melde', 'st-melde'],
    passphrase: TEST_PASSPHRASE,
    signingAlgorithm: 'rsa-sha256',
    rsaBits: 2048,
    serverNames: ['localhost', '127.0.0.1'],
  });
  const caKeyPem = decryptPrivateKeyPem(
    readFileSync(path.join(dataDir, 'pki', 'ca.key'), 'utf8'),
    TEST_PASSPHRASE,
  );
  const cert = issueCertificate(
    { certPem: pki.caCertPem, keyPem: caKeyPem },
    { commonName: 'push receiver', sanIps: ['127.0.0.1'], usage: 'server', days: 1, keyAlgorithm: 'ec-p256' },
  );
  const server: Server = createServer(
    { key: cert.keyPem, cert: cert.certPem, ca: pki.caCertPem, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const status = await respond({
          messageId: String(req.headers['x-nachrichten-uuid']),
          contentType: String(req.headers['content-type']),
          body: Buffer.concat(chunks),
          headers: req.headers,
          clientCommonName: String((req.socket as TLSSocket).getPeerCertificate().subject?.CN),
        });
        res.writeHead(status).end();
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/inbound`,
    pki,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * A system's callback endpoint: verifies every callback's signature with `secret` and a replay guard
 * of its own, as a receiving system must, answers 204 (or 401 when it does not verify) and hands each
 * event on with the verdict.
 */
export function startCallbackReceiver(
  dataDir: string,
  secret: string,
  received: (event: CallbackEvent, verified: boolean) => void,
): Promise<PushReceiver> {
  const guard = new ReplayGuard();
  return startPushReceiver(dataDir, (request) => {
    const { ok } = verifyCallback({
      secret,
      body: request.body,
      headers: request.headers,
      replayGuard: guard,
    });
    received(JSON.parse(request.body.toString('utf8')) as CallbackEvent, ok);
    return ok ? 204 : 401;
  });
}
