/**
 * The hostile-input corpus (issue 9): several hundred broken or hostile requests against one
 * embedded gateway over real HTTPS with real certificates. Every case must get a 4xx problem+json
 * with the exact GW_ERR_* code of its family, be audited as `rejected` with that code, publish
 * nothing (bus lag and inboxes unchanged), and leave the gateway ready; at the end the process's
 * memory after GC is within a bound of what it was before the corpus.
 *
 * Cases are generated from the adapters' own fixtures where that is sensible (truncations at many
 * positions, invalid UTF-8 spliced in, records cut short); the hand-written DTD and PI attacks live
 * in test/hostile/corpus/. Requests that never reach the application (a CR in a header, a body sent
 * byte by byte) are refused by Node's HTTP parser and timeouts: those have their own checks below.
 */
import { createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverTopic, deliveryGroup } from '../../gateway/bus/topics.ts';
import { type ClientResponse, SystemClient } from '../../gateway/cli/system-client.ts';
import type { ErrorCode } from '../../gateway/errors/catalogue.ts';
import {
  type CertificateUsage,
  createCa,
  decryptPrivateKeyPem,
  issueCertificate,
} from '../../gateway/pki/ca.ts';
import { revokeSerial } from '../../gateway/pki/revocation.ts';
import { DocumentSigner } from '../../gateway/signing/signer.ts';
import { parseXmlSafely } from '../../gateway/xml/safe-parse.ts';
import { catalogue } from '../../standards/index.ts';
import { fromElement, toCanonicalXml, validateMessage } from '../../standards/xoev/xml-codec.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, startTestGateway, TEST_PASSPHRASE, type TestGateway } from '../support/gateway.ts';
import {
  csvCutRecords,
  fixture,
  INVALID_UTF8,
  spliceBytes,
  spread,
  truncatedJson,
  truncatedXml,
  withFreshId,
} from './support/broken-payloads.ts';
import { wrappingVariants } from './support/signature-wrapping.ts';

interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  requestId: string;
}

type Send = () => Promise<ClientResponse<Problem>>;

interface HostileCase {
  family: string;
  name: string;
  send: Send;
  status: number;
  code: ErrorCode;
  /** Where a case says more than its code (client certificates): what the answer and audit carry. */
  expected?: Expected;
}

interface Expected {
  /** The audited refusal's actor. */
  actor: string;
  /** Fields of the audited refusal's detail (undefined: absent). */
  audited: Record<string, unknown>;
  /** The problem's detail, exactly. */
  detail: string;
}

const CORPUS = new URL('./corpus/', import.meta.url);
const corpusFiles = (dir: string) =>
  readdirSync(new URL(`${dir}/`, CORPUS)).map((f) => ({
    name: f,
    text: readFileSync(new URL(`${dir}/${f}`, CORPUS), 'utf8'),
  }));

const BODY_LIMIT = 128 * 1024;
/** Short, so that the slow-loris case ends in seconds; real requests of the corpus take milliseconds. */
const REQUEST_TIMEOUT_MS = 6_000;
const SYSTEMS = [
  'sn-melde',
  'st-melde',
  'th-melde',
  'sn-kfz',
  'st-kfz',
  'th-kfz',
  'kba-zfzr',
  'elterngeld-online',
  'sn-elterngeld',
  'th-elterngeld',
];
/** What each system sends, and as what. */
const NATIVE: Record<string, { file: string; contentType: string }> = {
  'sn-melde': { file: '0201-umzug-magdeburg-dresden.native.json', contentType: 'application/json' },
  'st-melde': { file: '0201-umzug-leipzig-halle.native.xml', contentType: 'application/xml' },
  'th-melde': { file: '0201-nachtlauf-erfurt-jena-weimar.native.csv', contentType: 'text/csv' },
  'sn-kfz': { file: '1001-zulassung-leipzig.native.txt', contentType: 'text/plain' },
  'st-kfz': { file: '1001-zulassung-firmenwagen-halle.native.json', contentType: 'application/json' },
  'th-kfz': { file: '1001-zulassung-erfurt.native.xml', contentType: 'application/xml' },
  'kba-zfzr': { file: '1002-mitteilung-an-dresden.native.xml', contentType: 'application/xml' },
  'elterngeld-online': { file: '0101-antrag-leipzig.native.json', contentType: 'application/json' },
  'sn-elterngeld': { file: '0102-bescheid-leipzig.native.xml', contentType: 'application/xml' },
  'th-elterngeld': { file: '0102-bescheid-jena.native.json', contentType: 'application/json' },
};
const native = (system: string) => fixture(system, NATIVE[system]!.file);

const R0201 = catalogue.messageType('xmeld', '25.11', 'rueckmeldung.anmeldunginland.0201')!;
const SN_STANDARD = fixture('sn-melde', '0201-umzug-magdeburg-dresden.standard.xml').toString('utf8');

/** A valid canonical XMeld 25.11 0201 from Dresden (sn-melde) to Magdeburg, with a fresh id. */
function standardDocument(): { id: string; xml: string } {
  const m = validateMessage(R0201, fromElement(R0201, parseXmlSafely(SN_STANDARD).documentElement!));
  const id = randomUUID();
  m['nachrichtenkopf.g2g']['identifikation.nachricht'].nachrichtenUUID = id;
  return { id, xml: toCanonicalXml(R0201, m) };
}

/** Node's own garbage collector, for the memory bound (vitest does not start workers with --expose-gc). */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) gc();
}

