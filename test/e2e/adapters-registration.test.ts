/**
 * Adding a system touches no core code: an adapter that lives in a temporary folder — outside
 * gateway/ and outside adapters/ — is found by discovery, handed to startGateway through
 * GatewayOptions.adapters, given a directory entry and a contract in a temporary contracts folder,
 * and carries messages end to end over real HTTPS in both directions.
 *
 * The system: the city of Leipzig runs its own registration system `le-melde` (scaffolded with
 * the SDK, JSON). Its directory entry serves the exact key ags:14713000, which beats sn-melde's
 * ags:14* — so answers to Leipzig now reach le-melde, and sn-melde may no longer speak for Leipzig.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { discoverAdapters } from '../../adapters/sdk/registry.ts';
import { scaffoldAdapter } from '../../adapters/sdk/scaffold.ts';
import { type Gateway, startGateway } from '../../gateway/app.ts';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { loadConfig, REPO_ROOT } from '../../gateway/config/load.ts';
import { verifyDocument } from '../../gateway/signing/verifier.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { contractsWith, eventually, TEST_PASSPHRASE, tempDir } from '../support/gateway.ts';

interface InboxItem {
  messageId: string;
  payload: { contentType: string; data: string };
  signedDocument: string;
}

const LEIPZIG = 'ags:14713000';
const HALLE = 'ags:15002000';

describe('a system registered from outside gateway/ and adapters/', () => {
  const adaptersDir = tempDir('outside-adapters');
  const dataDir = tempDir('registration');
  let contractsDir: string;
  let gateway: Gateway;
  const clients: SystemClient[] = [];
  const client = (id: string) => {
    const c = SystemClient.forSystem(gateway.url, dataDir, id);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    await scaffoldAdapter({
      id: 'le-melde',
      adaptersDir,
      title: 'Meldewesen Stadt Leipzig',
      land: 'SN',
      messageTypes: [
        'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
        'xmeld:25.11:rueckmeldung.auswertung.0203',
      ],
    });
    const adapters = await discoverAdapters(adaptersDir);
    expect(adapters.all().map((a) => a.spec.id)).toEqual(['le-melde']);

    contractsDir = contractsWith((systems) => [
      ...systems,
      {
        id: 'le-melde',
        title: 'Meldewesen Stadt Leipzig',
        land: 'SN',
        adapter: 'le-melde',
        serves: [LEIPZIG],
        delivery: { mode: 'pull' },
        accepts: [{ standard: 'xmeld', versions: ['25.11'] }],
      },
    ]);
    writeFileSync(
      path.join(contractsDir, 'leipzig.contract.yaml'),
      YAML.stringify({
        id: 'xmeld-rueckmeldung-leipzig',
        title: 'Rückmeldungen der Stadt Leipzig (eigenes Meldeverfahren)',
        standard: 'xmeld',
        rules: [
          {
            from: { systems: ['le-melde'], authorities: [LEIPZIG] },
            to: ['ags:15*', 'ags:16*'],
            messageTypes: ['rueckmeldung.anmeldunginland.0201', 'rueckmeldung.auswertung.0203'],
          },
        ],
        requirements: { signature: 'gateway', retentionDays: 730 },
      }),
    );
    const config = loadConfig({
      GATEWAY_DATA_DIR: dataDir,
      GATEWAY_CONTRACTS_DIR: contractsDir,
      GATEWAY_PORT: '0',
      GATEWAY_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      GATEWAY_REDELIVERY_DELAY_MS: '200',
    });
    gateway = await startGateway(config, { adapters });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gateway?.stop();
    for (const dir of [adaptersDir, dataDir, contractsDir])
      if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gets a client certificate at start, like every system in the directory', () => {
    const cert = new X509Certificate(readFileSync(path.join(dataDir, 'pki/systems/le-melde.crt')));
    expect(cert.subjectAltName).toContain('urn:laender-gateway:system:le-melde');
  });

  it('sends a Rückmeldung from Leipzig to Halle and receives the answer, both verified', async () => {
    const ca = new X509Certificate(gateway.pki.caCertPem);
    const native = JSON.parse(
      readFileSync(
        path.join(adaptersDir, 'le-melde/fixtures/rueckmeldung.anmeldunginland.0201.native.json'),
        'utf8',
      ),
    );
    const id = randomUUID();
    native.nachrichtenkopfG2g.identifikationNachricht.nachrichtenUUID = id;
    native.nachrichtenkopfG2g.autor = { kennung: LEIPZIG, name: 'Stadt Leipzig, Bürgeramt Mitte' };
    native.nachrichtenkopfG2g.leser = { kennung: HALLE, name: 'Stadt Halle (Saale), Bürgerservice' };
    const sent = await client('le-melde').send('le-melde', JSON.stringify(native), 'application/json');
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    expect((sent.body as { messages: { receiverSystem: string }[] }).messages[0]!.receiverSystem).toBe(
      'st-melde',
    );

    const st = client('st-melde');
    const item = await eventually(
      async () =>
        (await st.call<{ items: InboxItem[] }>('GET', '/v1/systems/st-melde/inbox')).body.items.find(
          (i) => i.messageId === id,
        ),
      15_000,
      'the 0201 in the st-melde inbox',
    );
    const verified = await verifyDocument(item.signedDocument, { trustAnchors: [ca] });
    expect(verified.root.getAttribute('produkt')).toBe('le-melde');
    expect(item.payload.data).toContain(
      '<Absender Gemeinde="14713000">Stadt Leipzig, Bürgeramt Mitte</Absender>',
    );
    expect((await st.call('POST', `/v1/systems/st-melde/inbox/${id}/ack`)).status).toBe(200);

    const answerId = randomUUID();
    const answer = readFileSync(
      path.join(REPO_ROOT, 'adapters/st-melde/fixtures/0203-auswertung.native.xml'),
      'utf8',
    )
      .replace(/<VorgangsID>[^<]*</, `<VorgangsID>${answerId}<`)
      .replace(/<BezugID>[^<]*</, `<BezugID>${id}<`)
      .replace(
        /<Absender Gemeinde="\d+">[^<]*</,
        '<Absender Gemeinde="15002000">Stadt Halle (Saale), Bürgerservice<',
      )
      .replace(
        /<Empfaenger Gemeinde="\d+">[^<]*</,
        '<Empfaenger Gemeinde="14713000">Stadt Leipzig, Bürgeramt Mitte<',
      );
    const answered = await st.send('st-melde', answer, 'application/xml');
    expect(answered.status, JSON.stringify(answered.body)).toBe(202);
    // The exact key ags:14713000 beats sn-melde's ags:14*: the answer goes to le-melde.
    expect((answered.body as { messages: { receiverSystem: string }[] }).messages[0]!.receiverSystem).toBe(
      'le-melde',
    );

    const le = client('le-melde');
    const back = await eventually(
      async () =>
        (await le.call<{ items: InboxItem[] }>('GET', '/v1/systems/le-melde/inbox')).body.items.find(
          (i) => i.messageId === answerId,
        ),
      15_000,
      'the 0203 in the le-melde inbox',
    );
    await verifyDocument(back.signedDocument, { trustAnchors: [ca] });
    const json = JSON.parse(back.payload.data);
    expect(json.nachrichtentyp).toBe('0203');
    expect(json.nachrichtenkopfG2g.referenzUUID).toBe(id);
    expect(json.ergebnis).toBe('01');
  });

  it('takes Leipzig away from sn-melde: it may no longer speak for ags:14713000', async () => {
    const msg = rueckmeldung((d) => {
      d.absender.ags = '14713000';
      d.neueAnschrift.ags = '14713000';
    });
    const r = await client('sn-melde').send('sn-melde', msg.body, 'application/json');
    expect(r.status).toBe(403);
    expect((r.body as { code: string }).code).toBe('GW_ERR_SENDER_AUTHORITY');
  });
});
