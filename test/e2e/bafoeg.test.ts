/**
 * The fourth domain, Ausbildungsförderung, end to end over real HTTPS with the client certificates
 * the gateway issued from the directory — added without a line of gateway/: a standard (XBAföG 1.0),
 * three adapters, a contract and three directory entries.
 *
 * A student moves from Dresden to Jena: the Saxon office (sn-bafoeg, JSON) hands her file over
 * (0401); the Thuringian office (th-bafoeg) gets it as a line of its Windows-1252 CSV batch format,
 * acknowledges it (the sender gets the receipt quittung.0400) and takes the file over (0402); Dresden
 * gets the answer as JSON, the answer closes the contract's ten-working-day deadline, and the audit
 * trail tells the whole story. Every document the gateway sealed validates against the XSD with
 * xmllint. Then the other two directions: a Saxony-Anhalt file in the legacy XML dialect refused by
 * Leipzig, a Thuringian batch to two Länder, and a hand-over inside a Land, which no contract allows;
 * finally th-bafoeg configured for push instead of its inbox.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiptIdFor } from '../../gateway/receipts/receipt-id.ts';
import { parseXmlSafely } from '../../gateway/xml/safe-parse.ts';
import { catalogue } from '../../standards/index.ts';
import { xmllint } from '../../standards/xoev/testing/helpers.ts';
import { cp1252, domainSystems, fresh, type InboxItem, payloadBytes, text } from '../support/domain-flows.ts';
import {
  eventually,
  pushContracts,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { type PushedRequest, type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';

interface Problem {
  status: number;
  code: string;
  detail: string;
}

const XBAFOEG = catalogue.get('xbafoeg', '1.0')!;
const DRESDEN = 'afa:14612000';
/** The audit events of a message carried from sender to receiver and acknowledged, sorted by name. */
const STORY = ['accepted', 'acknowledged', 'delivered', 'queued', 'received', 'signed'];
const JENA = 'afa:16053000';

/** The sealed documents validate against the XBAföG XSD, checked by xmllint (not by our own code). */
function expectValidAgainstXsd(...docs: string[]): void {
  const { valid, output } = xmllint(XBAFOEG.xsdPath, docs);
  expect(valid, output).toEqual(docs.map(() => true));
}

