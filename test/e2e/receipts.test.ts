/**
 * Receipts end to end over real HTTPS: when the receiver acknowledges a Rückmeldung (pull: POST
 * …/ack; push: its 2xx), the sender gets a sealed XMeld quittung.0020 referencing it — straight into
 * its inbox when it pulls (receipt-inbox.ts), else through the normal delivery stage (its push URL,
 * or its inbox when the case waits); once, whatever is repeated or replayed.
 */
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../gateway/audit/audit-log.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import type { AuditEntry } from '../../gateway/ports/audit-store.ts';
import { receiptIdFor } from '../../gateway/receipts/receipt-id.ts';
import { verifyDocument } from '../../gateway/signing/verifier.ts';
import { catalogue } from '../../standards/index.ts';
import { xmllint } from '../../standards/xoev/testing/helpers.ts';
import { rueckmeldung } from '../support/fixtures.ts';
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
  messageType: string;
  senderSystem: string;
  payload: { data: string; contentType: string };
  signedDocument: string;
}

const RECEIPT_TYPE = 'xmeld:25.11:quittung.0020';

async function inboxItem(
  t: TestGateway,
  systemId: string,
  messageId: string,
  what: string,
): Promise<InboxItem> {
  const client = t.client(systemId);
  return eventually(
    async () => {
      const inbox = await client.call<{ items: InboxItem[] }>(
        'GET',
        `/v1/systems/${systemId}/inbox?limit=500`,
      );
      return inbox.body.items.find((i) => i.messageId === messageId);
    },
    15_000,
    what,
  );
}

/**
 * The receipt in the sender's inbox, once its trail is complete too: a receipt is put into the inbox
 * first and audited right after (a crash in between is caught up), so the item alone can be early.
 */
async function deliveredReceipt(t: TestGateway, receiptId: string, what: string): Promise<InboxItem> {
  await eventually(
    async () =>
      (await t.gateway.auditStore.query({ messageId: receiptId, kind: 'delivered' })).length > 0
        ? true
        : undefined,
    15_000,
    `${what}, audited as delivered`,
  );
  return inboxItem(t, 'sn-melde', receiptId, what);
}

async function sendAndAck(t: TestGateway): Promise<{ id: string; ack: AuditEntry }> {
  const msg = rueckmeldung();
  expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
  await inboxItem(t, 'st-melde', msg.id, 'the 0201 in the st-melde inbox');
  const ack = await t.client('st-melde').call('POST', `/v1/systems/st-melde/inbox/${msg.id}/ack`);
  expect(ack.status).toBe(200);
  const [entry] = await t.gateway.auditStore.query({ messageId: msg.id, kind: 'acknowledged' });
  return { id: msg.id, ack: entry! };
}

