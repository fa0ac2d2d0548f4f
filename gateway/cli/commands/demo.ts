/**
 * `gw demo` plays the four domain flows of the demo world, every system with its own client
 * certificate and in its own native format:
 *   A. Meldewesen — Dresden (sn-melde, JSON) reports a move from Magdeburg; Magdeburg (st-melde,
 *      legacy XML) fetches, checks the seal, acknowledges and answers; Dresden fetches the answer.
 *   B. Kfz — Dresden's registration authority (sn-kfz, fixed-width mainframe record) reports a
 *      change of keeper; the central vehicle register (kba-zfzr) fetches it as XKfz itself.
 *   C. Elterngeld — the online service (elterngeld-online, JSON) submits an application from
 *      Leipzig; the adapter finds the responsible Elterngeldstelle by municipality, the directory
 *      routes it to Sachsen (sn-elterngeld, XML dialect), whose decision comes back as JSON.
 *   D. BAföG — Dresden's Amt für Ausbildungsförderung (sn-bafoeg, JSON) hands a student's file over
 *      to Jena (th-bafoeg, Windows-1252 CSV batch), which fetches it, checks the seal, acknowledges
 *      (Dresden gets the receipt) and takes the file over; Dresden fetches the answer as JSON.
 * Exit 0 only if every message arrived, its seal verified, and every sender sees `acknowledged`.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { loadConfig, REPO_ROOT } from '../../config/load.ts';
import { receiptIdFor } from '../../receipts/receipt-id.ts';
import { verifyDocument } from '../../signing/verifier.ts';
import { SystemClient } from '../system-client.ts';

interface InboxItemView {
  messageId: string;
  messageType: string;
  payload: { contentType: string; encoding: string; data: string };
  signedDocument: string;
}

export interface DemoOptions {
  baseUrl: string;
  dataDir: string;
  timeoutMs: number;
  print: (line: string) => void;
}

const fixture = (adapter: string, file: string) =>
  path.join(REPO_ROOT, 'adapters', adapter, 'fixtures', file);

const FIXTURES = {
  rueckmeldung: fixture('sn-melde', '0201-umzug-magdeburg-dresden.native.json'),
  auswertung: fixture('st-melde', '0203-auswertung.native.xml'),
  halterwechsel: fixture('sn-kfz', '1002-halterwechsel-dresden.native.txt'),
  antrag: fixture('elterngeld-online', '0101-antrag-leipzig.native.json'),
  bescheid: fixture('sn-elterngeld', '0102-bescheid-leipzig.native.xml'),
  aktenabgabe: fixture('sn-bafoeg', '0401-abgabe-dresden-jena.native.json'),
  uebernahme: fixture('th-bafoeg', '0402-uebernahme-jena.native.csv'),
};

class Demo {
  private readonly clients = new Map<string, SystemClient>();

  constructor(
    private readonly options: DemoOptions,
    private readonly ca: X509Certificate,
  ) {}

  client(systemId: string): SystemClient {
    let client = this.clients.get(systemId);
    if (!client) {
      client = SystemClient.forSystem(this.options.baseUrl, this.options.dataDir, systemId);
      this.clients.set(systemId, client);
    }
    return client;
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close()));
  }

  /** Sends a native payload as `systemId`; returns the one accepted message id. */
  async send(systemId: string, body: string | Buffer, contentType: string, what: string): Promise<string> {
    const sent = await this.client(systemId).send(systemId, body, contentType);
    if (sent.status !== 202)
      throw new Error(`sending the ${what} answered ${sent.status}: ${JSON.stringify(sent.body)}`);
    const [message] = (sent.body as { messages: { messageId: string; receiverSystem: string }[] }).messages;
    this.options.print(`  202 accepted, message ${message!.messageId} → ${message!.receiverSystem}`);
    return message!.messageId;
  }

  private async waitForInbox(systemId: string, messageId: string): Promise<InboxItemView> {
    const deadline = Date.now() + this.options.timeoutMs;
    while (Date.now() < deadline) {
      const response = await this.client(systemId).call<{ items: InboxItemView[] }>(
        'GET',
        `/v1/systems/${systemId}/inbox?limit=500`,
      );
      if (response.status !== 200) throw new Error(`inbox of ${systemId} answered ${response.status}`);
      const item = response.body.items.find((i) => i.messageId === messageId);
      if (item) return item;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(
      `${messageId} did not reach the inbox of ${systemId} within ${this.options.timeoutMs} ms`,
    );
  }

  /** Receives, verifies and acknowledges one message as `systemId`; returns the native payload as text. */
  async receive(systemId: string, messageId: string): Promise<string> {
    const { print } = this.options;
    const item = await this.waitForInbox(systemId, messageId);
    const verified = await verifyDocument(item.signedDocument, { trustAnchors: [this.ca] });
    print(`  ${systemId} fetched ${item.messageType} ${messageId}`);
    print(`    seal verified: signed by ${verified.signer.subject}, sha256 ${verified.digest.slice(0, 16)}…`);
    print(`    native payload (${item.payload.contentType}), ${item.payload.data.length} characters`);
    const ack = await this.client(systemId).call('POST', `/v1/systems/${systemId}/inbox/${messageId}/ack`);
    if (ack.status !== 200) throw new Error(`ack of ${messageId} answered ${ack.status}`);
    print('    acknowledged');
    const bytes = Buffer.from(item.payload.data, item.payload.encoding === 'base64' ? 'base64' : 'utf8');
    // Legacy systems get their own charset (ISO-8859-1 records, Windows-1252 CSV), named in the type.
    const charset = /charset=([\w-]+)/i.exec(item.payload.contentType)?.[1] ?? 'utf-8';
    return iconv.decode(bytes, charset);
  }

  async expectAcknowledged(senderSystem: string, messageId: string, what: string): Promise<void> {
    const status = await this.client(senderSystem).call<{ status: string }>(
      'GET',
      `/v1/messages/${messageId}`,
    );
    this.options.print(`  status of the ${what} as ${senderSystem} sees it: ${status.body.status}`);
    if (status.body.status !== 'acknowledged')
      throw new Error(`expected status acknowledged, got ${status.body.status}`);
  }
}

