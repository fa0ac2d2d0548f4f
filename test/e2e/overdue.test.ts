/**
 * Answer deadlines end to end with a controllable clock: a Rückmeldung (0201) is answered by a 0203
 * within three working days of the receiving system's Land. Across Christmas (a weekend and two
 * public holidays) and Buß- und Bettag (a holiday in Sachsen only), overdue cases appear in
 * GET /v1/operations/overdue (operators), in gateway_overdue_answers, and trigger one signed
 * reminder callback each; an answer closes the case. A reminder claimed by a process that died
 * before it was on the bus is sent once the claim expires.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, startGateway } from '../../gateway/app.ts';
import type { CallbackEvent } from '../../gateway/callbacks/callback-event.ts';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { loadConfig, REPO_ROOT } from '../../gateway/config/load.ts';
import { SqliteOverdueCaseStore } from '../../gateway/deadlines/overdue-cases.ts';
import { auswertung, rueckmeldung } from '../support/fixtures.ts';
import { contractsWith, eventually, TEST_PASSPHRASE, tempDir } from '../support/gateway.ts';
import { type PushReceiver, startCallbackReceiver } from '../support/push-receiver.ts';

const SECRET_ENV = 'GW_TEST_OVERDUE_CALLBACK_SECRET';
const SECRET = 'the sn-melde reminder secret, thirty-two bytes or more';

interface OverdueList {
  now: string;
  count: number;
  cases: {
    messageId: string;
    receiverSystem: string;
    land: string;
    deadline: string;
    daysOverdue: number;
    remindedAt: string | null;
  }[];
}

/** A 0201 from Halle (st-melde) to Leipzig (sn-melde), with a fresh id. */
function rueckmeldungFromHalle(): { id: string; body: string } {
  const id = randomUUID();
  const body = readFileSync(
    path.join(REPO_ROOT, 'adapters/st-melde/fixtures/0201-umzug-leipzig-halle.native.xml'),
    'utf8',
  ).replace(/<VorgangsID>[^<]*</, `<VorgangsID>${id}<`);
  return { id, body };
}