describe('receipts, pull mode', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => t?.stop());

  it('gives the sender a sealed quittung.0020 for the acknowledged 0201, valid against the XSD', async () => {
    const { id } = await sendAndAck(t);
    const receiptId = receiptIdFor(id);
    const receipt = await deliveredReceipt(t, receiptId, 'the receipt in the sn-melde inbox');

    expect(receipt.messageType).toBe(RECEIPT_TYPE);
    // sn-melde's JSON format has no receipt record: it gets the standard document (receipt-encoding.ts).
    expect(receipt.payload.contentType).toBe('application/xml');
    expect(receipt.payload.data).toContain(`<referenzUUID>${id}</referenzUUID>`);
    const verified = await verifyDocument(receipt.signedDocument, {
      trustAnchors: [new X509Certificate(t.gateway.pki.caCertPem)],
    });
    expect(verified.root.localName).toBe('quittung.0020');
    const text = (name: string) => verified.root.getElementsByTagName(name)[0]?.textContent;
    expect(text('referenzUUID')).toBe(id);
    expect(text('nachrichtenUUID')).toBe(receiptId);
    // From the receiving authority (Magdeburg) to the sending one (Dresden).
    expect(verified.root.getElementsByTagName('autor')[0]?.textContent).toContain('ags:15003000');
    expect(verified.root.getElementsByTagName('leser')[0]?.textContent).toContain('ags:14612000');
    const xsd = catalogue.get('xmeld', '25.11')!.xsdPath;
    expect(xmllint(xsd, [receipt.signedDocument, receipt.payload.data]).valid).toEqual([true, true]);

    // The original is acknowledged; the receipt has its own audited lifecycle, visible to sn-melde.
    const sn = t.client('sn-melde');
    expect((await sn.call<{ status: string }>('GET', `/v1/messages/${id}`)).body.status).toBe('acknowledged');
    const status = await sn.call<{ status: string; history: { event: string }[] }>(
      'GET',
      `/v1/messages/${receiptId}`,
    );
    expect(status.status).toBe(200);
    expect(status.body.status).toBe('delivered');
    // Straight into the inbox: never on the bus, so never `queued`.
    expect(status.body.history.map((h) => h.event)).toEqual(['accepted', 'signed', 'delivered']);
    const [delivered] = await t.gateway.auditStore.query({ messageId: receiptId, kind: 'delivered' });
    expect(delivered?.detail).toMatchObject({ mode: 'pull', route: 'inbox' });
    expect(delivered?.digest).toBe(createHash('sha256').update(receipt.signedDocument, 'utf8').digest('hex'));
    const [accepted] = await t.gateway.auditStore.query({ messageId: receiptId, kind: 'accepted' });
    expect(accepted).toMatchObject({
      actor: 'gateway',
      senderSystem: 'st-melde',
      receiverSystem: 'sn-melde',
      messageType: RECEIPT_TYPE,
      detail: { receiptFor: id },
    });
  });

  it('issues one receipt however often the ack is repeated or the acknowledgement replayed', async () => {
    const { id, ack } = await sendAndAck(t);
    const receiptId = receiptIdFor(id);
    const st = t.client('st-melde');
    const again = await st.call<{ repeated: boolean }>('POST', `/v1/systems/st-melde/inbox/${id}/ack`);
    expect(again.body.repeated).toBe(true);
    await deliveredReceipt(t, receiptId, 'the receipt');

    // A replayed acknowledgement (a bus partition handled again, recovery after a crash) and a second
    // process issuing concurrently: the same id, so nothing new.
    const receipts = t.gateway.followUps.receipts;
    const outcomes = await Promise.all([receipts.issueFor(ack), receipts.issueFor(ack)]);
    expect(outcomes.every((o) => !o.issued)).toBe(true);
    expect(await t.gateway.auditStore.query({ messageId: receiptId, kind: 'accepted' })).toHaveLength(1);

    // The acknowledgement audited once more (a replayed partition writes it again): still one receipt.
    await t.gateway.audit.record({ ...ack, kind: 'acknowledged', detail: { mode: 'pull', replay: true } });
    // Whatever the replayed acknowledgement set off is issued; then give a second receipt time to arrive.
    await t.gateway.followUps.receipts.idle();
    await new Promise((r) => setTimeout(r, 500));
    const inbox = await t
      .client('sn-melde')
      .call<{ items: InboxItem[] }>('GET', '/v1/systems/sn-melde/inbox?limit=500');
    expect(inbox.body.items.filter((i) => i.messageId === receiptId)).toHaveLength(1);
    expect(await t.gateway.auditStore.query({ messageId: receiptId, kind: 'delivered' })).toHaveLength(1);
  });

  it('sends a receipt whose case waits in the sender inbox over the bus, behind the waiting record', async () => {
    const msg = rueckmeldung();
    // An earlier record of the same case (key = the acknowledged id) that could not be delivered yet.
    const waiting = await t.gateway.mailbox.takeTicket({
      systemId: 'sn-melde',
      caseKey: msg.id,
      source: `test/0/${randomUUID()}`,
      messageId: randomUUID(),
      notBefore: new Date(Date.now() + 500).toISOString(),
    });
    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    await inboxItem(t, 'st-melde', msg.id, 'the 0201 in the st-melde inbox');
    expect((await t.client('st-melde').call('POST', `/v1/systems/st-melde/inbox/${msg.id}/ack`)).status).toBe(
      200,
    );
    const receiptId = receiptIdFor(msg.id);
    // Sorted: the issuer and the delivery stage append to different chains.
    const kinds = async () =>
      (await t.gateway.auditStore.query({ messageId: receiptId })).map((e) => e.kind).sort();
    await eventually(async () => ((await kinds()).includes('queued') ? true : undefined), 10_000, 'queued');
    await new Promise((r) => setTimeout(r, 1000));
    expect(await t.gateway.mailbox.get('sn-melde', receiptId)).toBeUndefined();
    await t.gateway.mailbox.settleTicket(waiting.ticket, 'delivered');
    await deliveredReceipt(t, receiptId, 'the receipt once its case moved on');
    expect(await kinds()).toEqual(['accepted', 'delivered', 'queued', 'signed']);
  });

  it('completes the trail of a receipt already in the inbox (a crash after the put) with its digest, sealing nothing anew', async () => {
    const msg = rueckmeldung();
    const receiptId = receiptIdFor(msg.id);
    // What a process that crashed between its put and its audit append left behind.
    await t.gateway.mailbox.putIfNew({
      systemId: 'sn-melde',
      messageId: receiptId,
      messageType: RECEIPT_TYPE,
      senderAuthority: 'ags:15003000',
      receiverAuthority: 'ags:14612000',
      senderSystem: 'st-melde',
      digest: 'left-by-a-crash',
      signedDocument: '<left-by-a-crash/>',
      nativeContentType: 'application/xml',
      nativeBody: Buffer.from('<left-by-a-crash/>'),
      createdAt: new Date().toISOString(),
    });
    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    await inboxItem(t, 'st-melde', msg.id, 'the 0201 in the st-melde inbox');
    expect((await t.client('st-melde').call('POST', `/v1/systems/st-melde/inbox/${msg.id}/ack`)).status).toBe(
      200,
    );
    const delivered = await eventually(
      async () => (await t.gateway.auditStore.query({ messageId: receiptId, kind: 'delivered' }))[0],
      10_000,
      'the receipt audited as delivered',
    );
    expect(delivered.detail).toMatchObject({ mode: 'pull', route: 'inbox', recovered: true });
    // What the inbox holds is the receipt: no second seal, no bus trip (receipts-crash-window.test.ts).
    const trail = await t.gateway.auditStore.query({ messageId: receiptId });
    expect(trail.map((e) => e.kind).sort()).toEqual(['accepted', 'delivered', 'signed']);
    expect(trail.filter((e) => e.digest !== null).map((e) => e.digest)).toEqual([
      'left-by-a-crash',
      'left-by-a-crash',
    ]);
    const inbox = await t.gateway.mailbox.list('sn-melde', { limit: 1000 });
    expect(inbox.items.filter((i) => i.messageId === receiptId)).toHaveLength(1);
  });

  it('does not answer a receipt with a receipt', async () => {
    const { id } = await sendAndAck(t);
    const receiptId = receiptIdFor(id);
    await deliveredReceipt(t, receiptId, 'the receipt');
    const ack = await t.client('sn-melde').call('POST', `/v1/systems/sn-melde/inbox/${receiptId}/ack`);
    expect(ack.status).toBe(200);
    expect(
      (await t.client('sn-melde').call<{ status: string }>('GET', `/v1/messages/${receiptId}`)).body.status,
    ).toBe('acknowledged');
    await t.gateway.followUps.receipts.idle();
    await new Promise((r) => setTimeout(r, 500));
    const second = receiptIdFor(receiptId);
    expect(await t.gateway.auditStore.query({ messageId: second })).toEqual([]);
    const stInbox = await t
      .client('st-melde')
      .call<{ items: InboxItem[] }>('GET', '/v1/systems/st-melde/inbox?limit=500');
    expect(stInbox.body.items.filter((i) => i.messageType === RECEIPT_TYPE)).toEqual([]);
  });
});

