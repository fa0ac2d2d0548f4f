/**
 * Bad input over real HTTPS: every case gets problem+json with a stable code (and a pointer where a
 * field is at fault), is audited, publishes nothing, and the gateway keeps serving.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverTopic, deliveryGroup } from '../../gateway/bus/topics.ts';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { createCa, issueCertificate } from '../../gateway/pki/ca.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.ts';

interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  pointer?: string;
  errors?: { pointer: string; nativeField?: string; detail: string }[];
}

describe('bad input', () => {
  let t: TestGateway;
  let sn: SystemClient;

  beforeAll(async () => {
    t = await startTestGateway({ env: { GATEWAY_BODY_LIMIT_BYTES: String(64 * 1024) } });
    sn = t.client('sn-melde');
  });
  afterAll(async () => t?.stop());

  async function published(): Promise<number> {
    const prefix = t.gateway.config.kafka.topicPrefix;
    let total = 0;
    for (const system of ['sn-melde', 'st-melde']) {
      const lag = await t.gateway.bus.lag(deliveryGroup(prefix, system), deliverTopic(prefix, system));
      total += lag.reduce((s, p) => s + p.lag, 0);
    }
    const inboxes = await Promise.all(
      ['sn-melde', 'st-melde'].map((s) => t.gateway.mailbox.list(s, { limit: 1000 })),
    );
    return total + inboxes.reduce((s, p) => s + p.items.length, 0);
  }

  async function rejectedCount(): Promise<number> {
    return (await t.gateway.auditStore.query({ kind: 'rejected', limit: 100_000 })).length;
  }

  async function expectProblem(
    response: Promise<{ status: number; headers: Record<string, unknown>; body: unknown }>,
    status: number,
    code: string,
  ): Promise<Problem> {
    const before = { rejected: await rejectedCount(), published: await published() };
    const r = await response;
    expect(r.status).toBe(status);
    expect(String(r.headers['content-type'])).toContain('application/problem+json');
    const problem = r.body as Problem;
    expect(problem).toMatchObject({ status, code, type: `urn:laender-gateway:problem:${code}` });
    expect(problem.title).toBeTruthy();
    expect(await rejectedCount()).toBe(before.rejected + 1);
    expect(await published()).toBe(before.published);
    expect((await sn.call('GET', '/health/ready')).status).toBe(200);
    return problem;
  }

  it('malformed JSON', async () => {
    await expectProblem(
      sn.send('sn-melde', '{"vorgang": {"art": ', 'application/json'),
      400,
      'GW_ERR_MALFORMED_PAYLOAD',
    );
  });

  it('invalid UTF-8', async () => {
    await expectProblem(
      sn.send('sn-melde', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'application/json'),
      400,
      'GW_ERR_MALFORMED_PAYLOAD',
    );
  });

  it('a payload the adapter cannot map names the native field and the standard field', async () => {
    const msg = rueckmeldung((d) => {
      d.person.geschlecht = 'q';
      delete d.person.nachname;
    });
    const problem = await expectProblem(
      sn.send('sn-melde', msg.body, 'application/json'),
      422,
      'GW_ERR_MAPPING_FAILED',
    );
    expect(problem.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ nativeField: '$.person.geschlecht', pointer: '/person/geschlecht/code' }),
        expect.objectContaining({ nativeField: '$.person.nachname', pointer: '/person/familienname' }),
      ]),
    );
    expect(problem.pointer).toBeTruthy();
  });

  it('a value the schema refuses carries a JSON pointer', async () => {
    const msg = rueckmeldung((d) => {
      d.neueAnschrift.plz = '1099';
    });
    const problem = await expectProblem(
      sn.send('sn-melde', msg.body, 'application/json'),
      422,
      'GW_ERR_SCHEMA_INVALID',
    );
    expect(problem.pointer).toBe('/wohnung.neu/anschrift/postleitzahl');
  });

  it('an unknown receiver', async () => {
    const msg = rueckmeldung((d) => {
      d.empfaenger.ags = '09162000'; // München: no system in the directory serves Bavaria
    });
    const problem = await expectProblem(
      sn.send('sn-melde', msg.body, 'application/json'),
      422,
      'GW_ERR_UNKNOWN_RECEIVER',
    );
    expect(problem.pointer).toBe('/nachrichtenkopf.g2g/leser/kennung');
  });

  it('a contract violation (no contract covers Saxony to Saxony)', async () => {
    const msg = rueckmeldung((d) => {
      d.empfaenger.ags = '14713000';
    });
    await expectProblem(sn.send('sn-melde', msg.body, 'application/json'), 403, 'GW_ERR_CONTRACT_VIOLATION');
  });

  it('a system speaking for an authority it does not serve', async () => {
    const msg = rueckmeldung((d) => {
      d.absender.ags = '15002000';
    });
    await expectProblem(sn.send('sn-melde', msg.body, 'application/json'), 403, 'GW_ERR_SENDER_AUTHORITY');
  });

  it('a replayed nachrichtenUUID', async () => {
    const msg = rueckmeldung();
    expect((await sn.send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    // Let the first one settle in the inbox: while it moves from the bus to the inbox it counts twice.
    await eventually(async () => ((await t.gateway.mailbox.get('st-melde', msg.id)) ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    const before = await published();
    const r = await sn.send('sn-melde', msg.body, 'application/json');
    expect(r.status).toBe(409);
    expect((r.body as Problem).code).toBe('GW_ERR_DUPLICATE_MESSAGE');
    expect(await published()).toBe(before);
    // The refused resend is in the message's trail; the accepted message's status is not `rejected`.
    const view = await sn.call<{ status: string; history: { event: string }[] }>(
      'GET',
      `/v1/messages/${msg.id}`,
    );
    expect(view.body.history.map((h) => h.event)).toContain('rejected');
    expect(view.body.status).toBe('delivered');
  });

  it('a wrong content type', async () => {
    await expectProblem(
      sn.send('sn-melde', rueckmeldung().body, 'text/plain'),
      415,
      'GW_ERR_UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it('a declared charset the adapter does not decode', async () => {
    // JSON is decoded as UTF-8 only: ISO-8859-1 bytes must not be read as (broken) UTF-8.
    const latin1 = await expectProblem(
      sn.send('sn-melde', rueckmeldung().body, 'application/json; charset=iso-8859-1'),
      415,
      'GW_ERR_UNSUPPORTED_MEDIA_TYPE',
    );
    expect(latin1.detail).toMatch(/"iso-8859-1"/);
    const quoted = await expectProblem(
      sn.send('sn-melde', rueckmeldung().body, 'application/json; charset="Windows-1252"'),
      415,
      'GW_ERR_UNSUPPORTED_MEDIA_TYPE',
    );
    expect(quoted.detail).toMatch(/"windows-1252"/);
    // th-melde's CSV is Windows-1252: a batch declared UTF-8 is refused before its bytes are read.
    const th = t.client('th-melde');
    const utf8Csv = await expectProblem(
      th.send('th-melde', 'a;b\r\nMüller;x\r\n', 'text/csv; charset=utf-8'),
      415,
      'GW_ERR_UNSUPPORTED_MEDIA_TYPE',
    );
    expect(utf8Csv.detail).toMatch(/windows-1252 only, not the declared charset "utf-8"/);
    // The standard door (POST /v1/messages) reads UTF-8 XML only.
    const standard = await expectProblem(
      sn.call('POST', '/v1/messages', '<x/>', { 'content-type': 'application/xml; charset=ISO-8859-15' }),
      415,
      'GW_ERR_UNSUPPORTED_MEDIA_TYPE',
    );
    expect(standard.detail).toMatch(/"iso-8859-15"/);
    const utf8Standard = await sn.call<Problem>('POST', '/v1/messages', '<x/>', {
      'content-type': 'application/xml; charset=utf-8',
    });
    expect(utf8Standard.body.code).toBe('GW_ERR_UNKNOWN_STANDARD');
    // A repeated charset parameter counts each time: the second one does not slip through.
    await expectProblem(
      sn.send('sn-melde', rueckmeldung().body, 'application/json; charset=utf-8; charset=latin1'),
      415,
      'GW_ERR_UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it('the charset the adapter decodes, in any spelling, is accepted', async () => {
    for (const contentType of [
      'application/json; charset=utf-8',
      'application/json;charset=UTF-8',
      'application/json; charset="utf-8"',
      'Application/JSON; Charset="UTF-8"',
    ]) {
      const r = await sn.send('sn-melde', rueckmeldung().body, contentType);
      expect(r.status, `${contentType}: ${JSON.stringify(r.body)}`).toBe(202);
    }
    // Windows-1252 CSV declared as such (or as cp1252) gets past the media type to the CSV reader.
    const th = t.client('th-melde');
    for (const contentType of ['text/csv; charset=windows-1252', 'text/csv; charset=CP1252', 'text/csv']) {
      const r = await th.send('th-melde', 'not;a\r\nheader\r\n', contentType);
      expect((r.body as Problem).code, contentType).not.toBe('GW_ERR_UNSUPPORTED_MEDIA_TYPE');
      expect(r.status, contentType).toBe(400);
    }
  });

  it('a body over the size limit', async () => {
    const huge = rueckmeldung((d) => {
      d.person.padding = 'x'.repeat(100 * 1024);
    });
    await expectProblem(sn.send('sn-melde', huge.body, 'application/json'), 413, 'GW_ERR_PAYLOAD_TOO_LARGE');
  });

  it('no client certificate', async () => {
    const anonymous = t.client(null);
    await expectProblem(
      anonymous.send('sn-melde', rueckmeldung().body, 'application/json'),
      401,
      'GW_ERR_CLIENT_CERT_REQUIRED',
    );
  });

  it('the certificate of another system', async () => {
    const st = t.client('st-melde');
    await expectProblem(
      st.send('sn-melde', rueckmeldung().body, 'application/json'),
      403,
      'GW_ERR_CLIENT_CERT_FORBIDDEN',
    );
  });

  it('a certificate from a foreign CA that names the system', async () => {
    const foreignCa = createCa({ commonName: 'Foreign CA', days: 1, keyAlgorithm: 'rsa-2048' });
    const forged = issueCertificate(foreignCa, {
      commonName: 'sn-melde',
      sanUris: ['urn:laender-gateway:system:sn-melde'],
      usage: 'client',
      days: 1,
      keyAlgorithm: 'ec-p256',
    });
    const client = new SystemClient(t.gateway.url, {
      caPem: t.gateway.pki.caCertPem,
      certPem: forged.certPem,
      keyPem: forged.keyPem,
    });
    try {
      await expectProblem(
        client.send('sn-melde', rueckmeldung().body, 'application/json'),
        401,
        'GW_ERR_CLIENT_CERT_REQUIRED',
      );
    } finally {
      await client.close();
    }
  });

  it('a malformed message id in the path', async () => {
    await expectProblem(sn.call('GET', '/v1/messages/..%2F..%2Fetc%2Fpasswd'), 400, 'GW_ERR_BAD_REQUEST');
    await expectProblem(sn.call('GET', `/v1/messages/${'a'.repeat(300)}`), 400, 'GW_ERR_BAD_REQUEST');
  });

  it('hostile XML to the legacy XML adapter', async () => {
    const st = t.client('st-melde');
    const xxe =
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><MeldeVorgang Art="RM-ANM">&e;</MeldeVorgang>';
    await expectProblem(st.send('st-melde', xxe, 'application/xml'), 400, 'GW_ERR_XML_FORBIDDEN_CONSTRUCT');
    const deep = `${'<a>'.repeat(5_000)}${'</a>'.repeat(5_000)}`;
    await expectProblem(st.send('st-melde', deep, 'application/xml'), 400, 'GW_ERR_MALFORMED_PAYLOAD');
    const unknownCode = readFileSync(
      new URL('../../adapters/st-melde/fixtures/0201-umzug-leipzig-halle.native.xml', import.meta.url),
      'utf8',
    )
      .replace('<Geschl>1</Geschl>', '<Geschl>9</Geschl>')
      .replace(/<VorgangsID>[^<]*</, '<VorgangsID>0d5f0a52-1111-4c2b-9d3e-123456789abc<');
    const problem = await expectProblem(
      st.send('st-melde', unknownCode, 'application/xml'),
      422,
      'GW_ERR_MAPPING_FAILED',
    );
    expect(problem.errors?.[0]).toMatchObject({
      nativeField: '/MeldeVorgang/Einwohner/Geschl',
      pointer: '/person/geschlecht/code',
    });
  });
});
