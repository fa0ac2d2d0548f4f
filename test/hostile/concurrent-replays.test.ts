/**
 * Hostile input, replayed message ids while the original is still in the ingress (the corpus in
 * corpus.test.ts replays ids only after the original was accepted, one request at a time). The
 * original's publish is held at a gate, so that every replay meets it in flight, deterministically:
 * an exact replay of the captured request, the same id with changed content, the same id through the
 * other door, and a batch that shares one id with the original. None is answered while the original
 * is in flight; once it is accepted, each is refused with 409 GW_ERR_DUPLICATE_MESSAGE, audited as
 * `rejected`, having published nothing. A batch is claimed all or none: its other ids are free
 * afterwards. An original that fails (503) frees its id: a request waiting for it goes ahead.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClientResponse } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import type { BusRecord } from '../../gateway/ports/bus.ts';
import { parseXmlSafely } from '../../gateway/xml/safe-parse.ts';
import { catalogue } from '../../standards/index.ts';
import { fromElement, toCanonicalXml, validateMessage } from '../../standards/xoev/xml-codec.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { fixture } from './support/broken-payloads.ts';

interface Problem {
  type: string;
  status: number;
  code: string;
}

const R0201 = catalogue.messageType('xmeld', '25.11', 'rueckmeldung.anmeldunginland.0201')!;

/** The canonical XMeld document of sn-melde's fixture, carrying `id`. */
function standardDocument(id: string): string {
  const xml = fixture('sn-melde', '0201-umzug-magdeburg-dresden.standard.xml').toString('utf8');
  const m = validateMessage(R0201, fromElement(R0201, parseXmlSafely(xml).documentElement!));
  m['nachrichtenkopf.g2g']['identifikation.nachricht'].nachrichtenUUID = id;
  return toCanonicalXml(R0201, m);
}

/** The Thüringen CSV batch (three Rückmeldungen) carrying the three `ids`. */
function thueringenBatch(ids: [string, string, string]): Buffer {
  const file = path.join(
    REPO_ROOT,
    'adapters/th-melde/fixtures/0201-nachtlauf-erfurt-jena-weimar.native.csv',
  );
  let text = iconv.decode(readFileSync(file), 'win1252');
  ['41', '42', '43'].forEach((end, i) => {
    text = text.replace(new RegExp(`6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A${end}`, 'gi'), ids[i]!);
  });
  return iconv.encode(text, 'win1252');
}

/**
 * A gate in front of the bus: while shut, the first publish to a deliver topic (the original's) waits
 * at it; any other passes (so that on a gateway without the guard a replay is published, not stuck).
 */
class PublishGate {
  private shut: Promise<void> | undefined;
  private opened: (() => void) | undefined;
  private arrived: (() => void) | undefined;
  private taken = false;
  private fail = false;
  /** Resolves when the held publish reached the gate. */
  reached: Promise<void> = Promise.resolve();

  close(): void {
    this.taken = false;
    this.shut = new Promise((resolve) => (this.opened = resolve));
    this.reached = new Promise((resolve) => (this.arrived = resolve));
  }

  open(options: { fail?: boolean } = {}): void {
    this.fail = options.fail ?? false;
    this.opened?.();
    this.shut = undefined;
  }

  async pass(records: BusRecord[]): Promise<void> {
    const shut = this.shut;
    if (!shut || this.taken || !records.some((r) => r.topic.includes('.deliver.'))) return;
    this.taken = true;
    this.arrived?.();
    await shut;
    if (this.fail) throw new Error('the test bus refuses this publish');
  }
}