describe('receipts, push mode', () => {
  let t: TestGateway;
  let stReceiver: PushReceiver;
  let snReceiver: PushReceiver;
  const pushedToSt: PushedRequest[] = [];
  const pushedToSn: PushedRequest[] = [];

  beforeAll(async () => {
    const dataDir = tempDir('receipts-push');
    stReceiver = await startPushReceiver(dataDir, (r) => {
      pushedToSt.push(r);
      return 200;
    });
    snReceiver = await startPushReceiver(dataDir, (r) => {
      pushedToSn.push(r);
      return 204;
    });
    const contractsDir = pushContracts({ 'st-melde': stReceiver.url, 'sn-melde': snReceiver.url });
    t = await startTestGateway({ dataDir, contractsDir });
  });
  afterAll(async () => {
    await t?.stop();
    await stReceiver?.close();
    await snReceiver?.close();
  });

  it("turns the receiver's 2xx into a receipt pushed to the sender's URL", async () => {
    const msg = rueckmeldung();
    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    const receiptId = receiptIdFor(msg.id);
    const pushed = await eventually(
      async () => pushedToSn.find((r) => r.messageId === receiptId),
      15_000,
      'the receipt pushed to sn-melde',
    );
    expect(pushedToSt.map((r) => r.messageId)).toContain(msg.id);
    expect(pushed.headers['x-message-type']).toBe(RECEIPT_TYPE);
    expect(pushed.contentType).toBe('application/xml');
    expect(pushed.body.toString('utf8')).toContain(`<referenzUUID>${msg.id}</referenzUUID>`);
    const xsd = catalogue.get('xmeld', '25.11')!.xsdPath;
    expect(xmllint(xsd, [pushed.body.toString('utf8')]).valid).toEqual([true]);
    const sn = t.client('sn-melde');
    expect((await sn.call<{ status: string }>('GET', `/v1/messages/${msg.id}`)).body.status).toBe(
      'acknowledged',
    );
    // Pushed and acknowledged by the 204: no receipt of the receipt goes to st-melde.
    await eventually(async () =>
      (await sn.call<{ status: string }>('GET', `/v1/messages/${receiptId}`)).body.status === 'acknowledged'
        ? true
        : undefined,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(pushedToSt.filter((r) => r.headers['x-message-type'] === RECEIPT_TYPE)).toEqual([]);
    expect(pushedToSn.filter((r) => r.messageId === receiptId)).toHaveLength(1);
  });
});

/** A fixture of `adapter` with every id in `ids` replaced by a fresh one; returns the first new id. */
function freshFixture(adapter: string, file: string, encoding: BufferEncoding, ...ids: string[]) {
  let body = readFileSync(path.join(REPO_ROOT, 'adapters', adapter, 'fixtures', file)).toString(encoding);
  const next = ids.map(() => randomUUID());
  ids.forEach((id, i) => {
    body = body.replace(new RegExp(id, 'gi'), next[i]!);
  });
  return { body: Buffer.from(body, encoding), id: next[0]! };
}

describe('receipts in the other domains (the catalogue defines quittung.1000 for XKfz, quittung.0100 for XElterngeld)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => t?.stop());

  const cases = [
    {
      standard: 'xkfz',
      version: '1.4',
      receiptType: 'xkfz:1.4:quittung.1000',
      sender: 'sn-kfz',
      receiver: 'kba-zfzr',
      contentType: 'text/plain',
      message: () =>
        freshFixture(
          'sn-kfz',
          '1002-halterwechsel-dresden.native.txt',
          'latin1',
          'A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D',
        ),
    },
    {
      standard: 'xelterngeld',
      version: '1.2',
      receiptType: 'xelterngeld:1.2:quittung.0100',
      sender: 'elterngeld-online',
      receiver: 'sn-elterngeld',
      contentType: 'application/json',
      message: () =>
        freshFixture(
          'elterngeld-online',
          '0101-antrag-leipzig.native.json',
          'utf8',
          '2b3c4d5e-6f70-4812-93a4-b5c6d7e8f901',
        ),
    },
  ];

  it.each(cases)('$sender gets $receiptType when $receiver acknowledges', async (c) => {
    const msg = c.message();
    const sent = await t.client(c.sender).send(c.sender, msg.body, c.contentType);
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    const id = (sent.body as { messages: { messageId: string }[] }).messages[0]!.messageId;
    expect(id.toLowerCase()).toBe(msg.id.toLowerCase());
    await inboxItem(t, c.receiver, id, `the message in the ${c.receiver} inbox`);
    expect(
      (await t.client(c.receiver).call('POST', `/v1/systems/${c.receiver}/inbox/${id}/ack`)).status,
    ).toBe(200);

    const receipt = await inboxItem(t, c.sender, receiptIdFor(id), `the receipt in the ${c.sender} inbox`);
    expect(receipt.messageType).toBe(c.receiptType);
    const verified = await verifyDocument(receipt.signedDocument, {
      trustAnchors: [new X509Certificate(t.gateway.pki.caCertPem)],
    });
    expect(verified.root.getElementsByTagName('referenzUUID')[0]?.textContent).toBe(id);
    const xsd = catalogue.get(c.standard, c.version)!.xsdPath;
    expect(xmllint(xsd, [receipt.signedDocument]).valid).toEqual([true]);
    expect((await t.client(c.sender).call<{ status: string }>('GET', `/v1/messages/${id}`)).body.status).toBe(
      'acknowledged',
    );
  });
});

