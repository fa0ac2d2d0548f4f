/**
 * `gw demo` plays both systems of the walking-skeleton flow with their own client certificates:
 * Dresden (sn-melde, JSON) reports a move to Magdeburg (st-melde, legacy XML); Magdeburg fetches,
 * checks the gateway's seal, acknowledges and answers; Dresden fetches the answer. Exit 0 only if
 * everything arrived and verified.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, REPO_ROOT } from '../../config/load.ts';
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

const FIXTURES = {
  rueckmeldung: path.join(REPO_ROOT, 'adapters/sn-melde/fixtures/0201-umzug-magdeburg-dresden.native.json'),
  auswertung: path.join(REPO_ROOT, 'adapters/st-melde/fixtures/0203-auswertung.native.xml'),
};

async function waitForInbox(client: SystemClient, systemId: string, messageId: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const response = await client.call<{ items: InboxItemView[] }>(
      'GET',
      `/v1/systems/${systemId}/inbox?limit=500`,
    );
    if (response.status !== 200) throw new Error(`inbox of ${systemId} answered ${response.status}`);
    const item = response.body.items.find((i) => i.messageId === messageId);
    if (item) return item;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${messageId} did not reach the inbox of ${systemId} within ${timeoutMs} ms`);
}

/** Receives, verifies and acknowledges one message as `systemId`; returns the native payload. */
async function receive(
  client: SystemClient,
  systemId: string,
  messageId: string,
  options: DemoOptions,
  ca: X509Certificate,
) {
  const item = await waitForInbox(client, systemId, messageId, options.timeoutMs);
  const verified = await verifyDocument(item.signedDocument, { trustAnchors: [ca] });
  options.print(`  ${systemId} fetched ${item.messageType} ${messageId}`);
  options.print(
    `    seal verified: signed by ${verified.signer.subject}, sha256 ${verified.digest.slice(0, 16)}…`,
  );
  options.print(`    native payload (${item.payload.contentType}), ${item.payload.data.length} bytes`);
  const ack = await client.call('POST', `/v1/systems/${systemId}/inbox/${messageId}/ack`);
  if (ack.status !== 200) throw new Error(`ack of ${messageId} answered ${ack.status}`);
  options.print(`    acknowledged`);
  return item;
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const ca = new X509Certificate(readFileSync(path.join(options.dataDir, 'pki', 'ca.crt')));
  const dresden = SystemClient.forSystem(options.baseUrl, options.dataDir, 'sn-melde');
  const magdeburg = SystemClient.forSystem(options.baseUrl, options.dataDir, 'st-melde');
  try {
    const ready = await dresden.call<{ status: string }>('GET', '/health/ready');
    if (ready.status !== 200) throw new Error(`gateway at ${options.baseUrl} is not ready (${ready.status})`);

    options.print('1. Dresden (sn-melde, JSON) reports a move from Magdeburg: Rückmeldung 0201');
    const rueckmeldung = JSON.parse(readFileSync(FIXTURES.rueckmeldung, 'utf8'));
    rueckmeldung.vorgang.id = randomUUID();
    const sent = await dresden.send('sn-melde', JSON.stringify(rueckmeldung), 'application/json');
    if (sent.status !== 202)
      throw new Error(`sending the 0201 answered ${sent.status}: ${JSON.stringify(sent.body)}`);
    const messageId: string = rueckmeldung.vorgang.id;
    options.print(`  202 accepted, message ${messageId}`);

    options.print('2. Magdeburg (st-melde, legacy XML) pulls its inbox');
    const received = await receive(magdeburg, 'st-melde', messageId, options, ca);
    if (
      !received.payload.data.includes(`<VorgangsID>${messageId}</VorgangsID>`) ||
      !received.payload.data.includes('<GebDatum>12.04.1988</GebDatum>')
    ) {
      throw new Error('st-melde got a payload that is not its dialect or lost data');
    }

    options.print('3. Magdeburg answers with its evaluation: Auswertung 0203');
    const answerId = randomUUID();
    const answer = readFileSync(FIXTURES.auswertung, 'utf8')
      .replace(/<VorgangsID>[^<]*<\/VorgangsID>/, `<VorgangsID>${answerId}</VorgangsID>`)
      .replace(/<BezugID>[^<]*<\/BezugID>/, `<BezugID>${messageId}</BezugID>`);
    const answered = await magdeburg.send('st-melde', answer, 'application/xml');
    if (answered.status !== 202)
      throw new Error(`sending the 0203 answered ${answered.status}: ${JSON.stringify(answered.body)}`);
    options.print(`  202 accepted, message ${answerId}`);

    options.print('4. Dresden pulls the answer');
    const back = await receive(dresden, 'sn-melde', answerId, options, ca);
    const native = JSON.parse(back.payload.data);
    if (native.vorgang?.bezugId !== messageId)
      throw new Error('the answer does not refer to the Rückmeldung');

    const status = await dresden.call<{ status: string }>('GET', `/v1/messages/${messageId}`);
    options.print(`5. Status of the Rückmeldung as the sender sees it: ${status.body.status}`);
    if (status.body.status !== 'acknowledged')
      throw new Error(`expected status acknowledged, got ${status.body.status}`);
    options.print('Demo complete: both messages delivered, verified and acknowledged.');
  } finally {
    await dresden.close();
    await magdeburg.close();
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