describe('hostile input: replayed message ids while the original is in flight', () => {
  let t: TestGateway;
  const gate = new PublishGate();

  beforeAll(async () => {
    t = await startTestGateway();
    const bus = t.gateway.bus;
    const publish = bus.publish.bind(bus);
    bus.publish = async (records) => {
      await gate.pass(records);
      return publish(records);
    };
  });
  afterEach(() => gate.open());
  afterAll(async () => t?.stop());

  const sn = () => t.client('sn-melde');
  const sendNative = (body: string) => sn().send('sn-melde', body, 'application/json');
  const sendStandard = (xml: string) =>
    sn().call('POST', '/v1/messages', xml, { 'content-type': 'application/xml' });
  const sendBatch = (ids: [string, string, string]) =>
    t.client('th-melde').send('th-melde', thueringenBatch(ids), 'text/csv');

  async function count(kind: 'queued' | 'accepted' | 'rejected', messageId?: string): Promise<number> {
    return (await t.gateway.auditStore.query({ kind, limit: 1_000_000, ...(messageId ? { messageId } : {}) }))
      .length;
  }

  /**
   * Sends `original` and holds its publish at the gate; sends the `replays` while it waits there.
   * None of them may be answered (let alone published) while the original is in flight: its answer
   * decides theirs. Then the gate opens (the publish succeeds or, with `fail`, is refused).
   */
  async function whileInFlight(
    ids: string[],
    original: () => Promise<ClientResponse<unknown>>,
    replays: (() => Promise<ClientResponse<unknown>>)[],
    outcome: { fail?: boolean } = {},
  ): Promise<{ original: ClientResponse<unknown>; replays: ClientResponse<unknown>[] }> {
    gate.close();
    const first = original();
    await gate.reached;
    const answered: number[] = [];
    const pending = replays.map((replay, i) =>
      replay().then((r) => {
        answered.push(i);
        return r;
      }),
    );
    // Long enough for a replay to be answered (or published) on loopback, were it not held back.
    await new Promise((r) => setTimeout(r, 750));
    expect(answered, 'replays answered while the original was in flight').toEqual([]);
    for (const id of ids) expect(await count('queued', id), `${id} queued`).toBe(0);
    gate.open(outcome);
    return { original: await first, replays: await Promise.all(pending) };
  }

  async function expectRefusedAsDuplicates(responses: ClientResponse<unknown>[]): Promise<void> {
    for (const r of responses) {
      expect(r.status, JSON.stringify(r.body)).toBe(409);
      expect(String(r.headers['content-type'])).toContain('application/problem+json');
      expect(r.body as Problem).toMatchObject({
        code: 'GW_ERR_DUPLICATE_MESSAGE',
        type: 'urn:laender-gateway:problem:GW_ERR_DUPLICATE_MESSAGE',
      });
    }
  }

  it('refuses replays of a message in flight, through either door and with changed content', async () => {
    const msg = rueckmeldung();
    const { original, replays } = await whileInFlight([msg.id], () => sendNative(msg.body), [
      () => sendNative(msg.body),
      () => sendNative(msg.body.replace('Schäfer-Nowak', 'Mallory')),
      () => sendStandard(standardDocument(msg.id)),
    ]);
    expect(original.status).toBe(202);
    await expectRefusedAsDuplicates(replays);
    expect(await count('accepted', msg.id)).toBe(1);
    expect(await count('queued', msg.id)).toBe(1);
    const refusals = await t.gateway.auditStore.query({ kind: 'rejected', messageId: msg.id });
    expect(refusals.map((e) => e.detail.code)).toEqual(Array(3).fill('GW_ERR_DUPLICATE_MESSAGE'));
    // Accepted: the store refuses the id from now on.
    expect((await sendNative(msg.body)).status).toBe(409);
  });

  it('refuses a batch sharing one id with a batch in flight as a whole, and leaves its other ids free', async () => {
    const [a, b, shared, d, e] = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const { original, replays } = await whileInFlight([a, b, shared, d, e], () => sendBatch([a, b, shared]), [
      () => sendBatch([d, e, shared]),
    ]);
    expect(original.status).toBe(202);
    await expectRefusedAsDuplicates(replays);
    // Refused as a whole: the refusal is in each message's trail, and none of them was accepted.
    for (const id of [d, e]) {
      expect(await count('accepted', id)).toBe(0);
      expect(await count('rejected', id)).toBe(1);
    }
    for (const id of [a, b, shared]) expect(await count('accepted', id)).toBe(1);
    // The refused batch claimed none of its ids: d and e are accepted with a fresh third one.
    expect((await sendBatch([d, e, randomUUID()])).status).toBe(202);
    for (const id of [d, e]) expect(await count('accepted', id)).toBe(1);
  });

  it('frees the id of an original that failed (503): a request waiting for it is accepted, not told 409', async () => {
    const msg = rueckmeldung();
    const { original, replays } = await whileInFlight(
      [msg.id],
      () => sendNative(msg.body),
      [() => sendNative(msg.body)],
      {
        fail: true,
      },
    );
    expect(original.status).toBe(503);
    expect((original.body as Problem).code).toBe('GW_ERR_BUS_UNAVAILABLE');
    // 409 would say "already accepted": a sender drops a message it is told that of.
    expect(replays[0]!.status, JSON.stringify(replays[0]!.body)).toBe(202);
    expect(await count('accepted', msg.id)).toBe(1);
    expect(await count('queued', msg.id)).toBe(1);
    // And the sender's own retry after the 503 is the replay now: refused, the message is accepted.
    expect((await sendNative(msg.body)).status).toBe(409);
  });
});

