/**
 * The three domain flows of the demo world over real HTTPS with real certificates, every system
 * speaking its own native format: a batch of Rückmeldungen from Thüringen (CSV, Windows-1252) and
 * an answer back into the pull inbox; changes of vehicle keeper reported to the central register
 * (fixed-width, JSON, XML dialect → XKfz itself) and the register's notice back; Elterngeld
 * applications routed by the applicant's municipality with the decision coming back. Then bad
 * native input: every case is a problem+json naming the line or field, audited, and publishes nothing.
 */
import { randomUUID } from 'node:crypto';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverTopic, deliveryGroup } from '../../gateway/bus/topics.ts';
import { parseXmlSafely } from '../../gateway/xml/safe-parse.ts';
import {
  type Accepted,
  cp1252,
  domainSystems,
  fresh,
  type InboxItem,
  latin1,
  payloadBytes,
  text,
} from '../support/domain-flows.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

interface Problem {
  status: number;
  code: string;
  detail: string;
  pointer?: string;
  errors?: { pointer: string; nativeField?: string; detail: string }[];
}

describe('the three domain flows end to end', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => t?.stop());

  const { as, send, receive } = domainSystems(() => t);

  it('Meldewesen: one Thüringen CSV batch becomes three Rückmeldungen; the answer comes back as CSV', async () => {
    const batch = fresh(
      cp1252('th-melde', '0201-nachtlauf-erfurt-jena-weimar.native.csv'),
      '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A41',
      '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A42',
      '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A43',
    );
    const accepted = await send('th-melde', iconv.encode(batch.body, 'win1252'), 'text/csv');
    expect(accepted.messages.map((m) => [m.messageId, m.receiverSystem])).toEqual([
      [batch.ids[0], 'sn-melde'],
      [batch.ids[1], 'st-melde'],
      [batch.ids[2], 'sn-melde'],
    ]);

    const dresden = JSON.parse((await receive('sn-melde', batch.ids[0]!)).payload.data);
    expect(dresden.person).toMatchObject({
      nachname: 'Müller',
      vornamen: ['Jürgen', 'Otto'],
      geschlecht: 'm',
    });
    expect(dresden.absender).toEqual({ ags: '16051000', behoerde: 'Stadtverwaltung Erfurt, Bürgerservice' });
    const halle = (await receive('st-melde', batch.ids[1]!)).payload.data;
    expect(halle).toContain('<Name>Šimková</Name>');
    expect(halle).toContain('<Staatsang>CZ</Staatsang>');
    await receive('sn-melde', batch.ids[2]!);

    const answer = JSON.parse(text('sn-melde', '0203-auswertung.native.json'));
    answer.vorgang = { ...answer.vorgang, id: randomUUID(), bezugId: batch.ids[0] };
    answer.absender = { ags: '14612000', behoerde: 'Landeshauptstadt Dresden, Bürgeramt Altstadt' };
    answer.empfaenger = { ags: '16051000', behoerde: 'Stadtverwaltung Erfurt, Bürgerservice' };
    await send('sn-melde', JSON.stringify(answer), 'application/json');
    const back = await receive('th-melde', answer.vorgang.id);
    expect(back.payload.contentType).toBe('text/csv; charset=windows-1252');
    const csv = iconv.decode(payloadBytes(back), 'win1252');
    expect(csv.split('\r\n')[1]).toMatch(
      new RegExp(
        `^AW;${answer.vorgang.id};${batch.ids[0]};N;14612000;Landeshauptstadt Dresden, Bürgeramt Altstadt;16051000;`,
      ),
    );
    const status = await as('th-melde').call<{ status: string }>('GET', `/v1/messages/${batch.ids[0]}`);
    expect(status.body.status).toBe('acknowledged');
  });

  it('a batch refused as a whole (one of its records a replay) is rejected for every record', async () => {
    const first = fresh(
      cp1252('th-melde', '0201-nachtlauf-erfurt-jena-weimar.native.csv'),
      '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A41',
      '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A42',
      '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A43',
    );
    await send('th-melde', iconv.encode(first.body, 'win1252'), 'text/csv');
    // The same batch with its second and third records new: the first is a replay, so all is refused.
    const again = fresh(first.body, first.ids[1]!, first.ids[2]!);
    const r = await as('th-melde').send('th-melde', iconv.encode(again.body, 'win1252'), 'text/csv');
    expect(r.status).toBe(409);
    const statusOf = async (id: string) =>
      (await as('th-melde').call<{ status: string }>('GET', `/v1/messages/${id}`)).body.status;
    expect(await statusOf(again.ids[0]!)).toBe('rejected');
    expect(await statusOf(again.ids[1]!)).toBe('rejected');
    // The replayed record was accepted before: the refusal is in its trail, its status stays.
    expect(await statusOf(first.ids[0]!)).not.toBe('rejected');
  });

  it('Kfz: changes of keeper from three Länder reach the central register as XKfz; its notice comes back fixed-width', async () => {
    const snKfz = fresh(
      latin1('sn-kfz', '1002-halterwechsel-dresden.native.txt'),
      'A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D',
    );
    const stKfz = fresh(
      text('st-kfz', '1002-halterwechsel-magdeburg.native.json'),
      'd4e5f6a7-b8c9-4dae-9f01-3b4c5d6e7f80',
    );
    const thKfz = fresh(
      text('th-kfz', '1002-halterwechsel-jena.native.xml'),
      '1b2c3d4e-5f60-4172-9b8c-9d0e1f2a3b4c',
    );
    const sent = [
      await send('sn-kfz', Buffer.from(snKfz.body, 'latin1'), 'text/plain'),
      await send('st-kfz', stKfz.body, 'application/json'),
      await send('th-kfz', thKfz.body, 'application/xml'),
    ];
    for (const accepted of sent) {
      expect(accepted.messages).toEqual([
        expect.objectContaining({
          receiverSystem: 'kba-zfzr',
          messageType: 'xkfz:1.4:fahrzeug.halterwechsel.1002',
        }),
      ]);
      const item = await receive('kba-zfzr', accepted.messages[0]!.messageId);
      // No translation: the register gets the standard document itself.
      expect(item.payload.contentType).toBe('application/xml');
      const root = parseXmlSafely(item.payload.data).documentElement!;
      expect([root.namespaceURI, root.localName]).toEqual([
        'urn:xoev-de:xkfz:1.4',
        'fahrzeug.halterwechsel.1002',
      ]);
    }
    expect(
      (await as('kba-zfzr').call<{ items: InboxItem[] }>('GET', '/v1/systems/kba-zfzr/inbox')).body.items,
    ).toEqual([]);

    const notice = fresh(
      text('kba-zfzr', '1002-mitteilung-an-dresden.native.xml'),
      'c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f',
    );
    const toDresden = await send('kba-zfzr', notice.body, 'application/xml');
    expect(toDresden.messages[0]!.receiverSystem).toBe('sn-kfz');
    const record = await receive('sn-kfz', notice.ids[0]!);
    expect(record.payload).toMatchObject({
      contentType: 'text/plain; charset=iso-8859-1',
      encoding: 'base64',
    });
    const line = payloadBytes(record).toString('latin1');
    expect(line.slice(0, 2)).toBe('20');
    expect(line).toContain('Schmidt, Karin');
    expect(line).toContain('MD-K 88');
    expect(line.endsWith('\r\n')).toBe(true);

    // The register may also use the standard-native route: the same document to POST /v1/messages.
    const native = fresh(
      text('kba-zfzr', '1002-mitteilung-an-dresden.native.xml')
        .replace('<kennung>kfz:14612000</kennung>', '<kennung>kfz:15003000</kennung>')
        .replace(
          'Landeshauptstadt Dresden, Kfz-Zulassungsbehörde',
          'Landeshauptstadt Magdeburg, Kfz-Zulassungsbehörde',
        ),
      'c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f',
    );
    const direct = await as('kba-zfzr').call<Accepted>('POST', '/v1/messages', native.body, {
      'content-type': 'application/xml',
    });
    expect(direct.status, JSON.stringify(direct.body)).toBe(202);
    expect(direct.body.messages[0]!.receiverSystem).toBe('st-kfz');
    const json = JSON.parse((await receive('st-kfz', native.ids[0]!)).payload.data);
    expect(json).toMatchObject({ vorgangsart: 'HALTERWECHSEL', kennzeichenNeu: 'MD-K 88', hu: '06/2027' });
  });

  it('Elterngeld: applications are routed by municipality; the decision and the request come back as JSON', async () => {
    const leipzig = fresh(
      text('elterngeld-online', '0101-antrag-leipzig.native.json'),
      '2b3c4d5e-6f70-4812-93a4-b5c6d7e8f901',
    );
    const toLeipzig = await send('elterngeld-online', leipzig.body, 'application/json');
    expect(toLeipzig.messages[0]!.receiverSystem).toBe('sn-elterngeld');
    const antrag = (await receive('sn-elterngeld', leipzig.ids[0]!)).payload.data;
    expect(antrag).toContain('<An Kennung="elg:14713000">');
    expect(antrag).toContain('<Monat Nr="15" Art="PSB"/>');
    expect(antrag).toContain('Brutto="41.820,00"');

    const decision = fresh(
      text('sn-elterngeld', '0102-bescheid-leipzig.native.xml'),
      '3C4D5E6F-7081-4923-A4B5-C6D7E8F90A1B',
      '2b3c4d5e-6f70-4812-93a4-b5c6d7e8f901',
    );
    const bescheidId = decision.ids[0]!;
    await send('sn-elterngeld', decision.body.replace(decision.ids[1]!, leipzig.ids[0]!), 'application/xml');
    const bescheid = JSON.parse((await receive('elterngeld-online', bescheidId)).payload.data);
    expect(bescheid).toMatchObject({
      typ: 'BESCHEID',
      antragsId: leipzig.ids[0],
      entscheidung: 'TEILWEISE_BEWILLIGT',
      stelle: { kennung: 'elg:14713000' },
    });
    expect(bescheid.monate[1]).toEqual({ lebensmonat: 2, variante: 'BASIS', betrag: '1624.35' });

    const jena = fresh(
      text('elterngeld-online', '0101-antrag-jena.native.json'),
      '7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f',
    );
    const toJena = await send('elterngeld-online', jena.body, 'application/json');
    expect(toJena.messages[0]!.receiverSystem).toBe('th-elterngeld');
    const thAntrag = JSON.parse((await receive('th-elterngeld', jena.ids[0]!)).payload.data);
    expect(thAntrag.kopf.empfaenger.dvdv).toBe('elg:16000000');
    expect(thAntrag.antrag.kind.mehrling).toBe('ja');

    const request = JSON.parse(text('th-elterngeld', '0103-nachforderung-jena.native.json'));
    request.kopf.nachrichtId = randomUUID();
    request.kopf.bezugNachrichtId = jena.ids[0];
    await send('th-elterngeld', JSON.stringify(request), 'application/json');
    const nachforderung = JSON.parse(
      (await receive('elterngeld-online', request.kopf.nachrichtId)).payload.data,
    );
    expect(nachforderung).toMatchObject({
      typ: 'NACHFORDERUNG',
      antragsId: jena.ids[0],
      frist: '2026-12-10',
    });
    expect(nachforderung.unterlagen.map((u: { art: string }) => u.art)).toEqual(['01', '02']);
  });
});

