/**
 * What the end-to-end tests of the domain flows (test/e2e/domains.test.ts, bafoeg.test.ts) share:
 * the adapters' fixture files, fresh nachrichtenUUIDs for them, and systems that send in their
 * native format and receive from their pull inbox — the seal verified against the gateway's CA
 * before the item is acknowledged.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { expect } from 'vitest';
import type { SystemClient } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { verifyDocument } from '../../gateway/signing/verifier.ts';
import { eventually, type TestGateway } from './gateway.ts';

export interface InboxItem {
  messageId: string;
  messageType: string;
  senderSystem: string;
  payload: { contentType: string; encoding: string; data: string };
  signedDocument: string;
}

export interface Accepted {
  messages: { messageId: string; messageType: string; receiverSystem: string }[];
}

export const fixture = (adapter: string, file: string) =>
  path.join(REPO_ROOT, 'adapters', adapter, 'fixtures', file);
export const text = (adapter: string, file: string) => readFileSync(fixture(adapter, file), 'utf8');
export const cp1252 = (adapter: string, file: string) =>
  iconv.decode(readFileSync(fixture(adapter, file)), 'win1252');
export const latin1 = (adapter: string, file: string) =>
  readFileSync(fixture(adapter, file)).toString('latin1');

/** Replaces every id in `ids` by a fresh one (the gateway refuses a nachrichtenUUID it has seen). */
export function fresh(body: string, ...ids: string[]): { body: string; ids: string[] } {
  const next = ids.map(() => randomUUID());
  let out = body;
  ids.forEach((id, i) => {
    out = out.replace(new RegExp(id, 'gi'), next[i]!);
  });
  return { body: out, ids: next };
}

export function payloadBytes(item: InboxItem): Buffer {
  return Buffer.from(item.payload.data, item.payload.encoding === 'base64' ? 'base64' : 'utf8');
}

/** The connected systems of `gateway()` (read when first used, so a test's beforeAll may start it). */
export function domainSystems(gateway: () => TestGateway) {
  const clients = new Map<string, SystemClient>();
  let ca: X509Certificate | undefined;
  const as = (systemId: string): SystemClient => {
    if (!clients.has(systemId)) clients.set(systemId, gateway().client(systemId));
    return clients.get(systemId)!;
  };

  async function send(systemId: string, body: string | Buffer, contentType: string): Promise<Accepted> {
    const r = await as(systemId).send(systemId, body, contentType);
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return r.body as Accepted;
  }

  /** Waits for the message in the system's inbox, verifies the gateway's seal, acknowledges it. */
  async function receive(systemId: string, messageId: string): Promise<InboxItem> {
    const client = as(systemId);
    const item = await eventually(
      async () =>
        (
          await client.call<{ items: InboxItem[] }>('GET', `/v1/systems/${systemId}/inbox?limit=500`)
        ).body.items.find((i) => i.messageId === messageId),
      15_000,
      `${messageId} in the inbox of ${systemId}`,
    );
    ca ??= new X509Certificate(gateway().gateway.pki.caCertPem);
    await verifyDocument(item.signedDocument, { trustAnchors: [ca] });
    expect((await client.call('POST', `/v1/systems/${systemId}/inbox/${messageId}/ack`)).status).toBe(200);
    return item;
  }

  return { as, send, receive };
}
