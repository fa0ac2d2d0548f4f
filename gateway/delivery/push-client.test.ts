import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePki } from '../pki/bootstrap.ts';
import { PushClient } from './push-client.ts';

interface Received {
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe('PushClient', () => {
  let dir: string;
  let server: Server;
  let client: PushClient;
  let base: string;
  let connections = 0;
  const received: Received[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'gw-push-client-'));
    const pki = await ensurePki({
      dir: path.join(dir, 'pki'),
      systems: [],
      passphrase: 'push-client-test',
      signingAlgorithm: 'rsa-sha256',
      rsaBits: 2048,
      serverNames: ['127.0.0.1'],
    });
    const cert = pki.issue({
      commonName: 'receiver',
      sanIps: ['127.0.0.1'],
      usage: 'server',
      days: 1,
      keyAlgorithm: 'ec-p256',
    });
    server = createServer(
      {
        key: cert.keyPem,
        cert: cert.certPem,
        ca: pki.caCertPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          received.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
          const status = Number(new URL(req.url ?? '/', 'https://x').searchParams.get('status') ?? 200);
          const answerBytes = Number(new URL(req.url ?? '/', 'https://x').searchParams.get('answer') ?? 0);
          res.writeHead(status, { 'content-type': 'text/plain' });
          res.end('x'.repeat(answerBytes));
        });
      },
    );
    server.on('secureConnection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = new PushClient({
      certPem: pki.gatewayClient.certPem,
      keyPem: pki.gatewayClient.keyPem,
      caPems: [pki.caCertPem],
      timeoutMs: 5_000,
    });
  });

  afterAll(async () => {
    await client?.close();
    await new Promise((resolve) => server?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('posts the body with its content type and headers to the path and query of the URL', async () => {
    const result = await client.push(
      `${base}/inbound/st-melde?tenant=1`,
      Buffer.from('<a>1</a>'),
      'application/xml',
      {
        'x-nachrichten-uuid': 'm-1',
      },
    );
    expect(result).toEqual({ ok: true, status: 200, detail: 'accepted by receiver' });
    const last = received.at(-1)!;
    expect(last.url).toBe('/inbound/st-melde?tenant=1');
    expect(last.body).toBe('<a>1</a>');
    expect(last.headers['content-type']).toBe('application/xml');
    expect(last.headers['x-nachrichten-uuid']).toBe('m-1');
  });

  it("reports a receiver's refusal with its status", async () => {
    expect(await client.push(`${base}/in?status=503`, Buffer.from('b'), 'text/plain', {})).toEqual({
      ok: false,
      status: 503,
      detail: 'receiver answered 503',
    });
    expect((await client.push(`${base}/in?status=422`, Buffer.from('b'), 'text/plain', {})).status).toBe(422);
  });

  it('keeps one connection for pushes one after the other, answer bodies included', async () => {
    const before = connections;
    for (let i = 0; i < 3; i++) {
      expect((await client.push(`${base}/in?answer=100`, Buffer.from('b'), 'text/plain', {})).ok).toBe(true);
    }
    expect(connections - before).toBeLessThanOrEqual(1);
  });

  it('takes the status of an overlong answer without reading it all, and pushes on', async () => {
    const long = await client.push(
      `${base}/in?answer=${4 * 1024 * 1024}`,
      Buffer.from('b'),
      'text/plain',
      {},
    );
    expect(long).toEqual({ ok: true, status: 200, detail: 'accepted by receiver' });
    expect((await client.push(`${base}/in`, Buffer.from('b'), 'text/plain', {})).ok).toBe(true);
  });

  it('reports an unreachable receiver or an unusable URL as status 0, never by throwing', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const down = await client.push(`https://127.0.0.1:${port}/in`, Buffer.from('b'), 'text/plain', {});
    expect(down.ok).toBe(false);
    expect(down.status).toBe(0);
    expect(down.detail).not.toBe('');
    const bad = await client.push('not a url', Buffer.from('b'), 'text/plain', {});
    expect(bad).toMatchObject({ ok: false, status: 0 });
    const badHeader = await client.push(`${base}/in`, Buffer.from('b'), 'text/plain', {
      'x-sender': 'a\r\nb',
    });
    expect(badHeader).toMatchObject({ ok: false, status: 0 });
  });
});
