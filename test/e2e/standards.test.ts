/**
 * The standards catalogue end to end, over real HTTPS with real certificates:
 * - a system that speaks XMeld 25.05 natively (th-xmeld, Weimar) sends a Rückmeldung to Dresden,
 *   whose system accepts only 25.11: the gateway converts it (audited), sn-melde gets it in its own
 *   format; sn-melde's answer travels back down to 25.05 and validates against the 25.05 XSD;
 * - a conversion that would lose data (a move-in date, which 25.05 cannot carry) is refused;
 * - POST /v1/messages takes standard documents with and without the sender's own signature; a
 *   broken or foreign signature is refused, and a contract can require the signature;
 * - the catalogue API serves all four standards, their XSDs, code lists and examples.
 */
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { defineAdapter } from '../../adapters/sdk/adapter.ts';
import { AdapterRegistry } from '../../adapters/sdk/registry.ts';
import { type Gateway, startGateway } from '../../gateway/app.ts';
import { type ClientResponse, SystemClient } from '../../gateway/cli/system-client.ts';
import { loadConfig, REPO_ROOT } from '../../gateway/config/load.ts';
import type { AuditEntry } from '../../gateway/ports/audit-store.ts';
import { DocumentSigner } from '../../gateway/signing/signer.ts';
import { verifyDocument } from '../../gateway/signing/verifier.ts';
import { parseXmlSafely } from '../../gateway/xml/safe-parse.ts';
import type { XoevMessage } from '../../standards/catalogue.ts';
import { catalogue } from '../../standards/index.ts';
import { LISTS, type Rueckmeldung0201 } from '../../standards/xmeld/25.05/schema.ts';
import { codeValue } from '../../standards/xoev/codelist.ts';
import { exampleMessage } from '../../standards/xoev/testing/helpers.ts';
import { fromElement, toCanonicalXml, validateMessage } from '../../standards/xoev/xml-codec.ts';
import { contractsWith, eventually, TEST_PASSPHRASE, tempDir } from '../support/gateway.ts';

const R0201_2505 = catalogue.messageType('xmeld', '25.05', 'rueckmeldung.anmeldunginland.0201')!;
const A0203_2505 = catalogue.messageType('xmeld', '25.05', 'rueckmeldung.auswertung.0203')!;
const XMELD_2505_TYPES = catalogue.get('xmeld', '25.05')!.messageTypes.map((t) => t.id);

const WEIMAR = {
  verzeichnisdienst: 'DVDV' as const,
  kennung: 'ags:16055000',
  name: 'Stadt Weimar, Bürgerbüro',
};
const ERFURT = {
  verzeichnisdienst: 'DVDV' as const,
  kennung: 'ags:16051000',
  name: 'Stadt Erfurt, Bürgeramt',
};
const DRESDEN = {
  verzeichnisdienst: 'DVDV' as const,
  kennung: 'ags:14612000',
  name: 'Landeshauptstadt Dresden, Bürgeramt Altstadt',
};

/** A Thüringen registration system that speaks XMeld 25.05 itself: no translation, both ways. */
const xmeld2505Native = defineAdapter({
  spec: {
    id: 'test-xmeld-2505',
    title: 'Meldewesen Weimar/Erfurt (test system, XMeld 25.05 native)',
    land: 'TH',
    format: 'XMeld 25.05 documents',
    decodes: { contentTypes: ['application/xml'], charset: 'utf-8', messageTypes: XMELD_2505_TYPES },
    encodes: { contentType: 'application/xml', messageTypes: XMELD_2505_TYPES },
  },
  decode(input) {
    const root = parseXmlSafely(input.body.toString('utf8')).documentElement;
    const spec = catalogue.byRoot(root.namespaceURI, root.localName)!;
    return [{ spec, message: fromElement(spec, root), nativeRef: '/' }];
  },
  encode(message, spec) {
    return { contentType: 'application/xml', body: Buffer.from(toCanonicalXml(spec, message), 'utf8') };
  },
});

interface Problem {
  code: string;
  pointer?: string;
  errors?: { pointer: string; detail: string }[];
}
interface Accepted {
  messages: { messageId: string; messageType: string; receiverSystem: string; convertedTo?: string }[];
}
interface InboxItem {
  messageId: string;
  payload: { data: string; contentType: string };
  signedDocument: string;
}