describe('Ausbildungsförderung (XBAföG) end to end', () => {
  let t: TestGateway;
  let ca: X509Certificate;
  const { as, send, receive } = domainSystems(() => t);

  beforeAll(async () => {
    t = await startTestGateway();
    ca = new X509Certificate(t.gateway.pki.caCertPem);
  });
  afterAll(async () => t?.stop());

  const kinds = async (messageId: string) =>
    (await t.gateway.auditStore.query({ messageId })).map((e) => e.kind);

  it('the directory gave every BAföG system a client certificate for its own identity', () => {
    for (const id of ['sn-bafoeg', 'st-bafoeg', 'th-bafoeg']) {
      const pem = readFileSync(path.join(t.dataDir, 'pki', 'systems', `${id}.crt`), 'utf8');
      const cert = new X509Certificate(pem);
      expect(cert.subject).toContain(`CN=${id}`);
      expect(cert.checkIssued(ca)).toBe(true);
    }
  });

  it('Dresden hands a file over to Jena: CSV in, receipt and takeover back as JSON, deadline closed, full trail', async () => {
    // --- 0401: sn-bafoeg (JSON) → th-bafoeg
    const abgabe = fresh(
      text('sn-bafoeg', '0401-abgabe-dresden-jena.native.json'),
      '5E6F7A8B-9C0D-4E1F-8A2B-3C4D5E6F7A80',
    );
    const abgabeId = abgabe.ids[0]!;
    const accepted = await send('sn-bafoeg', abgabe.body, 'application/json');
    expect(accepted.messages).toEqual([
      expect.objectContaining({
        messageId: abgabeId,
        messageType: 'xbafoeg:1.0:akte.abgabe.0401',
        receiverSystem: 'th-bafoeg',
      }),
    ]);

    const inJena = await receive('th-bafoeg', abgabeId);
    expect(inJena.payload).toMatchObject({
      contentType: 'text/csv; charset=windows-1252',
      encoding: 'base64',
    });
    const [header, line, rest] = iconv.decode(payloadBytes(inJena), 'win1252').split('\r\n');
    expect(header).toMatch(/^SATZART;VORGANG_ID;BEZUG_ID;/);
    expect(rest).toBe('');
    expect(line).toMatch(
      new RegExp(
        `^AB;${abgabeId};;N;14612000;Studentenwerk Dresden, Amt für Ausbildungsförderung;16053000;` +
          'Studierendenwerk Thüringen, Amt für Ausbildungsförderung;146120047112;AfA-DD 2026/004711;1;Krause;;Sophie Marie;',
      ),
    );
    expect(line).toContain(';Technische Universität Dresden;01;Dresden;SN;');
    expect(line).toContain(';Friedrich-Schiller-Universität Jena;01;Jena;TH;');
    expect(line).toContain(';01.10.2026;01.04.2026;31.03.2027;01;855,00;30.11.2026;3/12.06.2026/412,50;');
    const root = parseXmlSafely(inJena.signedDocument).documentElement!;
    expect([root.namespaceURI, root.localName]).toEqual(['urn:xoev-de:xbafoeg:1.0', 'akte.abgabe.0401']);

    // The acknowledgement gives Dresden its receipt, quittung.0400, written on Jena's behalf.
    const receiptId = receiptIdFor(abgabeId);
    const receipt = await receive('sn-bafoeg', receiptId);
    expect(receipt.messageType).toBe('xbafoeg:1.0:quittung.0400');

    // The contract's deadline: ten working days of Thüringen, still open.
    expect(await t.gateway.followUps.overdue.get(abgabeId)).toMatchObject({
      contract: 'xbafoeg-akte',
      land: 'TH',
      workingDays: 10,
      receiverSystem: 'th-bafoeg',
      answerId: null,
    });

    // --- 0402: th-bafoeg (CSV) → sn-bafoeg
    const antwort = fresh(
      cp1252('th-bafoeg', '0402-uebernahme-jena.native.csv'),
      '6F7A8B9C-0D1E-4F2A-9B3C-4D5E6F7A8B91',
      '5E6F7A8B-9C0D-4E1F-8A2B-3C4D5E6F7A80',
    );
    const antwortId = antwort.ids[0]!;
    const answered = await send(
      'th-bafoeg',
      iconv.encode(antwort.body.replace(antwort.ids[1]!, abgabeId), 'win1252'),
      'text/csv',
    );
    expect(answered.messages).toEqual([
      expect.objectContaining({
        messageId: antwortId,
        messageType: 'xbafoeg:1.0:akte.uebernahme.0402',
        receiverSystem: 'sn-bafoeg',
      }),
    ]);
    const inDresden = await receive('sn-bafoeg', antwortId);
    expect(inDresden.payload.contentType).toContain('application/json');
    expect(JSON.parse(inDresden.payload.data)).toEqual({
      vorgangsart: 'UEBERNAHME',
      vorgang: {
        id: antwortId,
        bezugId: abgabeId,
        erstellt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
        testfall: false,
      },
      absender: { amt: JENA, bezeichnung: 'Studierendenwerk Thüringen, Amt für Ausbildungsförderung' },
      empfaenger: { amt: DRESDEN, bezeichnung: 'Studentenwerk Dresden, Amt für Ausbildungsförderung' },
      foerderungsnummer: '146120047112',
      ergebnis: 'UEBERNOMMEN',
      aktenzeichenNeu: 'J-BAF-26-10233',
      fortsetzungAb: '2026-12-01',
    });

    // Every document the gateway sealed on the way is valid XBAföG, by the XSD.
    expectValidAgainstXsd(inJena.signedDocument, receipt.signedDocument, inDresden.signedDocument);

    // The answer closes the deadline; Dresden sees its file acknowledged.
    await eventually(
      async () =>
        (await t.gateway.followUps.overdue.get(abgabeId))?.answerId === antwortId ? true : undefined,
      15_000,
      'the takeover to close the deadline',
    );
    const status = await as('sn-bafoeg').call<{ status: string }>('GET', `/v1/messages/${abgabeId}`);
    expect(status.body.status).toBe('acknowledged');

    // The audit trail: each of the three documents accepted, sealed, delivered and taken over, by
    // the systems and authorities the directory names; the hand-over's digest is the sealed bytes'.
    await eventually(
      async () => ((await kinds(antwortId)).includes('acknowledged') ? true : undefined),
      15_000,
      'the takeover acknowledged in the audit trail',
    );
    const trail = await t.gateway.auditStore.query({ messageId: abgabeId });
    expect(trail.map((e) => e.kind).sort()).toEqual(STORY);
    const acceptedEntry = trail.find((e) => e.kind === 'accepted')!;
    expect(acceptedEntry).toMatchObject({
      actor: 'system:sn-bafoeg',
      sender: DRESDEN,
      receiver: JENA,
      senderSystem: 'sn-bafoeg',
      receiverSystem: 'th-bafoeg',
      messageType: 'xbafoeg:1.0:akte.abgabe.0401',
    });
    expect(trail.find((e) => e.kind === 'acknowledged')).toMatchObject({ actor: 'system:th-bafoeg' });
    const answerTrail = await t.gateway.auditStore.query({ messageId: antwortId });
    expect(answerTrail.map((e) => e.kind).sort()).toEqual(STORY);
    expect(answerTrail.find((e) => e.kind === 'accepted')).toMatchObject({
      actor: 'system:th-bafoeg',
      sender: JENA,
      receiver: DRESDEN,
      messageType: 'xbafoeg:1.0:akte.uebernahme.0402',
    });
    // The receipt is the gateway's own document: no ingress, no queue (pull senders get it directly).
    expect((await kinds(receiptId)).sort()).toEqual(['accepted', 'acknowledged', 'delivered', 'signed']);
    // No personal data in the trail: metadata only.
    const everything = JSON.stringify([...trail, ...answerTrail]);
    expect(everything).not.toContain('Krause');
    expect(everything).not.toContain('146120047112');
  });

  it('Magdeburg hands a file to Leipzig in its XML dialect; Leipzig refuses; the refusal arrives as XML', async () => {
    const abgabe = fresh(
      text('st-bafoeg', '0401-abgabe-magdeburg-leipzig.native.xml'),
      '9C0D1E2F-3A4B-4C5D-8E6F-7A8B9C0D1E24',
    );
    const abgabeId = abgabe.ids[0]!;
    const accepted = await send('st-bafoeg', abgabe.body, 'application/xml');
    expect(accepted.messages[0]!.receiverSystem).toBe('sn-bafoeg');
    const inLeipzig = JSON.parse((await receive('sn-bafoeg', abgabeId)).payload.data);
    expect(inLeipzig).toMatchObject({
      vorgangsart: 'AKTENABGABE',
      absender: { amt: 'afa:15003000' },
      empfaenger: { amt: 'afa:14713000' },
      neu: { name: 'Universität Leipzig', land: 'SN', art: 'UNIVERSITAET' },
      bisher: { land: 'ST' },
      monatsbetrag: '1020.00',
      rueckforderungen: [],
    });

    const refusal = JSON.parse(text('sn-bafoeg', '0402-ablehnung-leipzig.native.json'));
    refusal.vorgang = { ...refusal.vorgang, id: randomUUID(), bezugId: abgabeId };
    refusal.empfaenger = {
      amt: 'afa:15003000',
      bezeichnung: 'Studentenwerk Magdeburg, Amt für Ausbildungsförderung',
    };
    refusal.foerderungsnummer = '150030118830';
    await send('sn-bafoeg', JSON.stringify(refusal), 'application/json');
    const inMagdeburg = await receive('st-bafoeg', refusal.vorgang.id);
    expect(inMagdeburg.payload.contentType).toContain('application/xml');
    const dialect = inMagdeburg.payload.data;
    expect(dialect).toContain('<DialogNachricht xmlns="urn:st-bafoeg:dialog:3" Typ="ANTWORT" Version="3.1">');
    expect(dialect).toContain(`BezugId="${abgabeId}"`);
    expect(dialect).toContain('<Antwort FoerdNr="150030118830" Ergebnis="ABLEHNUNG">');
    expect(dialect).toContain('<Ablehnung Grund="02">');
    expectValidAgainstXsd(inMagdeburg.signedDocument);
    expect((await t.gateway.followUps.overdue.get(abgabeId))?.answerId).toBe(refusal.vorgang.id);
  });

  it('a Thuringian batch at the start of the semester goes to two Länder, each in its own format', async () => {
    const batch = fresh(
      cp1252('th-bafoeg', '0401-sammelabgabe-jena.native.csv'),
      '2A3B4C5D-6E7F-4A8B-9C0D-1E2F3A4B5C61',
      '2A3B4C5D-6E7F-4A8B-9C0D-1E2F3A4B5C62',
    );
    const accepted = await send('th-bafoeg', iconv.encode(batch.body, 'win1252'), 'text/csv');
    expect(accepted.messages.map((m) => [m.messageId, m.receiverSystem])).toEqual([
      [batch.ids[0], 'sn-bafoeg'],
      [batch.ids[1], 'st-bafoeg'],
    ]);
    const dresden = JSON.parse((await receive('sn-bafoeg', batch.ids[0]!)).payload.data);
    expect(dresden.rueckforderungen).toEqual([
      { grund: 'UEBERZAHLUNG', bescheidVom: '2026-03-14', offen: '1020.00' },
      { grund: 'ABBRUCH', bescheidVom: '2026-09-02', offen: '248.00' },
    ]);
    const halle = (await receive('st-bafoeg', batch.ids[1]!)).payload.data;
    expect(halle).toContain('<Name>Öztürk</Name>');
    expect(halle).toContain('<Bewilligung Von="20260401" Bis="20270331" Art="01" Monatsbetrag="734,00"');
  });

  it('a repayment claim BAföG-TH wrote wrongly is named by line, claim and standard field; nothing is sent', async () => {
    const batch = fresh(
      cp1252('th-bafoeg', '0401-sammelabgabe-jena.native.csv'),
      '2A3B4C5D-6E7F-4A8B-9C0D-1E2F3A4B5C61',
      '2A3B4C5D-6E7F-4A8B-9C0D-1E2F3A4B5C62',
    );
    const broken = batch.body.replace('2/02.09.2026/248,00', '2/02.09.2026/248.00.00');
    const r = await as('th-bafoeg').send('th-bafoeg', iconv.encode(broken, 'win1252'), 'text/csv');
    expect(r.status).toBe(422);
    const problem = r.body as Problem & { errors: { nativeField: string; pointer: string }[] };
    expect(problem.code).toBe('GW_ERR_MAPPING_FAILED');
    expect(problem.errors).toEqual([
      expect.objectContaining({
        nativeField: 'line 2, column RUECKFORDERUNGEN[1]',
        pointer: '/rueckforderung/1/offenerBetrag',
      }),
    ]);
    for (const id of batch.ids) expect(await kinds(id)).not.toContain('accepted');
  });

  it('a hand-over inside a Land is not the gateway’s business: no contract allows it', async () => {
    const inside = JSON.parse(text('sn-bafoeg', '0401-abgabe-dresden-jena.native.json'));
    inside.vorgang.id = randomUUID();
    inside.empfaenger = {
      amt: 'afa:14713000',
      bezeichnung: 'Studentenwerk Leipzig, Amt für Ausbildungsförderung',
    };
    const r = await as('sn-bafoeg').send('sn-bafoeg', JSON.stringify(inside), 'application/json');
    expect(r.status).toBe(403);
    expect((r.body as Problem).code).toBe('GW_ERR_CONTRACT_VIOLATION');
    expect(await kinds(inside.vorgang.id)).toContain('rejected');
  });

  it('an office may only speak for its own Land: Dresden cannot send as Jena', async () => {
    const forged = JSON.parse(text('sn-bafoeg', '0401-abgabe-dresden-jena.native.json'));
    forged.vorgang.id = randomUUID();
    forged.absender = { amt: JENA, bezeichnung: 'Studierendenwerk Thüringen, Amt für Ausbildungsförderung' };
    forged.empfaenger = { amt: DRESDEN, bezeichnung: 'Studentenwerk Dresden, Amt für Ausbildungsförderung' };
    const r = await as('sn-bafoeg').send('sn-bafoeg', JSON.stringify(forged), 'application/json');
    expect(r.status).toBe(403);
    expect((r.body as Problem).code).toBe('GW_ERR_SENDER_AUTHORITY');
  });
});

