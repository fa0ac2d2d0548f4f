/**
 * Issue 7: the bus is the commit point and the delivery stage's audit writer is idempotent. After a
 * run with refusals (records parked in the retry topic with case tickets), the delivery groups'
 * committed offsets are rewound to the beginning on the SQLite bus and the gateway restarts: every
 * record of the deliver and retry topics is consumed again — and no audit event is written twice,
 * nothing is pushed or put into an inbox twice. Then once more with the case tickets wiped (as if
 * pruned), so that the records are handled again: the audit idempotency keys alone keep the log
 * free of repeats.
 */

import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverTopic, deliveryGroup, retryGroup, retryTopic } from '../../gateway/bus/topics.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  eventually,
  pushContracts,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { type FlakyReceiver, ORDER_TEST_ENV, startFlakyReceiver } from './delivery-order-scenario.ts';

interface InboxList {
  items: { messageId: string }[];
}

describe('replaying the delivery partitions writes nothing twice (SQLite bus)', () => {
  let t: TestGateway | undefined;
  let receiver: FlakyReceiver;
  let dataDir: string;
  let contractsDir: string;

  beforeAll(async () => {
    dataDir = tempDir('replay');
    receiver = await startFlakyReceiver(dataDir);
    contractsDir = pushContracts({ 'st-melde': receiver.url });
  });
  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
  });

  const start = () => startTestGateway({ dataDir, contractsDir, env: ORDER_TEST_ENV });
  const lagOf = async (gw: TestGateway) => {
    const { bus, config } = gw.gateway;
    const prefix = config.kafka.topicPrefix;
    let total = 0;
    for (const system of gw.gateway.routing.directory.systems.map((s) => s.id)) {
      for (const [group, topic] of [
        [deliveryGroup(prefix, system), deliverTopic(prefix, system)],
        [retryGroup(prefix, system), retryTopic(prefix, system)],
      ] as const) {
        for (const p of await bus.lag(group, topic)) total += p.lag;
      }
    }
    return total;
  };

  /** Waits until the audit log stopped growing (receipts and other follow-ups are written). */
  const quiet = async (gw: TestGateway) => {
    let last = -1;
    await eventually(
      async () => {
        await new Promise((r) => setTimeout(r, 700));
        const n = (await gw.gateway.auditStore.query({ limit: 100_000 })).length;
        if (n === last) return true;
        last = n;
        return undefined;
      },
      15_000,
      'a quiet audit log',
    );
  };

  const rewind = (alsoCaseTickets: boolean) => {
    const busDb = new Database(path.join(dataDir, 'bus.sqlite'));
    const rewound = busDb.prepare("DELETE FROM group_offsets WHERE grp LIKE '%.delivery%'").run().changes;
    busDb.close();
    expect(rewound).toBeGreaterThanOrEqual(3);
    if (alsoCaseTickets) {
      const mailboxDb = new Database(path.join(dataDir, 'mailbox.sqlite'));
      expect(mailboxDb.prepare('DELETE FROM case_tickets').run().changes).toBeGreaterThan(0);
      mailboxDb.close();
    }
  };

  it('consumes the partitions again without a second audit event, push or inbox item', async () => {
    t = await start();
    const sn = t.client('sn-melde');
    const pushed: string[] = [];
    const pulled: string[] = [];
    const caseId = crypto.randomUUID();
    for (let i = 0; i < 6; i++) {
      // Push to st-melde, all in one case; the first two are refused twice (parked with tickets).
      const push = rueckmeldung((doc) => {
        doc.vorgang.bezugId = caseId;
      });
      if (i < 2) receiver.flaky.set(push.id, 2);
      expect((await sn.send('sn-melde', push.body, 'application/json')).status).toBe(202);
      pushed.push(push.id);
      // Pull for th-melde (Jena).
      const pull = rueckmeldung((doc) => {
        doc.empfaenger.ags = '16053000';
      });
      expect((await sn.send('sn-melde', pull.body, 'application/json')).status).toBe(202);
      pulled.push(pull.id);
    }
    // One the receiver refuses for good: dead-lettered.
    const poison = rueckmeldung();
    receiver.rejected.add(poison.id);
    expect((await sn.send('sn-melde', poison.body, 'application/json')).status).toBe(202);
    const th = t.client('th-melde');
    const inbox = async () =>
      (await th.call<InboxList>('GET', '/v1/systems/th-melde/inbox?limit=100')).body.items.map(
        (i) => i.messageId,
      );
    await eventually(
      async () => {
        const got = new Set(receiver.accepted.map((r) => r.messageId));
        const items = new Set(await inbox());
        return pushed.every((id) => got.has(id)) && pulled.every((id) => items.has(id)) ? true : undefined;
      },
      30_000,
      'all pushed and pulled',
    );
    await eventually(
      async () =>
        (await t!.gateway.auditStore.query({ messageId: poison.id, kind: 'dead-lettered' })).length === 1
          ? true
          : undefined,
      10_000,
      'the dead-lettered one',
    );
    await eventually(async () => ((await lagOf(t!)) === 0 ? true : undefined), 10_000, 'no lag');
    await quiet(t);
    expect(receiver.accepted.map((r) => r.messageId)).toEqual(pushed);
    const entriesBefore = (await t.gateway.auditStore.query({ limit: 100_000 })).length;
    const inboxBefore = (await inbox()).sort();
    await t.stop();
    t = undefined;

    for (const wipeTickets of [false, true]) {
      // Rewind every delivery group to the start of its partitions.
      rewind(wipeTickets);
      t = await start();
      const replayed = t;
      // The rewound groups see everything as not yet consumed, then work it off.
      await eventually(async () => ((await lagOf(replayed)) === 0 ? true : undefined), 30_000, 'the replay');
      await quiet(replayed);

      const entriesAfter = await replayed.gateway.auditStore.query({ limit: 100_000 });
      expect(entriesAfter.length).toBe(entriesBefore);
      expect(receiver.accepted.map((r) => r.messageId)).toEqual(pushed);
      const th2 = replayed.client('th-melde');
      const inboxAfter = (await th2.call<InboxList>('GET', '/v1/systems/th-melde/inbox?limit=100')).body.items
        .map((i) => i.messageId)
        .sort();
      expect(inboxAfter).toEqual(inboxBefore);
      for (const id of [...pushed, ...pulled])
        expect(entriesAfter.filter((e) => e.messageId === id && e.kind === 'delivered')).toHaveLength(1);
      expect(
        entriesAfter.filter((e) => e.messageId === poison.id && e.kind === 'dead-lettered'),
      ).toHaveLength(1);
      await t.stop();
      t = undefined;
    }
  });
});