/** A 25.05 Rückmeldung from `autor` to Dresden: the person moved from Dresden to Thüringen. */
function rueckmeldung2505(autor = WEIMAR): { id: string; message: XoevMessage } {
  const m = structuredClone(exampleMessage(R0201_2505)) as unknown as Rueckmeldung0201;
  const id = randomUUID();
  const kopf = m['nachrichtenkopf.g2g'];
  kopf['identifikation.nachricht'].nachrichtenUUID = id;
  kopf['identifikation.nachricht'].erstellungszeitpunkt = new Date().toISOString();
  kopf.autor = autor;
  kopf.leser = DRESDEN;
  const ags = autor.kennung.slice(4);
  m['wohnung.neu'].anschrift = {
    strasse: 'Schillerstraße',
    hausnummer: '5',
    postleitzahl: ags === '16055000' ? '99423' : '99084',
    ort: ags === '16055000' ? 'Weimar' : 'Erfurt',
    gemeindeschluessel: codeValue(LISTS.ags, ags),
  };
  m['wohnung.bisher'].anschrift = {
    strasse: 'Königsbrücker Straße',
    hausnummer: '12a',
    postleitzahl: '01099',
    ort: 'Dresden',
    gemeindeschluessel: codeValue(LISTS.ags, '14612000'),
  };
  return { id, message: validateMessage(R0201_2505, m) };
}

