/**
 * After a push the delivery stage writes the ledger row and the audit events side by side
 * (gateway/pipeline/delivery.ts). An append that fails must fail the record only once the ledger
 * has the push: the record's redelivery then finds the row and writes the missing events, instead of
 * pushing the message a second time. Here the append of the `delivered` events fails once (a disk
 * error, injected into the store) while the ledger row takes longer to write than the record takes
 * to come back (redelivery after 100 ms, the row after 1 s): failing the record at once would push
 * the message twice.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverTopic, deliveryGroup } from '../../gateway/bus/topics.ts';
import type { AuditEventInput } from '../../gateway/ports/audit-store.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  eventually,
  pushContracts,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { type FlakyReceiver, ORDER_TEST_ENV, startFlakyReceiver } from './delivery-order-scenario.ts';

const LEDGER_DELAY_MS = 1_000;

describe('an audit append that fails after a push', () => {
  let t: TestGateway | undefined;
  let receiver: FlakyReceiver;

  beforeAll(async () => {
    const dataDir = tempDir('delivery-audit-failure');
    receiver = await startFlakyReceiver(dataDir);
    t = await startTestGateway({
      dataDir,
      contractsDir: pushContracts({ 'st-melde': receiver.url }),
      env: { ...ORDER_TEST_ENV, GATEWAY_REDELIVERY_DELAY_MS: '100' },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
  });

  it('fails the record once the ledger has the push: the redelivery audits it and pushes nothing again', async () => {
    const { auditStore, mailbox, bus, config } = t!.gateway;
    const message = rueckmeldung();
    const failures: string[] = [];
    const append = auditStore.append.bind(auditStore);
    auditStore.append = (events: AuditEventInput[], chain?: string) => {
      const delivered = events.some((e) => e.kind === 'delivered' && e.messageId === message.id);
      if (delivered && failures.length === 0) {
        failures.push(chain ?? 'main');
        return Promise.reject(new Error('injected: the audit file could not be written'));
      }
      return append(events, chain);
    };
    const recordPushed = mailbox.recordPushed.bind(mailbox);
    mailbox.recordPushed = async (systemId: string, messageId: string) => {
      await new Promise((resolve) => setTimeout(resolve, LEDGER_DELAY_MS));
      return recordPushed(systemId, messageId);
    };

    const sn = t!.client('sn-melde');
    expect((await sn.send('sn-melde', message.body, 'application/json')).status).toBe(202);
    const delivered = async () => auditStore.query({ messageId: message.id, kind: 'delivered' });
    await eventually(
      async () => ((await delivered()).length === 1 ? true : undefined),
      30_000,
      'the delivered event, written when the record came again',
    );
    expect(failures).toHaveLength(1);
    const prefix = config.kafka.topicPrefix;
    await eventually(
      async () => {
        const lag = await bus.lag(deliveryGroup(prefix, 'st-melde'), deliverTopic(prefix, 'st-melde'));
        return lag.every((p) => p.lag === 0) ? true : undefined;
      },
      30_000,
      'the record committed',
    );
    expect(receiver.log.filter((r) => r.messageId === message.id)).toEqual([
      { messageId: message.id, status: 204 },
    ]);
    expect(await delivered()).toHaveLength(1);
    expect(await mailbox.wasDelivered('st-melde', message.id)).toBe(true);
  });
});