async function meldewesen(demo: Demo, print: (line: string) => void): Promise<void> {
  print('A. Meldewesen: a move from Magdeburg (Sachsen-Anhalt) to Dresden (Sachsen)');
  print('1. Dresden (sn-melde, JSON) reports the move: Rückmeldung 0201');
  const rueckmeldung = JSON.parse(readFileSync(FIXTURES.rueckmeldung, 'utf8'));
  rueckmeldung.vorgang.id = randomUUID();
  const messageId = await demo.send('sn-melde', JSON.stringify(rueckmeldung), 'application/json', '0201');

  print('2. Magdeburg (st-melde, legacy XML) pulls its inbox');
  const received = await demo.receive('st-melde', messageId);
  if (
    !received.includes(`<VorgangsID>${messageId}</VorgangsID>`) ||
    !received.includes('<GebDatum>12.04.1988</GebDatum>')
  ) {
    throw new Error('st-melde got a payload that is not its dialect or lost data');
  }

  print('3. Magdeburg answers with its evaluation: Auswertung 0203');
  const answerId = randomUUID();
  const answer = readFileSync(FIXTURES.auswertung, 'utf8')
    .replace(/<VorgangsID>[^<]*<\/VorgangsID>/, `<VorgangsID>${answerId}</VorgangsID>`)
    .replace(/<BezugID>[^<]*<\/BezugID>/, `<BezugID>${messageId}</BezugID>`);
  await demo.send('st-melde', answer, 'application/xml', '0203');

  print('4. Dresden pulls the answer');
  const back = JSON.parse(await demo.receive('sn-melde', answerId));
  if (back.vorgang?.bezugId !== messageId) throw new Error('the answer does not refer to the Rückmeldung');
  await demo.expectAcknowledged('sn-melde', messageId, 'Rückmeldung');
}

async function kfz(demo: Demo, print: (line: string) => void): Promise<void> {
  print('B. Kfz: a change of vehicle keeper in Dresden reported to the central vehicle register');
  print('5. Dresden (sn-kfz, fixed-width ISO-8859-1 record) reports the Halterwechsel: XKfz 1002');
  const id = randomUUID();
  const record = readFileSync(FIXTURES.halterwechsel)
    .toString('latin1')
    .replace(/^(20)[0-9A-Fa-f-]{36}/, `$1${id}`);
  const messageId = await demo.send('sn-kfz', Buffer.from(record, 'latin1'), 'text/plain', '1002');

  print('6. The register (kba-zfzr, speaks XKfz natively) pulls its inbox');
  const document = await demo.receive('kba-zfzr', messageId);
  if (!document.includes('urn:xoev-de:xkfz:1.4') || !document.includes('<fin>WVWZZZ1KZAW123456</fin>')) {
    throw new Error('kba-zfzr did not get the XKfz document with the vehicle');
  }
  await demo.expectAcknowledged('sn-kfz', messageId, 'Halterwechsel');
}