describe('answer deadlines and overdue answers', () => {
  let clock = new Date('2026-11-17T09:00:00.000Z');
  let gateway: Gateway;
  let dataDir: string;
  let reminders: PushReceiver;
  const received: { event: CallbackEvent; ok: boolean }[] = [];
  const clients = new Map<string, SystemClient>();
  let operatorToken: string;
  let scopedToken: string;

  const client = (id: string | null) => {
    const key = id ?? '';
    if (!clients.has(key)) clients.set(key, SystemClient.forSystem(gateway.url, dataDir, id));
    return clients.get(key)!;
  };
  const overdue = async (token = operatorToken) =>
    client(null).call<OverdueList>('GET', '/v1/operations/overdue', undefined, {
      authorization: `Bearer ${token}`,
    });
  const reminderFor = (id: string) =>
    received.filter((r) => r.event.messageId === id && r.event.status === 'overdue');

  async function deliver(systemId: string, body: string, contentType: string, id: string, to: string) {
    const sent = await client(systemId).send(systemId, body, contentType);
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    await eventually(
      async () => ((await gateway.followUps.overdue.get(id)) ? true : undefined),
      15_000,
      `the case of ${id} opened on delivery to ${to}`,
    );
  }

  beforeAll(async () => {
    dataDir = tempDir('overdue');
    reminders = await startCallbackReceiver(dataDir, SECRET, (event, ok) => received.push({ event, ok }));
    process.env[SECRET_ENV] = SECRET;
    const contractsDir = contractsWith((systems) =>
      systems.map((s) =>
        s.id === 'sn-melde' || s.id === 'st-melde'
          ? { ...s, callback: { url: reminders.url, secretEnv: SECRET_ENV } }
          : s,
      ),
    );
    const config = loadConfig({
      GATEWAY_DATA_DIR: dataDir,
      GATEWAY_CONTRACTS_DIR: contractsDir,
      GATEWAY_PORT: '0',
      GATEWAY_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      GATEWAY_REDELIVERY_DELAY_MS: '200',
    });
    gateway = await startGateway(config, { now: () => clock });
    const issue = async (scope: string) =>
      (
        await gateway.tokens.issue({
          role: 'operator',
          scope,
          name: 'Leitstand',
          lifetimeMs: 3_600_000,
          createdBy: 'test',
        })
      ).token;
    operatorToken = await issue('*');
    scopedToken = await issue('system:th-melde');
  });
  afterAll(async () => {
    await Promise.all([...clients.values()].map((c) => c.close()));
    await gateway?.stop();
    await reminders?.close();
    rmSync(dataDir, { recursive: true, force: true });
    delete process.env[SECRET_ENV];
  });

  it("counts the receiver's Land: Buß- und Bettag is a holiday in Sachsen, not in Sachsen-Anhalt", async () => {
    // Tuesday 17 November 2026. To Leipzig (SN): 18th holiday, then 19, 20, 23 → due Monday the 23rd.
    const toSachsen = rueckmeldungFromHalle();
    await deliver('st-melde', toSachsen.body, 'application/xml', toSachsen.id, 'sn-melde');
    // To Magdeburg (ST) on the same day: 18, 19, 20 → due Friday the 20th.
    const toSachsenAnhalt = rueckmeldung();
    await deliver('sn-melde', toSachsenAnhalt.body, 'application/json', toSachsenAnhalt.id, 'st-melde');
    expect(await gateway.followUps.overdue.get(toSachsen.id)).toMatchObject({
      land: 'SN',
      deadline: '2026-11-23',
    });
    expect(await gateway.followUps.overdue.get(toSachsenAnhalt.id)).toMatchObject({
      land: 'ST',
      deadline: '2026-11-20',
    });

    clock = new Date('2026-11-21T10:00:00.000Z'); // Saturday: only the ST case is overdue
    // A scrape alone brings the gauge up to date (scrape hook), per receiving system.
    const scraped = (
      await client(null).call<string>('GET', '/metrics', undefined, {
        authorization: `Bearer ${operatorToken}`,
      })
    ).body;
    expect(scraped).toMatch(/gateway_overdue_answers\{system="st-melde"\} 1\b/);
    expect(scraped).toMatch(/gateway_overdue_answers\{system="sn-melde"\} 0\b/);
    let list = await overdue();
    expect(list.status).toBe(200);
    expect(list.body.cases.map((c) => c.messageId)).toEqual([toSachsenAnhalt.id]);
    expect(list.body.cases[0]).toMatchObject({
      receiverSystem: 'st-melde',
      deadline: '2026-11-20',
      daysOverdue: 1,
    });

    clock = new Date('2026-11-24T08:00:00.000Z'); // Tuesday: both
    list = await overdue();
    expect(list.body.cases.map((c) => c.messageId).sort()).toEqual([toSachsen.id, toSachsenAnhalt.id].sort());

    // Each sender got one reminder, signed; answering closes the case (late, but answered).
    await eventually(async () =>
      reminderFor(toSachsen.id).length && reminderFor(toSachsenAnhalt.id).length ? true : undefined,
    );
    expect(reminderFor(toSachsenAnhalt.id)[0]).toMatchObject({
      ok: true,
      event: { type: 'message.overdue', deadline: '2026-11-20', receiverSystem: 'st-melde' },
    });
    const answer = auswertung(toSachsenAnhalt.id);
    expect((await client('st-melde').send('st-melde', answer.body, 'application/xml')).status).toBe(202);
    list = await overdue();
    expect(list.body.cases.map((c) => c.messageId)).toEqual([toSachsen.id]);
  });

  it('across Christmas: overdue from the first minute after the deadline day in Berlin, one reminder, answered closes', async () => {
    // Wednesday 23 December 2026 to Magdeburg (ST): 24 (1), 25–27 holiday and weekend, 28 (2), 29 (3).
    clock = new Date('2026-12-23T09:00:00.000Z');
    const late = rueckmeldung();
    await deliver('sn-melde', late.body, 'application/json', late.id, 'st-melde');
    const inTime = rueckmeldung();
    await deliver('sn-melde', inTime.body, 'application/json', inTime.id, 'st-melde');
    expect((await gateway.followUps.overdue.get(late.id))?.deadline).toBe('2026-12-29');

    // Answered on Monday the 28th.
    clock = new Date('2026-12-28T11:00:00.000Z');
    const answer = auswertung(inTime.id);
    expect((await client('st-melde').send('st-melde', answer.body, 'application/xml')).status).toBe(202);
    // The answer's `accepted` entry is handled in the background, in order: wait for it.
    await gateway.followUps.overdue.idle();
    expect((await gateway.followUps.overdue.get(inTime.id))?.answerId).toBe(answer.id);

    const ids = async () => (await overdue()).body.cases.map((c) => c.messageId);
    clock = new Date('2026-12-29T22:59:59.000Z'); // 23:59:59 in Berlin, still the 29th
    expect(await ids()).not.toContain(late.id);
    clock = new Date('2026-12-29T23:00:00.000Z'); // midnight in Berlin: the 30th
    const list = await overdue();
    expect(list.body.cases.find((c) => c.messageId === late.id)).toMatchObject({
      deadline: '2026-12-29',
      daysOverdue: 1,
      land: 'ST',
      remindedAt: '2026-12-29T23:00:00.000Z',
    });
    expect(list.body.cases.map((c) => c.messageId)).not.toContain(inTime.id);

    // The gauge, per receiving system.
    const metrics = await client(null).call<string>('GET', '/metrics', undefined, {
      authorization: `Bearer ${operatorToken}`,
    });
    expect(metrics.body).toMatch(/gateway_overdue_answers\{system="st-melde"\} 1\b/);

    // One reminder per case, however often the list is read.
    await eventually(async () => (reminderFor(late.id).length ? true : undefined));
    clock = new Date('2027-01-04T09:00:00.000Z');
    await overdue();
    await overdue();
    await new Promise((r) => setTimeout(r, 300));
    expect(reminderFor(late.id)).toHaveLength(1);
    expect(reminderFor(late.id)[0]!.ok).toBe(true);
    expect(reminderFor(inTime.id)).toEqual([]);

    // Operators only, within their scope.
    expect((await overdue(scopedToken)).body.cases).toEqual([]);
    const bySystem = await client('sn-melde').call('GET', '/v1/operations/overdue');
    expect(bySystem.status).toBe(403);

    // The late answer closes the case; the gauge follows.
    const lateAnswer = auswertung(late.id);
    expect((await client('st-melde').send('st-melde', lateAnswer.body, 'application/xml')).status).toBe(202);
    expect(await ids()).not.toContain(late.id);
    const after = await client(null).call<string>('GET', '/metrics', undefined, {
      authorization: `Bearer ${operatorToken}`,
    });
    expect(after.body).toMatch(/gateway_overdue_answers\{system="st-melde"\} 0\b/);
  });

  it('a reminder whose claimer died before publishing it is sent once the claim expires', async () => {
    clock = new Date('2027-01-11T09:00:00.000Z');
    const msg = rueckmeldung();
    await deliver('sn-melde', msg.body, 'application/json', msg.id, 'st-melde');
    // Another process on this data directory claimed the reminder and died before publishing it.
    const crashed = new SqliteOverdueCaseStore(path.join(dataDir, 'deadlines.sqlite'));
    try {
      expect(
        await crashed.claimReminder(msg.id, '2027-01-20T09:00:00.000Z', '2027-01-20T09:05:00.000Z'),
      ).toBe(true);
    } finally {
      await crashed.close();
    }
    const listed = async () => (await overdue()).body.cases.find((c) => c.messageId === msg.id);
    clock = new Date('2027-01-20T09:04:00.000Z'); // its claim is still live
    expect(await listed()).toMatchObject({ remindedAt: null });
    clock = new Date('2027-01-20T09:05:00.000Z');
    expect(await listed()).toMatchObject({ remindedAt: '2027-01-20T09:05:00.000Z' });
    await eventually(async () => (reminderFor(msg.id).length ? true : undefined));
    expect(reminderFor(msg.id)).toHaveLength(1);
    // Sent by the check at 09:05, none before: the event carries the time of the check that sent it.
    expect(reminderFor(msg.id)[0]).toMatchObject({
      ok: true,
      event: { type: 'message.overdue', time: '2027-01-20T09:05:00.000Z' },
    });
  });
});