describe('th-bafoeg configured for push: the file arrives as its CSV over mTLS', () => {
  let t: TestGateway;
  let receiver: PushReceiver;
  const pushed: PushedRequest[] = [];

  beforeAll(async () => {
    const dataDir = tempDir('bafoeg-push');
    receiver = await startPushReceiver(dataDir, (r) => {
      pushed.push(r);
      return 200;
    });
    t = await startTestGateway({ dataDir, contractsDir: pushContracts({ 'th-bafoeg': receiver.url }) });
  });
  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
  });

  it('Jena’s endpoint gets the hand-over; its 200 is the acknowledgement that gives Dresden the receipt', async () => {
    const abgabe = fresh(
      text('sn-bafoeg', '0401-abgabe-dresden-jena.native.json'),
      '5E6F7A8B-9C0D-4E1F-8A2B-3C4D5E6F7A80',
    );
    const abgabeId = abgabe.ids[0]!;
    const sn = t.client('sn-bafoeg');
    const r = await sn.send('sn-bafoeg', abgabe.body, 'application/json');
    expect(r.status, JSON.stringify(r.body)).toBe(202);

    const request = await eventually(
      async () => pushed.find((p) => p.messageId === abgabeId),
      15_000,
      'the push to th-bafoeg',
    );
    expect(request.clientCommonName).toBe('laender-gateway');
    expect(request.contentType).toBe('text/csv; charset=windows-1252');
    const line = iconv.decode(request.body, 'win1252').split('\r\n')[1]!;
    expect(line).toMatch(new RegExp(`^AB;${abgabeId};;N;14612000;`));
    expect(line).toContain(';Krause;;Sophie Marie;;17.04.2004;Löbdergraben;12;07743;Jena;16053000;');

    const receipt = await eventually(
      async () =>
        (
          await sn.call<{ items: InboxItem[] }>('GET', '/v1/systems/sn-bafoeg/inbox?limit=500')
        ).body.items.find((i) => i.messageId === receiptIdFor(abgabeId)),
      15_000,
      'the receipt in the inbox of sn-bafoeg',
    );
    expect(receipt.messageType).toBe('xbafoeg:1.0:quittung.0400');
    expectValidAgainstXsd(receipt.signedDocument);
    const status = await sn.call<{ status: string }>('GET', `/v1/messages/${abgabeId}`);
    expect(status.body.status).toBe('acknowledged');
  });
});