async function elterngeld(demo: Demo, print: (line: string) => void): Promise<void> {
  print('C. Elterngeld: an application from Leipzig, routed by municipality, and its decision');
  print('7. The online service (elterngeld-online, JSON) submits the Antrag 0101; it names no addressee');
  const antrag = JSON.parse(readFileSync(FIXTURES.antrag, 'utf8'));
  antrag.antragsId = randomUUID();
  const antragId = await demo.send('elterngeld-online', JSON.stringify(antrag), 'application/json', 'Antrag');

  print('8. The Elterngeldstelle Leipzig (sn-elterngeld, XML dialect) pulls its inbox');
  const received = await demo.receive('sn-elterngeld', antragId);
  if (!received.includes('<An Kennung="elg:14713000">')) {
    throw new Error('the application did not reach the Elterngeldstelle responsible for Leipzig');
  }
  print('    routed by municipality 14713000 to elg:14713000');

  print('9. Leipzig decides: Bescheid 0102');
  const bescheidId = randomUUID();
  const bescheid = readFileSync(FIXTURES.bescheid, 'utf8')
    .replace(/ Id="[^"]*"/, ` Id="${bescheidId}"`)
    .replace(/ Bezug="[^"]*"/, ` Bezug="${antragId}"`);
  await demo.send('sn-elterngeld', bescheid, 'application/xml', 'Bescheid');

  print('10. The online service pulls the decision');
  const back = JSON.parse(await demo.receive('elterngeld-online', bescheidId));
  if (back.typ !== 'BESCHEID' || back.antragsId !== antragId)
    throw new Error('the decision does not refer to the application');
  print(`    ${back.entscheidung}: ${back.monate.length} months granted`);
  await demo.expectAcknowledged('elterngeld-online', antragId, 'Antrag');
}

async function bafoeg(demo: Demo, print: (line: string) => void): Promise<void> {
  print('D. BAföG: a student moves from Dresden (Sachsen) to Jena (Thüringen), her file goes with her');
  print('11. Dresden (sn-bafoeg, JSON) hands the file over: Aktenabgabe 0401');
  const abgabe = JSON.parse(readFileSync(FIXTURES.aktenabgabe, 'utf8'));
  abgabe.vorgang.id = randomUUID();
  const messageId = await demo.send('sn-bafoeg', JSON.stringify(abgabe), 'application/json', '0401');

  print('12. Jena (th-bafoeg, Windows-1252 CSV batch) pulls its inbox');
  const [, line] = (await demo.receive('th-bafoeg', messageId)).split('\r\n');
  if (!line?.startsWith(`AB;${messageId};;`) || !line.includes(';Krause;;Sophie Marie;')) {
    throw new Error('th-bafoeg got a payload that is not its CSV batch or lost data');
  }
  print('13. Dresden pulls the receipt for that acknowledgement: Quittung 0400');
  await demo.receive('sn-bafoeg', receiptIdFor(messageId));

  print('14. Jena takes the file over: Übernahme 0402');
  const answerId = randomUUID();
  const answer = iconv
    .decode(readFileSync(FIXTURES.uebernahme), 'win1252')
    .replace(/^UE;[^;]*;[^;]*;/m, `UE;${answerId};${messageId};`);
  await demo.send('th-bafoeg', iconv.encode(answer, 'win1252'), 'text/csv', '0402');

  print('15. Dresden pulls the answer');
  const back = JSON.parse(await demo.receive('sn-bafoeg', answerId));
  if (back.vorgangsart !== 'UEBERNAHME' || back.vorgang?.bezugId !== messageId)
    throw new Error('the answer does not refer to the Aktenabgabe');
  print(`    taken over as ${back.aktenzeichenNeu}, payments continue from ${back.fortsetzungAb}`);
  await demo.expectAcknowledged('sn-bafoeg', messageId, 'Aktenabgabe');
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const ca = new X509Certificate(readFileSync(path.join(options.dataDir, 'pki', 'ca.crt')));
  const demo = new Demo(options, ca);
  try {
    const ready = await demo.client('sn-melde').call<{ status: string }>('GET', '/health/ready');
    if (ready.status !== 200) throw new Error(`gateway at ${options.baseUrl} is not ready (${ready.status})`);
    await meldewesen(demo, options.print);
    await kfz(demo, options.print);
    await elterngeld(demo, options.print);
    await bafoeg(demo, options.print);
    options.print('Demo complete: all four flows delivered, verified and acknowledged.');
  } finally {
    await demo.close();
  }
}

export async function demoCommand(options: { timeoutMs: number }): Promise<void> {
  const config = loadConfig();
  try {
    await runDemo({
      baseUrl: config.publicUrl,
      dataDir: config.dataDir,
      timeoutMs: options.timeoutMs,
      print: (l) => console.log(l),
    });
  } catch (error) {
    console.error(`demo failed: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