function xmllintValidates(xsd: string, xml: string): boolean {
  const file = path.join(tempDir('xmllint'), 'doc.xml');
  writeFileSync(file, xml);
  const r = spawnSync('xmllint', ['--noout', '--schema', xsd, file], { encoding: 'utf8' });
  rmSync(path.dirname(file), { recursive: true, force: true });
  if (r.error) throw r.error;
  return r.status === 0;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

describe('standards end to end', () => {
  let gateway: Gateway;
  let dataDir: string;
  let contractsDir: string;
  const clients: SystemClient[] = [];
  const client = (id: string | null) => {
    const c = SystemClient.forSystem(gateway.url, dataDir, id);
    clients.push(c);
    return c;
  };
  const postStandard = (c: SystemClient, xml: string, contentType = 'application/xml') =>
    c.call<Accepted & Problem>('POST', '/v1/messages', xml, { 'content-type': contentType });
  const signerOf = (systemId: string) => {
    const dir = path.join(dataDir, 'pki', 'systems');
    const privateKey = createPrivateKey(readFileSync(path.join(dir, `${systemId}.key`), 'utf8'));
    return new DocumentSigner({
      privateKey,
      certPem: readFileSync(path.join(dir, `${systemId}.crt`), 'utf8'),
      algorithm: privateKey.asymmetricKeyType === 'ec' ? 'ecdsa-p256-sha256' : 'rsa-sha256',
    });
  };
  // By time: the delivery stage writes to the chains of its partitions, ingress to the main chain.
  const events = async (messageId: string): Promise<AuditEntry[]> =>
    (await gateway.auditStore.query({ messageId, limit: 100 })).sort((a, b) => a.time.localeCompare(b.time));
  const inboxItem = (c: SystemClient, systemId: string, messageId: string) =>
    eventually(
      async () =>
        (await c.call<{ items: InboxItem[] }>('GET', `/v1/systems/${systemId}/inbox`)).body.items.find(
          (i) => i.messageId === messageId,
        ),
      20_000,
      `${messageId} in the inbox of ${systemId}`,
    );
  const expectProblem = (res: ClientResponse<Problem>, status: number, code: string) => {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(String(res.headers['content-type'])).toContain('application/problem+json');
    expect(res.body.code).toBe(code);
    return res.body;
  };

  beforeAll(async () => {
    dataDir = tempDir('standards-data');
    contractsDir = contractsWith((systems) => [
      ...systems,
      {
        id: 'th-xmeld',
        title: 'Meldewesen Weimar und Erfurt (XMeld 25.05, standard-native)',
        land: 'TH',
        adapter: 'test-xmeld-2505',
        serves: ['ags:16055000', 'ags:16051000'],
        delivery: { mode: 'pull' },
        accepts: [{ standard: 'xmeld', versions: ['25.05'] }],
      },
    ]);
    const rule = (authority: string) => ({
      from: { systems: ['th-xmeld'], authorities: [authority] },
      to: ['ags:14*', 'ags:15*'],
      messageTypes: ['rueckmeldung.anmeldunginland.0201', 'rueckmeldung.auswertung.0203'],
    });
    writeFileSync(
      path.join(contractsDir, 'xmeld-weimar.contract.yaml'),
      YAML.stringify({
        id: 'xmeld-weimar',
        title: 'Rückmeldungen aus Weimar (XMeld 25.05)',
        standard: 'xmeld',
        rules: [rule('ags:16055000')],
        requirements: { signature: 'gateway', retentionDays: 730 },
      }),
    );
    writeFileSync(
      path.join(contractsDir, 'xmeld-erfurt-signiert.contract.yaml'),
      YAML.stringify({
        id: 'xmeld-erfurt-signiert',
        title: 'Rückmeldungen aus Erfurt, vom Absender signiert',
        standard: 'xmeld',
        rules: [rule('ags:16051000')],
        requirements: { signature: 'sender-and-gateway', retentionDays: 730 },
      }),
    );
    const adapters = new AdapterRegistry();
    adapters.register(xmeld2505Native);
    gateway = await startGateway(
      loadConfig({
        GATEWAY_DATA_DIR: dataDir,
        GATEWAY_CONTRACTS_DIR: contractsDir,
        GATEWAY_PORT: '0',
        GATEWAY_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
        GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
        GATEWAY_REDELIVERY_DELAY_MS: '200',
      }),
      { adapters },
    );
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gateway?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(contractsDir, { recursive: true, force: true });
  });

  it('a 25.05 sender reaches a 25.11-only receiver, and the answer comes back in 25.05', async () => {
    const th = client('th-xmeld');
    const sn = client('sn-melde');
    const ca = new X509Certificate(gateway.pki.caCertPem);

    // Not canonical on purpose: an XML declaration and a comment, as a vendor's system writes it.
    const { id, message } = rueckmeldung2505();
    const sent = await postStandard(
      th,
      `<?xml version="1.0" encoding="UTF-8"?>\n<!-- Fachverfahren Weimar -->\n${toCanonicalXml(R0201_2505, message)}\n`,
    );
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    expect(sent.body.messages).toEqual([
      {
        messageId: id,
        messageType: 'xmeld:25.05:rueckmeldung.anmeldunginland.0201',
        convertedTo: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
        receiverSystem: 'sn-melde',
        status: 'queued',
        statusUrl: `${gateway.url}/v1/messages/${id}`,
      },
    ]);

    // sn-melde gets its own JSON, and the sealed document is XMeld 25.11.
    const item = await inboxItem(sn, 'sn-melde', id);
    const native = JSON.parse(item.payload.data);
    expect(native.person).toMatchObject({ nachname: 'Weiß', geburtsdatum: '1984-03-17', titel: 'Dr. med.' });
    expect(native.neueAnschrift).toMatchObject({ ort: 'Weimar', ags: '16055000' });
    const sealed = await verifyDocument(item.signedDocument, { trustAnchors: [ca] });
    expect(sealed.root.namespaceURI).toBe('urn:xoev-de:xmeld:25.11');
    expect(xmllintValidates(catalogue.get('xmeld', '25.11')!.xsdPath, item.signedDocument)).toBe(true);

    // The conversion is in the audit log, between acceptance and sealing.
    const trail = await events(id);
    expect(trail.map((e) => e.kind).slice(0, 5)).toEqual([
      'received',
      'accepted',
      'converted',
      'signed',
      'queued',
    ]);
    expect(trail.find((e) => e.kind === 'converted')).toMatchObject({
      actor: 'gateway',
      messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
      digest: sealed.digest,
      detail: {
        from: 'xmeld:25.05:rueckmeldung.anmeldunginland.0201',
        to: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
      },
    });
    expect(trail.find((e) => e.kind === 'received')!.detail).not.toHaveProperty('senderSignature');

    // Dresden answers in its own JSON (XMeld 25.11); Weimar gets XMeld 25.05.
    const answerId = randomUUID();
    const answer = JSON.parse(
      readFileSync(path.join(REPO_ROOT, 'adapters/sn-melde/fixtures/0203-auswertung.native.json'), 'utf8'),
    );
    answer.vorgang = { ...answer.vorgang, id: answerId, bezugId: id, erstelltAm: new Date().toISOString() };
    answer.absender = { ags: '14612000', behoerde: DRESDEN.name };
    answer.empfaenger = { ags: '16055000', behoerde: WEIMAR.name };
    const back = await sn.send('sn-melde', JSON.stringify(answer), 'application/json');
    expect(back.status, JSON.stringify(back.body)).toBe(202);
    expect((back.body as Accepted).messages[0]).toMatchObject({
      messageType: 'xmeld:25.11:rueckmeldung.auswertung.0203',
      convertedTo: 'xmeld:25.05:rueckmeldung.auswertung.0203',
      receiverSystem: 'th-xmeld',
    });
    const backItem = await inboxItem(th, 'th-xmeld', answerId);
    expect(backItem.payload.contentType).toBe('application/xml');
    expect(xmllintValidates(catalogue.get('xmeld', '25.05')!.xsdPath, backItem.payload.data)).toBe(true);
    const backSealed = await verifyDocument(backItem.signedDocument, { trustAnchors: [ca] });
    expect(backSealed.root.namespaceURI).toBe('urn:xoev-de:xmeld:25.05');
    const read = validateMessage(A0203_2505, fromElement(A0203_2505, backSealed.root));
    expect(read['nachrichtenkopf.g2g'].referenzUUID).toBe(id);
    expect(read['nachrichtenkopf.g2g'].leser.kennung).toBe('ags:16055000');
    expect((await events(answerId)).find((e) => e.kind === 'converted')?.detail).toEqual({
      from: 'xmeld:25.11:rueckmeldung.auswertung.0203',
      to: 'xmeld:25.05:rueckmeldung.auswertung.0203',
    });
  });

  it('refuses a conversion that would lose data, and converts once nothing would be lost', async () => {
    const sn = client('sn-melde');
    const fixture = readFileSync(
      path.join(REPO_ROOT, 'adapters/sn-melde/fixtures/0201-umzug-magdeburg-dresden.native.json'),
      'utf8',
    );
    const toWeimar = (einzug: boolean) => {
      const doc = JSON.parse(fixture);
      doc.vorgang.id = randomUUID();
      doc.empfaenger = { ags: '16055000', behoerde: WEIMAR.name };
      doc.bisherigeAnschrift = {
        strasse: 'Markt',
        hausnummer: '1',
        plz: '99423',
        ort: 'Weimar',
        ags: '16055000',
      };
      if (!einzug) delete doc.neueAnschrift.einzug;
      return { id: doc.vorgang.id as string, body: JSON.stringify(doc) };
    };
    const lossy = toWeimar(true);
    const problem = expectProblem(
      (await sn.send('sn-melde', lossy.body, 'application/json')) as ClientResponse<Problem>,
      422,
      'GW_ERR_CONVERSION_LOSSY',
    );
    expect(problem.errors?.map((e) => e.pointer)).toEqual(['/wohnung.neu/einzugsdatum']);
    const trail = await events(lossy.id);
    expect(trail.map((e) => e.kind)).toEqual(['rejected']);
    expect(trail[0]!.detail).toMatchObject({ code: 'GW_ERR_CONVERSION_LOSSY' });

    const fine = toWeimar(false);
    const sent = await sn.send('sn-melde', fine.body, 'application/json');
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    const item = await inboxItem(client('th-xmeld'), 'th-xmeld', fine.id);
    expect(item.payload.data).toContain('<ort>Weimar</ort>');
    expect(item.payload.data).not.toContain('wohnort');
  });

  it('POST /v1/messages takes a document signed by its sender and keeps the signature as evidence', async () => {
    const th = client('th-xmeld');
    const { id, message } = rueckmeldung2505();
    const signed = signerOf('th-xmeld').signCanonical(toCanonicalXml(R0201_2505, message));
    const sent = await postStandard(th, signed);
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    const received = (await events(id)).find((e) => e.kind === 'received')!;
    expect(received.detail).toMatchObject({
      senderSignature: {
        digest: sha256(signed),
        signerSerial: new X509Certificate(
          readFileSync(gateway.pki.systemCertPath('th-xmeld')),
        ).serialNumber.toLowerCase(),
      },
    });
    // The receiver gets the gateway's seal on the converted document; the sender's signature is evidence.
    const item = await inboxItem(client('sn-melde'), 'sn-melde', id);
    const sealed = await verifyDocument(item.signedDocument, {
      trustAnchors: [new X509Certificate(gateway.pki.caCertPem)],
    });
    const senderSerial = (received.detail.senderSignature as { signerSerial: string }).signerSerial;
    expect(sealed.signer.serial).not.toBe(senderSerial);
    expect(sealed.root.namespaceURI).toBe('urn:xoev-de:xmeld:25.11');
  });

  it('refuses a tampered document and a document signed by another system', async () => {
    const th = client('th-xmeld');
    const tampered = rueckmeldung2505();
    const signed = signerOf('th-xmeld').signCanonical(toCanonicalXml(R0201_2505, tampered.message));
    const problem = expectProblem(
      await postStandard(
        th,
        signed.replace('<familienname>Weiß</familienname>', '<familienname>Weiss</familienname>'),
      ),
      422,
      'GW_ERR_SIGNATURE_INVALID',
    );
    expect(problem).toBeTruthy();
    const foreign = rueckmeldung2505();
    const byOther = signerOf('sn-melde').signCanonical(toCanonicalXml(R0201_2505, foreign.message));
    const refused = await postStandard(th, byOther);
    expectProblem(refused, 422, 'GW_ERR_SIGNATURE_INVALID');
    expect(JSON.stringify(refused.body)).toContain('certificate-not-pinned');
    for (const id of [tampered.id, foreign.id]) {
      expect((await events(id)).map((e) => e.kind)).not.toContain('accepted');
    }
  });

  it('a contract can require the sender signature', async () => {
    const th = client('th-xmeld');
    const unsigned = rueckmeldung2505(ERFURT);
    expectProblem(
      await postStandard(th, toCanonicalXml(R0201_2505, unsigned.message)),
      422,
      'GW_ERR_SIGNATURE_REQUIRED',
    );
    const signed = signerOf('th-xmeld').signCanonical(toCanonicalXml(R0201_2505, unsigned.message));
    const sent = await postStandard(th, signed);
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    expect(sent.body.messages[0]!.messageId).toBe(unsigned.id);
  });

  it('bad standard documents get problem+json with a stable code, and are audited', async () => {
    const th = client('th-xmeld');
    const valid = () => toCanonicalXml(R0201_2505, rueckmeldung2505().message);
    const before = (await gateway.auditStore.query({ kind: 'rejected', limit: 100_000 })).length;
    expectProblem(await postStandard(client(null), valid()), 401, 'GW_ERR_CLIENT_CERT_REQUIRED');
    expectProblem(await postStandard(th, valid(), 'application/json'), 415, 'GW_ERR_UNSUPPORTED_MEDIA_TYPE');
    expectProblem(await postStandard(th, '<x:nachricht xmlns:x="urn:x"/>'), 422, 'GW_ERR_UNKNOWN_STANDARD');
    expectProblem(
      await postStandard(th, `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>${valid()}`),
      400,
      'GW_ERR_XML_FORBIDDEN_CONSTRUCT',
    );
    expectProblem(await postStandard(th, valid().slice(0, -20)), 400, 'GW_ERR_MALFORMED_PAYLOAD');
    const notOnList = expectProblem(
      await postStandard(th, valid().replace('<code>w</code>', '<code>q</code>')),
      422,
      'GW_ERR_CODE_NOT_IN_LIST',
    );
    expect(notOnList.pointer).toBe('/person/geschlecht/code');
    const wrongName = expectProblem(
      await postStandard(th, valid().replace(/<ort>(.*?)<\/ort>/, '<wohnort>$1</wohnort>')),
      422,
      'GW_ERR_SCHEMA_INVALID',
    );
    expect(wrongName.pointer).toBe('/wohnung.neu/anschrift/wohnort');
    expectProblem(
      await postStandard(
        th,
        valid().replace('<kennung>ags:16055000</kennung>', '<kennung>ags:15003000</kennung>'),
      ),
      403,
      'GW_ERR_SENDER_AUTHORITY',
    );
    const latin1 = Buffer.from(valid().replace('Weiß', 'Wei\u00df'), 'latin1');
    const res = await th.call<Problem>('POST', '/v1/messages', latin1, { 'content-type': 'application/xml' });
    expectProblem(res, 400, 'GW_ERR_MALFORMED_PAYLOAD');
    const after = (await gateway.auditStore.query({ kind: 'rejected', limit: 100_000 })).length;
    expect(after - before).toBe(9);
  });

  it('serves the catalogue: all four standards, XSDs, code lists and examples', async () => {
    const anyone = client(null);
    const list = await anyone.call<{
      standards: {
        standard: string;
        version: string;
        messageTypes: { name: string; example: string }[];
        xsd: string;
      }[];
      converters: { from: string; to: string }[];
    }>('GET', '/v1/standards');
    expect(list.status).toBe(200);
    expect(list.body.standards.map((s) => `${s.standard} ${s.version}`)).toEqual([
      'xmeld 25.05',
      'xmeld 25.11',
      'xkfz 1.4',
      'xelterngeld 1.2',
      'xbafoeg 1.0',
    ]);
    expect(list.body.converters.map((c) => `${c.from}→${c.to}`)).toEqual(['25.05→25.11', '25.11→25.05']);

    const xmeld = await anyone.call<{ versions: { version: string }[] }>('GET', '/v1/standards/xmeld');
    expect(xmeld.body.versions.map((v) => v.version)).toEqual(['25.05', '25.11']);

    const elterngeld = await anyone.call<{
      namespace: string;
      messageTypes: { name: string }[];
      codeLists: { id: string; listURI: string; codes: { code: string }[] }[];
    }>('GET', '/v1/standards/xelterngeld/1.2');
    expect(elterngeld.body.namespace).toBe('urn:xoev-de:xelterngeld:1.2');
    expect(elterngeld.body.messageTypes.map((t) => t.name)).toContain('elterngeld.antrag.0101');
    const varianten = elterngeld.body.codeLists.find((l) => l.id === 'xelterngeld-leistungsvariante-1')!;
    expect(varianten.codes.map((c) => c.code)).toEqual(['BEG', 'EGP', 'PSB']);

    const ags = await anyone.call<{ listVersionID: string; codes: { code: string }[] }>(
      'GET',
      '/v1/standards/xkfz/1.4/codelists/ags-2025-06-30',
    );
    expect(ags.body.listVersionID).toBe('2025-06-30');
    expect(ags.body.codes.map((c) => c.code)).toEqual(
      expect.arrayContaining(['14612000', '15003000', '16051000']),
    );

    // Every served example validates against the served XSD (both fetched over HTTPS).
    const dir = tempDir('catalogue');
    try {
      for (const s of list.body.standards) {
        const xsd = await anyone.call<string>('GET', s.xsd);
        expect(xsd.status).toBe(200);
        expect(String(xsd.headers['content-type'])).toContain('application/xml');
        const xsdFile = path.join(dir, `${s.standard}-${s.version}.xsd`);
        writeFileSync(xsdFile, xsd.body);
        expect(xsd.body).toBe(readFileSync(catalogue.get(s.standard, s.version)!.xsdPath, 'utf8'));
        for (const t of s.messageTypes) {
          const example = await anyone.call<string>('GET', t.example);
          expect(example.status).toBe(200);
          expect(xmllintValidates(xsdFile, example.body), `${s.standard} ${s.version} ${t.name}`).toBe(true);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    for (const url of [
      '/v1/standards/xmeld/24.11',
      '/v1/standards/nope',
      '/v1/standards/xkfz/1.4/examples/fahrzeug.verschrottung.9999',
      '/v1/standards/xkfz/1.4/codelists/familienstand-2',
    ]) {
      expectProblem(await anyone.call<Problem>('GET', url), 404, 'GW_ERR_NOT_FOUND');
    }
  });
});