describe('bad native input: a problem naming the line or field, audited, nothing published', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => t?.stop());

  async function published(): Promise<number> {
    const prefix = t.gateway.config.kafka.topicPrefix;
    let total = 0;
    for (const { id } of t.gateway.routing.directory.systems) {
      const lag = await t.gateway.bus.lag(deliveryGroup(prefix, id), deliverTopic(prefix, id));
      total += lag.reduce((s, p) => s + p.lag, 0);
      total += (await t.gateway.mailbox.list(id, { limit: 1000 })).items.length;
    }
    return total;
  }

  const rejected = async () =>
    (await t.gateway.auditStore.query({ kind: 'rejected', limit: 100_000 })).length;

  async function expectProblem(
    systemId: string,
    body: string | Buffer,
    contentType: string,
    status: number,
    code: string,
  ): Promise<Problem> {
    const before = { rejected: await rejected(), published: await published() };
    const client = t.client(systemId);
    const r = await client.send(systemId, body, contentType);
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect(String(r.headers['content-type'])).toContain('application/problem+json');
    const problem = r.body as Problem;
    expect(problem.code).toBe(code);
    expect(await rejected()).toBe(before.rejected + 1);
    expect(await published()).toBe(before.published);
    return problem;
  }

  const batch = () =>
    fresh(
      cp1252('th-melde', '0201-nachtlauf-erfurt-jena-weimar.native.csv'),
      '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A41',
      '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A42',
      '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A43',
    ).body;

  it('wrong encoding: a UTF-8 export where Windows-1252 is agreed names line and column', async () => {
    const problem = await expectProblem(
      'th-melde',
      Buffer.from(batch(), 'utf8'),
      'text/csv',
      400,
      'GW_ERR_MALFORMED_PAYLOAD',
    );
    expect(problem.detail).toMatch(/^line 2, column \d+: the payload is UTF-8, not windows-1252/);
    expect(problem.errors?.[0]?.nativeField).toMatch(/^line 2, column \d+$/);
  });

  it('a short fixed-width line names the line and the first field that does not fit', async () => {
    const record = latin1('sn-kfz', '1002-halterwechsel-dresden.native.txt').replace('\r\n', '');
    const short = `${record.slice(0, 400)}\r\n`;
    const problem = await expectProblem(
      'sn-kfz',
      Buffer.from(short, 'latin1'),
      'text/plain',
      400,
      'GW_ERR_MALFORMED_PAYLOAD',
    );
    expect(problem.errors?.[0]?.nativeField).toBe('line 1, field A_NAME (columns 371-450)');
    expect(problem.detail).toContain('a HALTERWECHSEL record is');
  });

  it('an unknown code on one line of a batch: nothing of the batch is published', async () => {
    const lines = batch().split('\r\n');
    const fields = lines[3]!.split(';');
    fields[17] = '7'; // GESCHLECHT of the third record (line 4)
    lines[3] = fields.join(';');
    const problem = await expectProblem(
      'th-melde',
      iconv.encode(lines.join('\r\n'), 'win1252'),
      'text/csv',
      422,
      'GW_ERR_MAPPING_FAILED',
    );
    expect(problem.errors).toEqual([
      expect.objectContaining({
        nativeField: 'line 4, column GESCHLECHT',
        pointer: '/person/geschlecht/code',
      }),
    ]);
  });

  it('a missing required field names the native and the standard field', async () => {
    const antrag = JSON.parse(text('elterngeld-online', '0101-antrag-leipzig.native.json'));
    antrag.antragsId = randomUUID();
    delete antrag.bank.iban;
    const problem = await expectProblem(
      'elterngeld-online',
      JSON.stringify(antrag),
      'application/json',
      422,
      'GW_ERR_MAPPING_FAILED',
    );
    expect(problem.errors).toEqual([
      expect.objectContaining({
        nativeField: '$.bank.iban',
        pointer: '/bankverbindung/iban',
        detail: 'is required',
      }),
    ]);
  });

  it('an applicant whose municipality has no connected Elterngeldstelle', async () => {
    const antrag = JSON.parse(text('elterngeld-online', '0101-antrag-leipzig.native.json'));
    antrag.antragsId = randomUUID();
    antrag.antragsteller.anschrift = {
      strasse: 'Breiter Weg',
      hausnummer: '1',
      plz: '39104',
      ort: 'Magdeburg',
      gemeindeschluessel: '15003000',
    };
    const problem = await expectProblem(
      'elterngeld-online',
      JSON.stringify(antrag),
      'application/json',
      422,
      'GW_ERR_MAPPING_FAILED',
    );
    expect(problem.errors?.[0]).toMatchObject({
      nativeField: '$.antragsteller.anschrift.gemeindeschluessel',
      pointer: '/nachrichtenkopf.g2g/leser/kennung',
    });
  });

  it('an XML dialect document with the wrong root element', async () => {
    const problem = await expectProblem(
      'th-kfz',
      '<?xml version="1.0"?><MeldeVorgang Art="RM-ANM"/>',
      'application/xml',
      422,
      'GW_ERR_MAPPING_FAILED',
    );
    expect(problem.errors?.[0]?.nativeField).toBe('/MeldeVorgang');
  });
});