describe('receipts after a crash', () => {
  it('a receipt the stopped process did not issue is issued when the gateway starts again', async () => {
    const dataDir = tempDir('receipts-crash');
    let t = await startTestGateway({ dataDir });
    try {
      const msg = rueckmeldung();
      expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
      await inboxItem(t, 'st-melde', msg.id, 'the 0201 in the st-melde inbox');
      // What a process leaves behind that dies right after auditing the acknowledgement: the ack in
      // the mailbox and the audit log, and nothing else (written past the follow-ups' listener).
      const item = await t.gateway.mailbox.ack('st-melde', msg.id);
      if (!item || item === 'already') throw new Error('not acknowledged');
      await new AuditLog(t.gateway.auditStore, { chain: t.gateway.config.audit.chain }).record({
        kind: 'acknowledged',
        actor: 'system:st-melde',
        messageId: msg.id,
        sender: item.senderAuthority,
        receiver: item.receiverAuthority,
        senderSystem: item.senderSystem,
        receiverSystem: 'st-melde',
        messageType: item.messageType,
        digest: item.digest,
        detail: { mode: 'pull' },
      });
      await new Promise((r) => setTimeout(r, 500));
      expect(await t.gateway.auditStore.query({ messageId: receiptIdFor(msg.id) })).toEqual([]);
      await t.stop();

      t = await startTestGateway({ dataDir });
      await t.gateway.followUps.caughtUp;
      const receipt = await inboxItem(t, 'sn-melde', receiptIdFor(msg.id), 'the receipt after the restart');
      expect(receipt.messageType).toBe(RECEIPT_TYPE);
      // A further restart finds it issued and issues nothing.
      await t.stop();
      t = await startTestGateway({ dataDir });
      await t.gateway.followUps.caughtUp;
      expect(
        await t.gateway.auditStore.query({ messageId: receiptIdFor(msg.id), kind: 'accepted' }),
      ).toHaveLength(1);
    } finally {
      await t.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