describe('hostile input: a replay waiting for an original that hangs in flight', () => {
  /** The configured bound of the wait (GATEWAY_MESSAGE_ID_WAIT_MS), short for the test. */
  const WAIT_MS = 400;
  let t: TestGateway;
  const gate = new PublishGate();

  beforeAll(async () => {
    t = await startTestGateway({ env: { GATEWAY_MESSAGE_ID_WAIT_MS: String(WAIT_MS) } });
    const bus = t.gateway.bus;
    const publish = bus.publish.bind(bus);
    bus.publish = async (records) => {
      await gate.pass(records);
      return publish(records);
    };
  });
  afterEach(() => gate.open());
  afterAll(async () => t?.stop());

  const sendNative = (body: string) => t.client('sn-melde').send('sn-melde', body, 'application/json');

  it('answers the replay 503 GW_ERR_MESSAGE_ID_IN_FLIGHT with Retry-After at the bound, audited, nothing published; the original goes on', async () => {
    const msg = rueckmeldung();
    gate.close();
    const original = sendNative(msg.body);
    await gate.reached;
    const started = Date.now();
    // Not answered at all would hold the sender's connection as long as the original hangs.
    const replay = await Promise.race([
      sendNative(msg.body),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), WAIT_MS + 4_000)),
    ]);
    const waited = Date.now() - started;
    if (!replay) throw new Error('the replay was not answered while the original hung');
    expect(replay.status, JSON.stringify(replay.body)).toBe(503);
    expect(replay.body as Problem).toMatchObject({ code: 'GW_ERR_MESSAGE_ID_IN_FLIGHT', status: 503 });
    expect(Number(replay.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(waited).toBeGreaterThanOrEqual(WAIT_MS - 50);
    const refusals = await t.gateway.auditStore.query({ kind: 'rejected', messageId: msg.id });
    expect(refusals.map((e) => e.detail.code)).toEqual(['GW_ERR_MESSAGE_ID_IN_FLIGHT']);
    expect(await t.gateway.auditStore.query({ kind: 'queued', messageId: msg.id })).toHaveLength(0);
    gate.open();
    expect((await original).status).toBe(202);
    expect(await t.gateway.auditStore.query({ kind: 'accepted', messageId: msg.id })).toHaveLength(1);
    expect(await t.gateway.auditStore.query({ kind: 'queued', messageId: msg.id })).toHaveLength(1);
    // The sender's retry after the 503: the original was accepted meanwhile.
    expect((await sendNative(msg.body)).status).toBe(409);
  });
});
