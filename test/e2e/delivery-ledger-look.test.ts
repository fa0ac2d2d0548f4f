/**
 * The delivery stage reads the push ledger along with the case view, for the messageId in the
 * record's header. That header is not sealed: the duplicate check must still be about the sealed
 * nachrichtenUUID. Two forged records on the deliver topic: a pushed message's bytes under a fresh
 * header id (must not be pushed again), and a never-pushed message's bytes under a pushed one's
 * header id (must be pushed).
 */

import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverTopic, deliveryGroup, HEADER } from '../../gateway/bus/topics.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  eventually,
  pushContracts,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { type FlakyReceiver, ORDER_TEST_ENV, startFlakyReceiver } from './delivery-order-scenario.ts';

describe('the duplicate check of a push is about the sealed message, not the record header', () => {
  let t: TestGateway | undefined;
  let receiver: FlakyReceiver;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = tempDir('ledger-look');
    receiver = await startFlakyReceiver(dataDir);
    const contractsDir = pushContracts({ 'st-melde': receiver.url });
    t = await startTestGateway({ dataDir, contractsDir, env: ORDER_TEST_ENV });
  });
  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
  });

  /** The deliver-topic record the ingress published for `messageId`. */
  const recordOf = (messageId: string) => {
    const topic = deliverTopic(t!.gateway.config.kafka.topicPrefix, 'st-melde');
    const db = new Database(path.join(dataDir, 'bus.sqlite'), { readonly: true });
    try {
      const rows = db.prepare('SELECT key, value, headers FROM records WHERE topic = ?').all(topic) as {
        key: string;
        value: Buffer;
        headers: string;
      }[];
      const row = rows.find((r) => JSON.parse(r.headers)[HEADER.messageId] === messageId);
      if (!row) throw new Error(`no deliver record of ${messageId}`);
      return {
        topic,
        key: row.key,
        value: row.value,
        headers: JSON.parse(row.headers) as Record<string, string>,
      };
    } finally {
      db.close();
    }
  };
  const auditOf = async (messageId: string, kind: 'delivered' | 'dead-lettered') =>
    (await t!.gateway.auditStore.query({ messageId, kind })).length;

  it('suppresses a pushed message under a forged header id, and pushes a new one under a pushed id', async () => {
    const sn = t!.client('sn-melde');
    const pushed = rueckmeldung();
    const fresh = rueckmeldung();
    receiver.rejected.add(fresh.id); // dead-lettered: sealed and on the bus, never pushed
    for (const m of [pushed, fresh])
      expect((await sn.send('sn-melde', m.body, 'application/json')).status).toBe(202);
    await eventually(
      async () =>
        (await auditOf(pushed.id, 'delivered')) === 1 && (await auditOf(fresh.id, 'dead-lettered')) === 1
          ? true
          : undefined,
      30_000,
      'one pushed, one dead-lettered',
    );
    receiver.rejected.delete(fresh.id);

    const forged = (of: string, headerId: string) => {
      const r = recordOf(of);
      return { ...r, headers: { ...r.headers, [HEADER.messageId]: headerId } };
    };
    await t!.gateway.bus.publish([forged(pushed.id, crypto.randomUUID()), forged(fresh.id, pushed.id)]);

    await eventually(
      async () => (receiver.accepted.some((r) => r.messageId === fresh.id) ? true : undefined),
      30_000,
      'the never-pushed message pushed despite the header naming a pushed one',
    );
    // Both forged records handled and committed, whichever partition each is in.
    const prefix = t!.gateway.config.kafka.topicPrefix;
    await eventually(
      async () => {
        const lag = await t!.gateway.bus.lag(
          deliveryGroup(prefix, 'st-melde'),
          deliverTopic(prefix, 'st-melde'),
        );
        return lag.every((p) => p.lag === 0) ? true : undefined;
      },
      30_000,
      'the forged records handled',
    );
    expect(receiver.accepted.filter((r) => r.messageId === pushed.id)).toHaveLength(1);
    expect(receiver.accepted.filter((r) => r.messageId === fresh.id)).toHaveLength(1);
  });
});
