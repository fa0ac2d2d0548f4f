/**
 * The walking skeleton end to end over real HTTPS with real certificates: a Rückmeldung from
 * Dresden (sn-melde, JSON) to Magdeburg (st-melde, legacy XML) and the answer back, in pull mode
 * and in push mode, with the audit trail and the status API.
 */
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../../gateway/audit/hash-chain.ts';
import { verifyDocument } from '../../gateway/signing/verifier.ts';
import { catalogue } from '../../standards/index.ts';
import { xmllint } from '../../standards/xoev/testing/helpers.ts';
import { auswertung, rueckmeldung } from '../support/fixtures.ts';
import {
  eventually,
  pushContracts,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { type PushedRequest, type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';

interface InboxItem {
  messageId: string;
  payload: { data: string; contentType: string };
  signedDocument: string;
}

describe('walking skeleton, pull mode (the demo world)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => t?.stop());

  it('carries a 0201 from sn-melde to st-melde and the 0203 back, verified, with the full lifecycle', async () => {
    const sn = t.client('sn-melde');
    const st = t.client('st-melde');
    const ca = new X509Certificate(t.gateway.pki.caCertPem);

    const msg = rueckmeldung();
    const sent = await sn.send('sn-melde', msg.body, 'application/json');
    expect(sent.status).toBe(202);
    const accepted = (
      sent.body as { messages: { messageId: string; statusUrl: string; receiverSystem: string }[] }
    ).messages;
    expect(accepted).toEqual([
      expect.objectContaining({
        messageId: msg.id,
        receiverSystem: 'st-melde',
        statusUrl: `${t.gateway.url}/v1/messages/${msg.id}`,
      }),
    ]);
    expect(sent.headers.location).toBe(accepted[0]!.statusUrl);

    const item = await eventually(
      async () => {
        const inbox = await st.call<{ items: InboxItem[] }>('GET', '/v1/systems/st-melde/inbox');
        return inbox.body.items.find((i) => i.messageId === msg.id);
      },
      15_000,
      'the 0201 in the st-melde inbox',
    );

    // st-melde gets its own dialect: German dates, its own codes.
    expect(item.payload.contentType).toBe('application/xml');
    expect(item.payload.data).toContain('<GebDatum>12.04.1988</GebDatum>');
    expect(item.payload.data).toContain('<Geschl>2</Geschl>');
    expect(item.payload.data).toContain('<Staatsang>PL</Staatsang>');
    expect(item.payload.data).toContain('<FamStand>verh</FamStand>');
    // …and the sealed standard document, verifiable against the gateway CA.
    const verified = await verifyDocument(item.signedDocument, { trustAnchors: [ca] });
    expect(verified.root.localName).toBe('rueckmeldung.anmeldunginland.0201');
    expect(verified.root.namespaceURI).toBe('urn:xoev-de:xmeld:25.11');

    // The inbox item is visible before the delivery's audit event is committed (both are awaited, in that order).
    await eventually(
      async () =>
        (await sn.call<{ status: string }>('GET', `/v1/messages/${msg.id}`)).body.status === 'delivered' ||
        undefined,
      5_000,
      'status delivered',
    );
    expect((await st.call('POST', `/v1/systems/st-melde/inbox/${msg.id}/ack`)).status).toBe(200);
    const status = await sn.call<{ status: string; history: { event: string }[] }>(
      'GET',
      `/v1/messages/${msg.id}`,
    );
    expect(status.body.status).toBe('acknowledged');
    expect(status.body.history.map((h) => h.event)).toEqual([
      'received',
      'accepted',
      'signed',
      'queued',
      'delivered',
      'acknowledged',
    ]);
    // Acknowledged messages leave the inbox.
    const after = await st.call<{ items: InboxItem[] }>('GET', '/v1/systems/st-melde/inbox');
    expect(after.body.items.map((i) => i.messageId)).not.toContain(msg.id);

    const answer = auswertung(msg.id);
    expect((await st.send('st-melde', answer.body, 'application/xml')).status).toBe(202);
    const back = await eventually(
      async () => {
        const inbox = await sn.call<{ items: InboxItem[] }>('GET', '/v1/systems/sn-melde/inbox');
        return inbox.body.items.find((i) => i.messageId === answer.id);
      },
      15_000,
      'the 0203 in the sn-melde inbox',
    );
    const native = JSON.parse(back.payload.data);
    expect(native.vorgang).toMatchObject({ id: answer.id, art: 'RUECKMELDUNG_AUSWERTUNG', bezugId: msg.id });
    expect(native.ergebnis).toMatchObject({ code: '01', datum: '2026-11-04' });
    await verifyDocument(back.signedDocument, { trustAnchors: [ca] });

    // What the gateway emits is valid against the standard's XSD for an independent validator.
    const xsd = catalogue.get('xmeld', '25.11')!.xsdPath;
    expect(xmllint(xsd, [item.signedDocument, back.signedDocument]).valid).toEqual([true, true]);

    // Every step is in the hash-chained audit log, and the chain verifies.
    const entries = await t.gateway.auditStore.query({ limit: 100_000 });
    expect(verifyChain(entries).ok).toBe(true);
    const digests = entries.filter((e) => e.messageId === msg.id && e.digest).map((e) => e.digest);
    expect(new Set(digests)).toEqual(new Set([verified.digest]));
  });

  it('lets neither the sender nor a stranger read a message it is not party to', async () => {
    const msg = rueckmeldung();
    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    const st = t.client('st-melde');
    await eventually(async () =>
      (await st.call<{ status: string }>('GET', `/v1/messages/${msg.id}`)).body.status === 'delivered'
        ? true
        : undefined,
    );
    // sn-melde may not read st-melde's inbox, even knowing the id.
    const foreign = await t
      .client('sn-melde')
      .call<{ code: string }>('GET', `/v1/systems/st-melde/inbox/${msg.id}`);
    expect(foreign.status).toBe(403);
    expect(foreign.body.code).toBe('GW_ERR_CLIENT_CERT_FORBIDDEN');
  });
});

describe('walking skeleton, push mode', () => {
  let t: TestGateway;
  let receiver: PushReceiver;
  const received: PushedRequest[] = [];
  let failuresLeft = 2;

  beforeAll(async () => {
    const dataDir = tempDir('push');
    receiver = await startPushReceiver(dataDir, (request) => {
      if (failuresLeft > 0) {
        failuresLeft--;
        return 503;
      }
      received.push(request);
      return 204;
    });
    const contractsDir = pushContracts({ 'st-melde': receiver.url });
    t = await startTestGateway({ dataDir, contractsDir });
  });

  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
  });

  it('pushes over mTLS, retries a failing receiver, and delivers exactly once', async () => {
    const msg = rueckmeldung();
    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    await eventually(
      async () => (received.some((r) => r.messageId === msg.id) ? true : undefined),
      20_000,
      'the push',
    );
    // The receiver has the push before the gateway has audited its 2xx.
    await eventually(
      async () =>
        (await t.client('sn-melde').call<{ status: string }>('GET', `/v1/messages/${msg.id}`)).body.status ===
          'acknowledged' || undefined,
      5_000,
      'status acknowledged',
    );
    const status = await t.client('sn-melde').call<{
      status: string;
      history: { chain: string; seq: number; event: string; detail: { status?: number; attempt?: number } }[];
    }>('GET', `/v1/messages/${msg.id}`);
    expect(status.body.status).toBe('acknowledged');
    const history = status.body.history;
    const attempts = history.filter((h) => h.event === 'delivery-attempted');
    expect(attempts.map((h) => h.detail.status)).toEqual([503, 503, 204]);
    // In causal order, whatever the clocks: the ingress's entries (appended after the publish) before
    // the first attempt, the attempts in order across the deliver and the retry topic's chains; each
    // entry named by the (chain, seq) an auditor finds it under.
    expect(attempts.map((h) => h.detail.attempt)).toEqual([1, 2, 3]);
    const ingress = ['received', 'accepted', 'converted', 'signed', 'queued'];
    const lastIngress = history.findLastIndex((h) => ingress.includes(h.event));
    expect(history.findIndex((h) => h.chain.startsWith('delivery.'))).toBe(lastIngress + 1);
    const stored = await t.gateway.auditStore.query({ messageId: msg.id });
    expect(history.map((h) => `${h.chain}#${h.seq}:${h.event}`).sort()).toEqual(
      stored.map((e) => `${e.chain}#${e.seq}:${e.kind}`).sort(),
    );
    // Give a duplicate time to show up if there were one.
    await new Promise((r) => setTimeout(r, 500));
    expect(received.filter((r) => r.messageId === msg.id)).toHaveLength(1);
    const push = received.find((r) => r.messageId === msg.id)!;
    expect(push.contentType).toBe('application/xml');
    expect(push.body.toString('utf8')).toContain(`<VorgangsID>${msg.id}</VorgangsID>`);
    expect(push.clientCommonName).toBe('laender-gateway');
  });
});