describe('hostile-input corpus', () => {
  let t: TestGateway;
  const clients = new Map<string, SystemClient>();
  const as = (systemId: string | null) => {
    const key = systemId ?? '(none)';
    if (!clients.has(key)) clients.set(key, t.client(systemId));
    return clients.get(key)!;
  };
  const cases: HostileCase[] = [];
  /** Sent once (and accepted) before the corpus, so that the corpus can replay them. */
  const replays: Send[] = [];
  /** Certificate serials revoked before the corpus runs. */
  const revocations: string[] = [];
  const extraClients: SystemClient[] = [];
  const add = (
    family: string,
    name: string,
    status: number,
    code: ErrorCode,
    send: Send,
    expected?: Expected,
  ) => cases.push({ family, name, status, code, send, ...(expected ? { expected } : {}) });
  /** Cases of one family that all expect the same answer: a table of names and requests. */
  const addAll = (family: string, status: number, code: ErrorCode, rows: [name: string, send: Send][]) => {
    for (const [name, send] of rows) add(family, name, status, code, send);
  };
  const sendAs = (
    system: string,
    body: string | Buffer,
    contentType: string,
    headers: Record<string, string> = {},
  ) =>
    (() =>
      as(system).call<Problem>('POST', `/v1/systems/${system}/messages`, body, {
        'content-type': contentType,
        ...headers,
      })) as Send;
  const postStandard = (
    body: string | Buffer,
    client = () => as('sn-melde'),
    contentType = 'application/xml',
  ) => (() => client().call<Problem>('POST', '/v1/messages', body, { 'content-type': contentType })) as Send;
  const signerOf = (systemId: string) => {
    const dir = path.join(t.dataDir, 'pki', 'systems');
    const privateKey = createPrivateKey(readFileSync(path.join(dir, `${systemId}.key`), 'utf8'));
    return new DocumentSigner({
      privateKey,
      certPem: readFileSync(path.join(dir, `${systemId}.crt`), 'utf8'),
      algorithm: privateKey.asymmetricKeyType === 'ec' ? 'ecdsa-p256-sha256' : 'rsa-sha256',
    });
  };

  /** A raw TLS connection with sn-melde's certificate: for bytes a well-behaved client cannot send. */
  const connectAsSnMelde = () => {
    const dir = path.join(t.dataDir, 'pki');
    const url = new URL(t.gateway.url);
    return tls.connect({
      host: url.hostname,
      port: Number(url.port),
      ca: readFileSync(path.join(dir, 'ca.crt')),
      cert: readFileSync(path.join(dir, 'systems', 'sn-melde.crt')),
      key: readFileSync(path.join(dir, 'systems', 'sn-melde.key')),
      servername: 'localhost',
    });
  };

  beforeAll(async () => {
    t = await startTestGateway({
      env: {
        GATEWAY_BODY_LIMIT_BYTES: String(BODY_LIMIT),
        GATEWAY_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      },
    });
  });
  afterAll(async () => {
    // Clients from t.client() are closed by t.stop().
    await Promise.all(extraClients.map((c) => c.close()));
    await t?.stop();
  });

  async function published(): Promise<number> {
    const prefix = t.gateway.config.kafka.topicPrefix;
    let total = 0;
    for (const system of SYSTEMS) {
      const lag = await t.gateway.bus.lag(deliveryGroup(prefix, system), deliverTopic(prefix, system));
      total += lag.reduce((s, p) => s + p.lag, 0);
      total += (await t.gateway.mailbox.list(system, { limit: 1000 })).items.length;
    }
    return total;
  }

  async function rejected(): Promise<{
    count: number;
    last?: Record<string, unknown> & { code?: unknown };
    actor?: string;
  }> {
    const events = await t.gateway.auditStore.query({ kind: 'rejected', limit: 1_000_000 });
    return { count: events.length, last: events.at(-1)?.detail, actor: events.at(-1)?.actor };
  }

  function buildCorpus(): void {
    // --- Truncated and malformed payloads, per native format -------------------------------------
    for (const system of ['sn-melde', 'st-kfz', 'elterngeld-online', 'th-elterngeld']) {
      const text = native(system).toString('utf8');
      const count = system === 'sn-melde' ? 40 : 20;
      for (const { at, body } of truncatedJson(text, count)) {
        add(
          'truncated JSON',
          `${system} cut at ${at}`,
          400,
          'GW_ERR_MALFORMED_PAYLOAD',
          sendAs(system, body, 'application/json'),
        );
      }
    }
    for (const system of ['st-melde', 'th-kfz', 'sn-elterngeld', 'kba-zfzr']) {
      const text = native(system).toString('utf8');
      for (const { at, body } of truncatedXml(text, 20)) {
        add(
          'truncated XML',
          `${system} cut at ${at}`,
          400,
          'GW_ERR_MALFORMED_PAYLOAD',
          sendAs(system, body, 'application/xml'),
        );
      }
    }
    const canonicalLength = standardDocument().xml.length;
    for (const at of spread(60, canonicalLength - 1, 15)) {
      add('truncated XML', `standard document cut at ${at}`, 400, 'GW_ERR_MALFORMED_PAYLOAD', () =>
        postStandard(standardDocument().xml.slice(0, at))(),
      );
    }
    const csv = native('th-melde').toString('latin1');
    for (const [i, body] of csvCutRecords(csv, ';', 20).entries()) {
      add(
        'broken CSV',
        `record cut short #${i + 1}`,
        400,
        'GW_ERR_MALFORMED_PAYLOAD',
        sendAs('th-melde', Buffer.from(body, 'latin1'), 'text/csv'),
      );
    }
    const csvLines = csv.split('\r\n');
    const csvBroken: [string, string][] = [
      ['unclosed quote', `${csvLines[0]}\r\n"${csvLines[1]}`],
      ['stray quote in a field', `${csvLines[0]}\r\n${csvLines[1]!.replace(';', ';ab"c')}`],
      ['one field too many', `${csvLines[0]}\r\n${csvLines[1]};extra`],
      ['header with an unknown column', `${csvLines[0]};HACK\r\n${csvLines[1]};x`],
      [
        'header with a missing column',
        `${csvLines[0]!.split(';').slice(1).join(';')}\r\n${csvLines[1]!.split(';').slice(1).join(';')}`,
      ],
      ['header only', `${csvLines[0]}\r\n`],
      ['empty file', ''],
      ['comma-separated instead of semicolon', csv.replaceAll(';', ',')],
    ];
    for (const [name, body] of csvBroken) {
      add(
        'broken CSV',
        name,
        400,
        'GW_ERR_MALFORMED_PAYLOAD',
        sendAs('th-melde', Buffer.from(body, 'latin1'), 'text/csv'),
      );
    }
    const record = native('sn-kfz').toString('latin1').split('\r\n')[0]!;
    for (const at of spread(1, record.length - 1, 15)) {
      add(
        'broken fixed-width',
        `record cut at column ${at}`,
        400,
        'GW_ERR_MALFORMED_PAYLOAD',
        sendAs('sn-kfz', Buffer.from(`${record.slice(0, at)}\r\n`, 'latin1'), 'text/plain'),
      );
    }
    const fixedBroken: [string, string][] = [
      ['record one character too long', `${record}X\r\n`],
      ['record 200 characters too long', `${record}${'X'.repeat(200)}\r\n`],
      ['unknown record type 99', `99${record.slice(2)}\r\n`],
      ['record type blank', `  ${record.slice(2)}\r\n`],
      ['letters in a numeric date field', `${record.replace('20261104', '2026II04')}\r\n`],
    ];
    for (const [name, body] of fixedBroken) {
      add(
        'broken fixed-width',
        name,
        400,
        'GW_ERR_MALFORMED_PAYLOAD',
        sendAs('sn-kfz', Buffer.from(body, 'latin1'), 'text/plain'),
      );
    }

    // --- Wrong encodings and invalid UTF-8 -------------------------------------------------------
    const snJson = native('sn-melde').toString('utf8');
    const stXml = native('st-melde').toString('utf8');
    for (const { name, bytes } of INVALID_UTF8) {
      add(
        'invalid UTF-8',
        `JSON: ${name}`,
        400,
        'GW_ERR_MALFORMED_PAYLOAD',
        sendAs('sn-melde', spliceBytes(snJson, '"nachname": "', bytes), 'application/json'),
      );
      add(
        'invalid UTF-8',
        `XML dialect: ${name}`,
        400,
        'GW_ERR_MALFORMED_PAYLOAD',
        sendAs('st-melde', spliceBytes(stXml, '<Name>', bytes), 'application/xml'),
      );
      add('invalid UTF-8', `standard document: ${name}`, 400, 'GW_ERR_MALFORMED_PAYLOAD', () =>
        postStandard(spliceBytes(standardDocument().xml, '<familienname>', bytes))(),
      );
    }
    const utf16 = (le: boolean) => {
      const b = Buffer.from(snJson, 'utf16le');
      if (!le) b.swap16();
      return Buffer.concat([Buffer.from(le ? [0xff, 0xfe] : [0xfe, 0xff]), b]);
    };
    /** `text` in Latin-1 with `byte` put in at `at` (or in place of the character there). */
    const latin1With = (text: string, at: number, byte: number, replacing = false) =>
      Buffer.concat([
        Buffer.from(text.slice(0, at), 'latin1'),
        Buffer.from([byte]),
        Buffer.from(text.slice(replacing ? at + 1 : at), 'latin1'),
      ]);
    const intoFirstRecord = csv.indexOf('\r\n') + 40;
    addAll('wrong encoding', 400, 'GW_ERR_MALFORMED_PAYLOAD', [
      ['JSON in UTF-16LE with BOM', sendAs('sn-melde', utf16(true), 'application/json')],
      ['JSON in UTF-16BE with BOM', sendAs('sn-melde', utf16(false), 'application/json')],
      ['JSON in Latin-1', sendAs('sn-melde', Buffer.from(snJson, 'latin1'), 'application/json')],
      ['XML dialect in Latin-1', sendAs('st-melde', Buffer.from(stXml, 'latin1'), 'application/xml')],
      ['standard document in UTF-16LE', () => postStandard(Buffer.from(standardDocument().xml, 'utf16le'))()],
      ...[0x81, 0x8d, 0x8f, 0x90, 0x9d].map((byte): [string, Send] => [
        `CSV (Windows-1252): undefined byte 0x${byte.toString(16)}`,
        sendAs('th-melde', latin1With(csv, intoFirstRecord, byte), 'text/csv'),
      ]),
      [
        'CSV (Windows-1252) exported as UTF-8',
        sendAs('th-melde', Buffer.from(iconv.decode(native('th-melde'), 'win1252'), 'utf8'), 'text/csv'),
      ],
      ...[0x00, 0x07, 0x1b, 0x7f].map((byte): [string, Send] => [
        `CSV: control character 0x${byte.toString(16)}`,
        sendAs('th-melde', latin1With(csv, 200, byte), 'text/csv'),
      ]),
      ...[0x80, 0x85, 0x96, 0x9f].map((byte): [string, Send] => [
        `fixed-width (ISO-8859-1): C1 byte 0x${byte.toString(16)}`,
        sendAs('sn-kfz', latin1With(`${record}\r\n`, 100, byte, true), 'text/plain'),
      ]),
      [
        'fixed-width (ISO-8859-1) exported as UTF-8',
        sendAs('sn-kfz', Buffer.from(`${record}\r\n`, 'utf8'), 'text/plain'),
      ],
    ]);

    // --- DOCTYPE, XXE, entity bombs, processing instructions -------------------------------------
    /** The native XML of `system` with `text` right after its XML declaration. */
    const afterDeclaration = (system: string, text: string) =>
      sendAs(
        system,
        native(system)
          .toString('utf8')
          .replace(/^(<\?xml[^>]*\?>)/, `$1${text}`),
        'application/xml',
      );
    for (const { name, text } of corpusFiles('dtd')) {
      addAll('DTD / XXE / entity bomb', 400, 'GW_ERR_XML_FORBIDDEN_CONSTRUCT', [
        [
          `XML dialect: ${name}`,
          sendAs('st-melde', `${text}${stXml.replace(/^<\?xml[^>]*\?>\s*/, '')}`, 'application/xml'),
        ],
        [`XML dialect after the XML declaration: ${name}`, afterDeclaration('th-kfz', text)],
        [`standard document: ${name}`, () => postStandard(`${text}${standardDocument().xml}`)()],
        [`standard-native system (kba-zfzr): ${name}`, afterDeclaration('kba-zfzr', text)],
      ]);
    }
    for (const { name, text } of corpusFiles('pi')) {
      // Only where a signature is involved: a legacy dialect ignores PIs (they never reach a seal).
      addAll('processing instruction', 400, 'GW_ERR_XML_FORBIDDEN_CONSTRUCT', [
        [`standard document: ${name}`, () => postStandard(`${text}${standardDocument().xml}`)()],
        [
          `standard document, inside the root: ${name}`,
          () =>
            postStandard(
              standardDocument().xml.replace('<nachrichtenkopf.g2g>', `${text}<nachrichtenkopf.g2g>`),
            )(),
        ],
        [`standard-native system (kba-zfzr): ${name}`, afterDeclaration('kba-zfzr', text)],
      ]);
    }

    // --- 10,000-deep nesting, huge fields and attributes -----------------------------------------
    const deepJson = (open: string, close: string, inner = '1') =>
      `${open.repeat(10_000)}${inner}${close.repeat(10_000)}`;
    /** sn-melde's native JSON with a fresh id and `from` replaced by `to`, made when sent. */
    const snJsonWith = (from: string, to: string) => () =>
      sendAs(
        'sn-melde',
        withFreshId(snJson, '3f1c2a8e-5b7d-4e21-9c4a-8d2e6f0a1b3c').replace(from, to),
        'application/json',
      )();
    const deepXml = `${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}`;
    addAll('deep nesting', 400, 'GW_ERR_MALFORMED_PAYLOAD', [
      [
        'JSON: 10,000 nested arrays as the document',
        sendAs('sn-melde', deepJson('[', ']'), 'application/json'),
      ],
      [
        'JSON: 10,000 nested objects as the document',
        sendAs('sn-melde', deepJson('{"a":', '}'), 'application/json'),
      ],
      ['JSON: 10,000 nested arrays in a mapped field', snJsonWith('"Schäfer-Nowak"', deepJson('[', ']'))],
      [
        'JSON: 10,000 nested arrays in a field nobody maps',
        snJsonWith('"person": {', `"x": ${deepJson('[', ']')}, "person": {`),
      ],
      [
        'JSON (st-kfz): 10,000 nested objects in a field nobody maps',
        () =>
          sendAs(
            'st-kfz',
            native('st-kfz')
              .toString('utf8')
              .replace('{', `{"x": ${deepJson('{"a":', '}')},`),
            'application/json',
          )(),
      ],
      [
        'XML dialect: 10,000 nested elements',
        sendAs('st-melde', `<MeldeVorgang>${deepXml}</MeldeVorgang>`, 'application/xml'),
      ],
      [
        'XML dialect (th-kfz): 10,000 nested elements in the document',
        sendAs(
          'th-kfz',
          native('th-kfz').toString('utf8').replace('</ZulassungsVorgang>', `${deepXml}</ZulassungsVorgang>`),
          'application/xml',
        ),
      ],
    ]);
    addAll('deep nesting', 400, 'GW_ERR_XML_LIMIT_EXCEEDED', [
      [
        'standard document: 10,000 nested elements',
        () => postStandard(standardDocument().xml.replace('<anmeldedatum>', `${deepXml}<anmeldedatum>`))(),
      ],
      ['standard-native system: 10,000 nested elements', sendAs('kba-zfzr', deepXml, 'application/xml')],
    ]);
    add(
      'huge fields',
      'JSON: 100,000-character family name',
      422,
      'GW_ERR_SCHEMA_INVALID',
      snJsonWith('"Schäfer-Nowak"', JSON.stringify('x'.repeat(100_000))),
    );
    add('huge fields', 'XML dialect: 100,000-character family name', 422, 'GW_ERR_SCHEMA_INVALID', () =>
      sendAs(
        'st-melde',
        withFreshId(stXml, 'c0a8f3e2-7d14-4b9e-a6f1-2e3d4c5b6a79').replace(
          /<Name>[^<]*</,
          `<Name>${'x'.repeat(100_000)}<`,
        ),
        'application/xml',
      )(),
    );
    add('huge fields', 'standard document: 100,000-character attribute', 422, 'GW_ERR_SCHEMA_INVALID', () =>
      postStandard(
        standardDocument().xml.replace(
          '<nachrichtenkopf.g2g>',
          `<nachrichtenkopf.g2g a="${'x'.repeat(100_000)}">`,
        ),
      )(),
    );
    add(
      'huge fields',
      'standard document: 100,000-character element name',
      400,
      'GW_ERR_MALFORMED_PAYLOAD',
      () => postStandard(standardDocument().xml.replace('<anmeldedatum>', `<${'x'.repeat(100_000)}>`))(),
    );
    add(
      'huge fields',
      'standard document: 1,000 attributes on one element',
      400,
      'GW_ERR_XML_LIMIT_EXCEEDED',
      () =>
        postStandard(
          standardDocument().xml.replace(
            '<nachrichtenkopf.g2g>',
            `<nachrichtenkopf.g2g ${Array.from({ length: 1000 }, (_, i) => `a${i}="1"`).join(' ')}>`,
          ),
        )(),
    );
    add(
      'huge fields',
      'CSV: 100,000-character field',
      422,
      'GW_ERR_SCHEMA_INVALID',
      sendAs(
        'th-melde',
        Buffer.from(
          `${csvLines[0]}\r\n${csvLines[1]!.replace(/;[^;]*Erfurt[^;]*;/, `;${'x'.repeat(100_000)};`)}\r\n`,
          'latin1',
        ),
        'text/csv',
      ),
    );

    // --- Oversized bodies ------------------------------------------------------------------------
    addAll('oversized body', 413, 'GW_ERR_PAYLOAD_TOO_LARGE', [
      ...SYSTEMS.map((system): [string, Send] => [
        `${system}: ${BODY_LIMIT + 1} bytes`,
        sendAs(system, Buffer.alloc(BODY_LIMIT + 1, 0x20), NATIVE[system]!.contentType),
      ]),
      ['standard document: 1 MiB', postStandard(Buffer.alloc(1024 * 1024, 0x20))],
      ['sn-melde: 4 MiB', sendAs('sn-melde', Buffer.alloc(4 * 1024 * 1024, 0x20), 'application/json')],
    ]);

    // --- Wrong content types ---------------------------------------------------------------------
    const wrongTypes = [
      'text/plain',
      'application/octet-stream',
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded',
      'text/html',
      'application/json-patch+json',
    ];
    addAll('wrong content type', 415, 'GW_ERR_UNSUPPORTED_MEDIA_TYPE', [
      ...SYSTEMS.flatMap((system) =>
        wrongTypes
          .filter((w) => w !== NATIVE[system]!.contentType)
          .slice(0, 4)
          .map((wrong): [string, Send] => [`${system} as ${wrong}`, sendAs(system, native(system), wrong)]),
      ),
      ...['application/json', 'text/csv'].map((wrong): [string, Send] => [
        `standard document as ${wrong}`,
        () => postStandard(standardDocument().xml, () => as('sn-melde'), wrong)(),
      ]),
    ]);

    // --- Header injection: what reaches the app must not be trusted or echoed --------------------
    const oddTraceparents = [
      'garbage',
      `00-${'0'.repeat(32)}-${'0'.repeat(16)}-01`,
      `ff-${'a'.repeat(32)}-${'b'.repeat(16)}-01`,
      `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01-extra`,
      `00-${'A'.repeat(32)}-${'B'.repeat(16)}-01`,
      `00-${'a'.repeat(31)}-${'b'.repeat(16)}-01`,
      `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01, 00-${'c'.repeat(32)}-${'d'.repeat(16)}-01`,
      'x'.repeat(8000),
      '00-<script>alert(1)</script>-01',
      "00-' OR 1=1 --",
    ];
    const oddIds = ['../../etc/passwd', 'x'.repeat(4000), '\u00e4\u00f6\u00fc', 'req-1', '<img src=x>'];
    /** A body refused as malformed, so that the answer shows what became of the headers. */
    const brokenJsonWith = (headers: Record<string, string>) =>
      sendAs('sn-melde', '{"vorgang": ', 'application/json', headers);
    addAll('odd headers', 400, 'GW_ERR_MALFORMED_PAYLOAD', [
      ...oddTraceparents.map((traceparent, i): [string, Send] => [
        `traceparent #${i + 1}`,
        brokenJsonWith({ traceparent, tracestate: `a=${'b'.repeat(600)}` }),
      ]),
      ...oddIds.map((id, i): [string, Send] => [
        `x-request-id #${i + 1}`,
        brokenJsonWith({
          'x-request-id': encodeURIComponent(id),
          'x-nachrichten-uuid': encodeURIComponent(id),
        }),
      ]),
    ]);

    // --- Path traversal and malformed ids --------------------------------------------------------
    const request =
      (system: string, method: 'GET' | 'POST', urlPath: string): Send =>
      () =>
        as(system).call<Problem>(method, urlPath);
    addAll('path traversal', 400, 'GW_ERR_BAD_REQUEST', [
      ...[
        '..%2f..%2fetc%2fpasswd',
        '%2e%2e%2f%2e%2e',
        '..%5c..%5cwindows',
        'a%00b',
        '%2F',
        '%E2%80%AE',
        'x'.repeat(300),
        'abc',
        '%252e%252e%252f',
      ].map((id): [string, Send] => [
        `GET /v1/messages/${id.slice(0, 30)}`,
        request('sn-melde', 'GET', `/v1/messages/${id}`),
      ]),
      ...['..%2f..%2fetc%2fpasswd', '..%5c..', 'x'.repeat(300), 'a%00b'].flatMap((id): [string, Send][] => [
        [`GET inbox item ${id.slice(0, 30)}`, request('st-melde', 'GET', `/v1/systems/st-melde/inbox/${id}`)],
        [
          `ack inbox item ${id.slice(0, 30)}`,
          request('st-melde', 'POST', `/v1/systems/st-melde/inbox/${id}/ack`),
        ],
      ]),
      ...['..%2fsn-melde', 'sn-melde%00', 'SN-MELDE', 'sn-melde%2f..%2fst-melde'].flatMap(
        (system): [string, Send][] => [
          [
            `POST /v1/systems/${system}/messages`,
            () =>
              as('sn-melde').call<Problem>('POST', `/v1/systems/${system}/messages`, snJson, {
                'content-type': 'application/json',
              }),
          ],
          [`GET /v1/systems/${system}/inbox`, request('sn-melde', 'GET', `/v1/systems/${system}/inbox`)],
        ],
      ),
    ]);
    addAll(
      'unknown ids',
      404,
      'GW_ERR_NOT_FOUND',
      ['00000000-0000-4000-8000-000000000000', randomUUID()].flatMap((id): [string, Send][] => [
        [`GET /v1/messages/${id}`, request('sn-melde', 'GET', `/v1/messages/${id}`)],
        [`ack ${id}`, request('st-melde', 'POST', `/v1/systems/st-melde/inbox/${id}/ack`)],
      ]),
    );

    // --- Routing, contracts and authority, per domain --------------------------------------------
    /** A fresh Rückmeldung of sn-melde with its receiver's or its sender's AGS set, made when sent. */
    const melde =
      (party: 'empfaenger' | 'absender', ags: string): Send =>
      () =>
        sendAs(
          'sn-melde',
          rueckmeldung((d) => {
            d[party].ags = ags;
          }).body,
          'application/json',
        )();
    const agsCases: [
      family: string,
      name: (ags: string) => string,
      number,
      ErrorCode,
      'empfaenger' | 'absender',
      string[],
    ][] = [
      [
        'routing',
        (ags) => `Rückmeldung to ${ags} (no system serves it)`,
        422,
        'GW_ERR_UNKNOWN_RECEIVER',
        'empfaenger',
        ['09162000', '01001000', '11000000', '05315000'],
      ],
      [
        'contract violation',
        (ags) => `Saxony to Saxony (${ags})`,
        403,
        'GW_ERR_CONTRACT_VIOLATION',
        'empfaenger',
        ['14713000', '14612000', '14511000'],
      ],
      [
        'sender authority',
        (ags) => `sn-melde speaking for ${ags}`,
        403,
        'GW_ERR_SENDER_AUTHORITY',
        'absender',
        ['15002000', '16051000', '09162000'],
      ],
    ];
    for (const [family, name, status, code, party, agsList] of agsCases)
      addAll(
        family,
        status,
        code,
        agsList.map((ags): [string, Send] => [name(ags), melde(party, ags)]),
      );
    const kfz = native('st-kfz').toString('utf8');
    add('sender authority', 'st-kfz speaking for a Saxon authority', 403, 'GW_ERR_SENDER_AUTHORITY', () =>
      sendAs(
        'st-kfz',
        withFreshId(kfz, 'E5F6A7B8-C9D0-4E1F-A012-4C5D6E7F8091').replace('"kfz:15002000"', '"kfz:14713000"'),
        'application/json',
      )(),
    );
    add('standard document', 'sn-melde sending a document of Magdeburg', 403, 'GW_ERR_SENDER_AUTHORITY', () =>
      postStandard(
        standardDocument().xml.replace(
          /<autor>(.*?)<kennung>ags:14612000</s,
          '<autor>$1<kennung>ags:15003000<',
        ),
      )(),
    );
    add(
      'standard document',
      'unknown root element',
      422,
      'GW_ERR_UNKNOWN_STANDARD',
      postStandard('<x:nachricht xmlns:x="urn:x"/>'),
    );
    add('standard document', 'known root in a foreign namespace', 422, 'GW_ERR_UNKNOWN_STANDARD', () =>
      postStandard(standardDocument().xml.replaceAll('urn:xoev-de:xmeld:25.11', 'urn:xoev-de:xmeld:99.99'))(),
    );
  }

  it('refuses every case with its exact code, audits it, publishes nothing, stays ready and keeps its memory flat', async () => {
    buildCorpus();
    // Everything below needs the running gateway's PKI (signatures, certificates, tokens).
    await addTrustCases();
    expect(cases.length).toBeGreaterThanOrEqual(300);
    // The originals of the replays, accepted and settled in their inboxes before the corpus runs.
    for (const original of replays) {
      const r = await original();
      expect(r.status, JSON.stringify(r.body)).toBe(202);
    }
    await eventually(async () =>
      (await t.gateway.mailbox.list('st-melde', { limit: 1000 })).items.length >= replays.length
        ? true
        : undefined,
    );
    await new Promise((r) => setTimeout(r, 500));
    for (const serial of revocations)
      await revokeSerial(path.join(t.dataDir, 'pki'), { serial, reason: 'keyCompromise' });
    await new Promise((r) => setTimeout(r, 1_500)); // revocations count within a second

    // Warm up (JIT, pools, TLS sessions) before the memory baseline.
    for (const system of SYSTEMS) await as(system).call('GET', '/health/ready');
    for (const c of cases.slice(0, 20)) await c.send();
    collectGarbage();
    const before = process.memoryUsage();

    const failures: string[] = [];
    for (const c of cases) {
      const label = `[${c.family}] ${c.name}`;
      const was = { rejected: await rejected(), published: await published() };
      let r: ClientResponse<Problem>;
      try {
        r = await c.send();
      } catch (error) {
        failures.push(`${label}: request failed: ${(error as Error).message}`);
        continue;
      }
      const problem = r.body;
      const now = await rejected();
      const issues = [
        r.status !== c.status && `status ${r.status}, expected ${c.status}`,
        !String(r.headers['content-type']).startsWith('application/problem+json') &&
          `content-type ${r.headers['content-type']}`,
        problem?.code !== c.code &&
          `code ${problem?.code}, expected ${c.code} (${String(problem?.detail).slice(0, 160)})`,
        problem?.type !== `urn:laender-gateway:problem:${c.code}` && 'problem type',
        now.count !== was.rejected.count + 1 && `${now.count - was.rejected.count} rejected audit events`,
        now.last?.code !== c.code && `audited code ${String(now.last?.code)}`,
        ...(c.expected ? expectationIssues(c.expected, problem, now) : []),
        (await published()) !== was.published && 'something was published',
        (await as('sn-melde').call('GET', '/health/ready')).status !== 200 && 'not ready afterwards',
      ].filter(Boolean);
      if (issues.length > 0) failures.push(`${label}: ${issues.join('; ')}`);
    }

    // After the corpus, not beside it: its refusal is audited too and would blur the per-case counts.
    const loris = await slowLorisBody();
    collectGarbage();
    const after = process.memoryUsage();
    const families = new Map<string, number>();
    for (const c of cases) families.set(c.family, (families.get(c.family) ?? 0) + 1);
    const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
    process.stderr.write(
      [
        '',
        `hostile corpus: ${cases.length} cases + slow loris (${loris.status} after ${loris.ms} ms, ${loris.sent} body bytes sent)`,
        ...[...families].map(([f, n]) => `  ${String(n).padStart(4)}  ${f}`),
        `  memory after GC: heap ${mb(before.heapUsed)} → ${mb(after.heapUsed)} MB, rss ${mb(before.rss)} → ${mb(after.rss)} MB`,
        '',
      ].join('\n'),
    );
    expect(failures).toEqual([]);
    // Slow loris: the server ends a request whose body does not arrive within its request timeout.
    expect(loris.status).toBe(408);
    expect(loris.answer).toContain('application/problem+json');
    expect(loris.answer).toContain('"code":"GW_ERR_REQUEST_TIMEOUT"');
    // The request timeout is REQUEST_TIMEOUT_MS; Node checks it every quarter of that (server.ts).
    expect(loris.ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS);
    expect(loris.ms).toBeLessThan(REQUEST_TIMEOUT_MS * 3);
    // Flat memory: what the corpus left behind after GC stays small against the process's size.
    expect(after.heapUsed - before.heapUsed).toBeLessThan(48 * 1024 * 1024);
    expect(after.rss - before.rss).toBeLessThan(160 * 1024 * 1024);
  }, 600_000);

  /** What differs from a case's expected answer and audit entry beyond the code. */
  function expectationIssues(
    expected: Expected,
    problem: Problem | undefined,
    audited: Awaited<ReturnType<typeof rejected>>,
  ): string[] {
    const issues: string[] = [];
    if (problem?.detail !== expected.detail) issues.push(`problem detail ${JSON.stringify(problem?.detail)}`);
    if (audited.actor !== expected.actor) issues.push(`audited actor ${audited.actor}`);
    for (const [key, value] of Object.entries(expected.audited)) {
      const got = audited.last?.[key];
      if (JSON.stringify(got) !== JSON.stringify(value)) issues.push(`audited ${key} ${JSON.stringify(got)}`);
    }
    return issues;
  }

  /** Signature wrapping, replays, certificates and tokens: need the running gateway's PKI. */
  async function addTrustCases(): Promise<void> {
    // Signature wrapping and tampering on POST /v1/messages (sn-melde signs its own documents).
    const otherCert = new X509Certificate(
      readFileSync(path.join(t.dataDir, 'pki', 'systems', 'st-melde.crt')),
    ).raw.toString('base64');
    const tamper = (content: string) =>
      content.replace('<familienname>Schäfer-Nowak</familienname>', '<familienname>Mallory</familienname>');
    for (const variant of wrappingVariants(
      signerOf('sn-melde').signCanonical(standardDocument().xml),
      tamper,
      otherCert,
    )) {
      add('signature wrapping', variant.name, 422, variant.code, () => {
        // A fresh id per attempt: the variant must fail for its signature, not as a replay.
        const fresh = standardDocument();
        const signed = signerOf('sn-melde').signCanonical(fresh.xml);
        const body = wrappingVariants(signed, tamper, otherCert).find((v) => v.name === variant.name)!.body;
        return postStandard(body)();
      });
    }
    const caKeyPem = decryptPrivateKeyPem(
      readFileSync(path.join(t.dataDir, 'pki', 'ca.key'), 'utf8'),
      TEST_PASSPHRASE,
    );
    const gatewayCa = { certPem: t.gateway.pki.caCertPem, keyPem: caKeyPem };
    const signerWith = (cert: { certPem: string; keyPem: string }) =>
      new DocumentSigner({
        privateKey: createPrivateKey(cert.keyPem),
        certPem: cert.certPem,
        algorithm: 'ecdsa-p256-sha256',
      });
    /** A one-day certificate of `ca` naming `system` (sn-melde), for a client and for signing by default. */
    const certOf = (
      ca: Parameters<typeof issueCertificate>[0],
      {
        system = 'sn-melde',
        usage = ['client', 'signing'],
        notBefore,
      }: { system?: string; usage?: CertificateUsage | CertificateUsage[]; notBefore?: Date } = {},
    ) =>
      issueCertificate(ca, {
        commonName: system,
        sanUris: [`urn:laender-gateway:system:${system}`],
        usage,
        days: 1,
        keyAlgorithm: 'ec-p256',
        ...(notBefore ? { notBefore } : {}),
      });
    const foreignCa = createCa({ commonName: 'Foreign CA', days: 1, keyAlgorithm: 'rsa-2048' });
    const foreignSnMelde = certOf(foreignCa);
    const day = 24 * 3600 * 1000;
    const expiredSnMelde = certOf(gatewayCa, { notBefore: new Date(Date.now() - 3 * day) });
    const futureSnMelde = certOf(gatewayCa, { notBefore: new Date(Date.now() + 3 * day) });
    const reissuedSnMelde = certOf(gatewayCa);
    /** A fresh standard document, signed with `signer`, made when sent. */
    const signedBy = (signer: DocumentSigner) => () =>
      postStandard(signer.signCanonical(standardDocument().xml))();
    addAll('signature wrapping', 422, 'GW_ERR_SIGNATURE_INVALID', [
      ['signed by another system of the same CA', signedBy(signerOf('st-melde'))],
      ['signed with a foreign CA’s certificate naming sn-melde', signedBy(signerWith(foreignSnMelde))],
      ['signed with an expired certificate naming sn-melde', signedBy(signerWith(expiredSnMelde))],
      [
        'signed with a valid but not pinned certificate naming sn-melde',
        signedBy(signerWith(reissuedSnMelde)),
      ],
    ]);

    // Replayed message ids: the first send is accepted (outside the corpus), every replay refused.
    const replayedNative = rueckmeldung();
    const replayedStandard = standardDocument();
    const replayedSigned = signerOf('sn-melde').signCanonical(standardDocument().xml);
    replays.push(
      () => sendAs('sn-melde', replayedNative.body, 'application/json')(),
      () => postStandard(replayedStandard.xml)(),
      () => postStandard(replayedSigned)(),
    );
    addAll('replayed message id', 409, 'GW_ERR_DUPLICATE_MESSAGE', [
      ['the same native payload again', sendAs('sn-melde', replayedNative.body, 'application/json')],
      [
        'the same id with another family name',
        sendAs('sn-melde', replayedNative.body.replace('Schäfer-Nowak', 'Mallory'), 'application/json'),
      ],
      [
        'the same id with another receiver',
        sendAs('sn-melde', replayedNative.body.replace('"15003000"', '"15002000"'), 'application/json'),
      ],
      [
        'the native id again as a standard document',
        postStandard(replayedStandard.xml.replace(replayedStandard.id, replayedNative.id)),
      ],
      ['the same standard document again', postStandard(replayedStandard.xml)],
      ['the same signed document again', postStandard(replayedSigned)],
    ]);

    // Client certificates: expired, not yet valid, foreign, revoked, another system's, none.
    const withCert = (cert: { certPem: string; keyPem: string }) => {
      const client = new SystemClient(t.gateway.url, { caPem: t.gateway.pki.caCertPem, ...cert });
      extraClients.push(client);
      return client;
    };
    const revokedSnMelde = certOf(gatewayCa);
    revocations.push(new X509Certificate(revokedSnMelde.certPem).serialNumber);
    const serverOnly = certOf(gatewayCa, { usage: 'server' });
    const unknownSystem = certOf(gatewayCa, { system: 'by-melde' });
    const caSubject = new X509Certificate(gatewayCa.certPem).subject.split('\n').join(', ');
    /** A refused certificate: audited as presented (never as the actor), the reason said in words. */
    const refusedAs = (
      cert: { serial: string },
      issuer: string,
      reason: string,
      verifyError: string,
      words: string,
    ): Expected => ({
      actor: 'anonymous',
      audited: { reason, verifyError, certificateSerial: cert.serial, subject: 'CN=sn-melde', issuer },
      detail: `the presented client certificate was refused: ${words} (${verifyError})`,
    });
    const certCases: [string, () => SystemClient, number, ErrorCode, Expected?][] = [
      [
        'expired',
        () => withCert(expiredSnMelde),
        401,
        'GW_ERR_CLIENT_CERT_REQUIRED',
        refusedAs(expiredSnMelde, caSubject, 'expired', 'CERT_HAS_EXPIRED', 'it has expired'),
      ],
      [
        'not yet valid',
        () => withCert(futureSnMelde),
        401,
        'GW_ERR_CLIENT_CERT_REQUIRED',
        refusedAs(futureSnMelde, caSubject, 'not-yet-valid', 'CERT_NOT_YET_VALID', 'it is not valid yet'),
      ],
      [
        'from a foreign CA',
        () => withCert(foreignSnMelde),
        401,
        'GW_ERR_CLIENT_CERT_REQUIRED',
        refusedAs(
          foreignSnMelde,
          'CN=Foreign CA',
          'untrusted-issuer',
          'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
          'it is not issued by the gateway CA',
        ),
      ],
      [
        'revoked',
        () => withCert(revokedSnMelde),
        401,
        'GW_ERR_CLIENT_CERT_REVOKED',
        {
          // It still verifies against the gateway CA: the system it names is the actor, as before.
          actor: 'system:sn-melde',
          audited: {
            reason: 'revoked',
            verifyError: undefined,
            certificateSerial: revokedSnMelde.serial,
            subject: 'CN=sn-melde',
            issuer: caSubject,
          },
          detail: `the certificate ${revokedSnMelde.serial} of sn-melde is revoked`,
        },
      ],
      [
        'for TLS servers only (no clientAuth)',
        () => withCert(serverOnly),
        401,
        'GW_ERR_CLIENT_CERT_REQUIRED',
        refusedAs(
          serverOnly,
          caSubject,
          'wrong-key-usage',
          'INVALID_PURPOSE',
          'its key usage does not admit TLS client authentication',
        ),
      ],
      ['of another system', () => as('st-melde'), 403, 'GW_ERR_CLIENT_CERT_FORBIDDEN'],
      [
        'naming a system not in the directory',
        () => withCert(unknownSystem),
        403,
        'GW_ERR_CLIENT_CERT_FORBIDDEN',
      ],
      [
        'none',
        () => as(null),
        401,
        'GW_ERR_CLIENT_CERT_REQUIRED',
        {
          actor: 'anonymous',
          audited: { reason: undefined, certificateSerial: undefined, subject: undefined, issuer: undefined },
          detail: 'A client certificate issued by the gateway CA is required',
        },
      ],
    ];
    for (const [name, client, status, code, expected] of certCases) {
      add(
        'client certificate',
        `${name}: native ingress`,
        status,
        code,
        () =>
          client().call<Problem>('POST', '/v1/systems/sn-melde/messages', rueckmeldung().body, {
            'content-type': 'application/json',
          }),
        expected,
      );
      add(
        'client certificate',
        `${name}: inbox`,
        status,
        code,
        () => client().call<Problem>('GET', '/v1/systems/sn-melde/inbox'),
        expected,
      );
    }
    for (const [name, client, , code, expected] of certCases.filter(
      ([n]) => !n.startsWith('of another') && !n.startsWith('naming'),
    )) {
      add(
        'client certificate',
        `${name}: standard ingress`,
        401,
        code,
        () => postStandard(standardDocument().xml, client)(),
        expected,
      );
    }
    // A certificate of the gateway CA for a system the directory does not (or no longer) list: the
    // same 403 on both doors, also when the path names that system, so no answer reveals the directory.
    add(
      'client certificate',
      'naming a system not in the directory: standard ingress',
      403,
      'GW_ERR_CLIENT_CERT_FORBIDDEN',
      () => postStandard(standardDocument().xml, () => withCert(unknownSystem))(),
    );
    add(
      'client certificate',
      'naming a system not in the directory: native ingress on its own path',
      403,
      'GW_ERR_CLIENT_CERT_FORBIDDEN',
      () =>
        withCert(unknownSystem).call<Problem>('POST', '/v1/systems/by-melde/messages', rueckmeldung().body, {
          'content-type': 'application/json',
        }),
    );

    // Tokens on the auditor API: missing, malformed, expired, revoked, wrong role, wrong scope.
    const issue = async (role: 'auditor' | 'operator', scope: string, now?: Date) =>
      (
        await t.gateway.tokens.issue({
          role,
          scope,
          name: 'hostile corpus',
          lifetimeMs: 3_600_000,
          createdBy: 'test',
          ...(now ? { now } : {}),
        })
      ).token;
    const expired = await issue('auditor', 'land:SN', new Date(Date.now() - 2 * 3_600_000));
    const revokedToken = await t.gateway.tokens.issue({
      role: 'auditor',
      scope: 'land:SN',
      name: 'revoked',
      lifetimeMs: 3_600_000,
      createdBy: 'test',
    });
    await t.gateway.tokens.revoke(revokedToken.record.id);
    const auditorSn = await issue('auditor', 'land:SN');
    const auditorTh = await issue('auditor', 'land:TH');
    const operator = await issue('operator', '*');
    const withToken =
      (token: string | null, route: string, client = () => as(null)) =>
      () =>
        client().call<Problem>('GET', route, undefined, token === null ? {} : { authorization: token });
    const tokenCases: [string, string | null, string, number, ErrorCode, (() => SystemClient)?][] = [
      ['no token', null, '/v1/audit/messages', 401, 'GW_ERR_TOKEN_REQUIRED'],
      ['a malformed header', 'Basic dXNlcjpwYXNz', '/v1/audit/messages', 401, 'GW_ERR_TOKEN_INVALID'],
      [
        'a bearer token with a space inside',
        `Bearer ${auditorSn} x`,
        '/v1/audit/messages',
        401,
        'GW_ERR_TOKEN_INVALID',
      ],
      ['an unknown token', 'Bearer not-a-token', '/v1/audit/messages', 401, 'GW_ERR_TOKEN_INVALID'],
      ['an expired token', `Bearer ${expired}`, '/v1/audit/messages', 401, 'GW_ERR_TOKEN_INVALID'],
      ['a revoked token', `Bearer ${revokedToken.token}`, '/v1/audit/messages', 401, 'GW_ERR_TOKEN_INVALID'],
      [
        'a token with CR/LF-free garbage',
        `Bearer ${'A'.repeat(5000)}`,
        '/v1/audit/messages',
        401,
        'GW_ERR_TOKEN_INVALID',
      ],
      [
        'an operator reading a message document without the payload permission',
        `Bearer ${operator}`,
        `/v1/audit/messages/${replayedNative.id}/document`,
        403,
        'GW_ERR_FORBIDDEN',
      ],
      [
        'an auditor on the operators’ dead letters',
        `Bearer ${auditorSn}`,
        '/v1/operations/dead-letters/sn-melde',
        403,
        'GW_ERR_ROLE_FORBIDDEN',
      ],
      [
        'an auditor on the certificate list',
        `Bearer ${auditorSn}`,
        '/v1/pki/certificates',
        403,
        'GW_ERR_ROLE_FORBIDDEN',
      ],
      [
        'a system certificate on the auditor API',
        null,
        '/v1/audit/messages',
        403,
        'GW_ERR_ROLE_FORBIDDEN',
        () => as('sn-melde'),
      ],
      [
        'a Thüringen auditor reading a Saxon message',
        `Bearer ${auditorTh}`,
        `/v1/audit/messages/${replayedNative.id}`,
        404,
        'GW_ERR_NOT_FOUND',
      ],
      [
        'a Thüringen auditor reading a Saxon message’s proof',
        `Bearer ${auditorTh}`,
        `/v1/audit/messages/${replayedNative.id}/proof`,
        404,
        'GW_ERR_NOT_FOUND',
      ],
      [
        'an auditor without payload permission reading a document',
        `Bearer ${auditorSn}`,
        `/v1/audit/messages/${replayedNative.id}/document`,
        403,
        'GW_ERR_FORBIDDEN',
      ],
      [
        'a token in the query string instead of the header',
        null,
        `/v1/audit/messages?access_token=${auditorSn}`,
        401,
        'GW_ERR_TOKEN_REQUIRED',
      ],
    ];
    for (const [name, token, route, status, code, client] of tokenCases) {
      add('tokens and scopes', name, status, code, withToken(token, route, client));
    }
  }

  it('header injection: what Node refuses never reaches the app; what reaches it is not trusted or echoed', async () => {
    // Raw requests over TLS with the system's certificate: bytes a well-behaved client cannot send.
    const raw = (head: string) =>
      new Promise<string>((resolve, reject) => {
        let answer = '';
        const socket = connectAsSnMelde();
        socket.once('secureConnect', () => socket.write(head));
        socket.on('data', (d) => (answer += d));
        socket.on('close', () => resolve(answer));
        socket.on('error', (e) => (answer ? resolve(answer) : reject(e)));
        setTimeout(() => socket.destroy(), 20_000).unref();
      });
    const host = new URL(t.gateway.url).host;
    const injected = [
      `GET /v1/messages/${randomUUID()} HTTP/1.1\r\nHost: ${host}\r\nX-Test: a\rInjected: b\r\n\r\n`,
      `GET /v1/messages/${randomUUID()} HTTP/1.1\r\nHost: ${host}\r\nX-Test: a\nInjected: b\r\n\r\n`,
      `GET /v1/messages/${randomUUID()} HTTP/1.1\r\nHost: ${host}\r\nX-Test: a\u0000b\r\n\r\n`,
      `GET /v1/messages/${randomUUID()} HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
      `GET /v1/messages/${randomUUID()} HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      `GET /v1/messages/a b HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
    ];
    // Counted on this route only: the slow-loris request of the corpus test, which did reach the
    // app, may still be written as rejected while this test runs.
    const onRoute = async () =>
      (await t.gateway.auditStore.query({ kind: 'rejected', limit: 1_000_000 })).filter(
        (e) => e.detail.route === '/v1/messages/:messageId',
      ).length;
    const before = await onRoute();
    const parserRefusals = async () =>
      (await t.gateway.auditStore.query({ kind: 'rejected', limit: 1_000_000 })).filter(
        (e) => typeof e.detail.parserCode === 'string',
      ).length;
    const refusedBefore = await parserRefusals();
    for (const head of injected) {
      const answer = await raw(head);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
      expect([400, 431], `${JSON.stringify(head.slice(0, 80))} → ${answer.slice(0, 80)}`).toContain(status);
      expect(answer).toContain('application/problem+json');
      expect(answer).toMatch(
        status === 431 ? /"code":"GW_ERR_HEADERS_TOO_LARGE"/ : /"code":"GW_ERR_BAD_REQUEST"/,
      );
      expect(answer).not.toContain('Injected');
    }
    // Refused by Node's HTTP parser: no route saw them, but each is audited as a refusal.
    expect(await onRoute()).toBe(before);
    await eventually(async () =>
      (await parserRefusals()) === refusedBefore + injected.length ? true : undefined,
    );
    expect((await as('sn-melde').call('GET', '/health/ready')).status).toBe(200);

    // What does reach the app: a hostile traceparent is replaced by the gateway's own trace, never echoed.
    for (const traceparent of [
      'garbage',
      `00-${'0'.repeat(32)}-${'0'.repeat(16)}-01`,
      '00-<script>-01',
      'x'.repeat(8000),
    ]) {
      const r = await as('sn-melde').call<Problem>('GET', `/v1/messages/${randomUUID()}`, undefined, {
        traceparent,
        'x-request-id': '../../etc/passwd',
      });
      expect(r.status).toBe(404);
      expect(String(r.headers.traceparent)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      expect(String(r.headers.traceparent)).not.toBe(traceparent);
      expect(r.body.requestId).not.toContain('..');
    }
  });

  /** Headers at once, then the body one byte every 500 ms: the server must end it, not wait forever. */
  function slowLorisBody(): Promise<{ status: number; ms: number; sent: number; answer: string }> {
    const url = new URL(t.gateway.url);
    return new Promise((resolve, reject) => {
      const started = Date.now();
      let sent = 0;
      let answer = '';
      const socket = connectAsSnMelde();
      const body = rueckmeldung().body;
      let timer: NodeJS.Timeout | undefined;
      socket.once('secureConnect', () => {
        socket.write(
          `POST /v1/systems/sn-melde/messages HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
        );
        timer = setInterval(() => {
          if (sent < body.length && socket.writable) socket.write(body[sent++]!);
        }, 500);
      });
      socket.on('data', (d) => (answer += d));
      const done = () => {
        clearInterval(timer);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
        resolve({ status, ms: Date.now() - started, sent, answer });
      };
      socket.on('end', done);
      socket.on('close', done);
      socket.on('error', (e) => (answer ? done() : reject(e)));
      setTimeout(() => socket.destroy(), 120_000).unref();
    });
  }
});
