/**
 * A reloaded directory that names a new system gets that system delivery subscriptions without a
 * restart (DeliveryWorker.sync after the reload); a system removed again loses them, and its
 * records wait on the bus for it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { deliverTopic, deliveryGroup } from '../../gateway/bus/topics.ts';
import type { SystemEntry } from '../../gateway/directory/directory.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  contractsWith,
  eventually,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { type PushedRequest, type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';

describe('delivery subscriptions follow a reloaded directory', () => {
  let t: TestGateway;
  let receiver: PushReceiver;
  const received: PushedRequest[] = [];
  let directoryFile: string;
  let original: string;

  beforeAll(async () => {
    const dataDir = tempDir('reload-delivery');
    receiver = await startPushReceiver(dataDir, (request) => {
      received.push(request);
      return 204;
    });
    const contractsDir = contractsWith((systems) => systems);
    directoryFile = path.join(contractsDir, 'directory.yaml');
    original = readFileSync(directoryFile, 'utf8');
    t = await startTestGateway({ dataDir, contractsDir });
  });
  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
  });

  const applied = async () =>
    (await t.gateway.auditStore.query({ kind: 'contract-changed', limit: 1000 })).filter(
      (e) => e.detail.outcome === 'applied',
    ).length;

  it('pushes to a system added by a reload, and stops consuming for it once it is removed', async () => {
    // Magdeburg gets a system of its own (the most specific match wins), delivered by push.
    const magdeburg: SystemEntry = {
      id: 'st-magdeburg',
      title: 'Meldewesen Magdeburg',
      land: 'ST',
      adapter: 'st-melde',
      serves: ['ags:15003000'],
      delivery: { mode: 'push', url: receiver.url },
      accepts: [{ standard: 'xmeld', versions: ['25.11'] }],
    };
    const directory = YAML.parse(original) as { systems: SystemEntry[] };
    writeFileSync(directoryFile, YAML.stringify({ systems: [...directory.systems, magdeburg] }));
    await eventually(async () => ((await applied()) >= 1 ? true : undefined), 5_000, 'the reload');

    const msg = rueckmeldung(); // to ags:15003000
    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    await eventually(
      async () => (received.some((r) => r.messageId === msg.id) ? true : undefined),
      15_000,
      'the push to the new system',
    );
    const delivered = await eventually(async () => {
      const found = await t.gateway.auditStore.query({ messageId: msg.id, kind: 'delivered' });
      return found.length > 0 ? found : undefined;
    });
    expect(delivered.map((e) => e.receiverSystem)).toEqual(['st-magdeburg']);

    // Removed again: its subscriptions close, so a record on its deliver topic stays unconsumed.
    writeFileSync(directoryFile, original);
    await eventually(async () => ((await applied()) >= 2 ? true : undefined), 5_000, 'the second reload');
    const { bus, config } = t.gateway;
    const prefix = config.kafka.topicPrefix;
    const lag = async () =>
      (await bus.lag(deliveryGroup(prefix, 'st-magdeburg'), deliverTopic(prefix, 'st-magdeburg'))).reduce(
        (sum, p) => sum + p.lag,
        0,
      );
    // The subscriptions close right after the reload's audit event; give them that moment.
    await new Promise((r) => setTimeout(r, 500));
    await bus.publish([
      {
        topic: deliverTopic(prefix, 'st-magdeburg'),
        key: 'waiting',
        value: Buffer.from('<not-consumed/>'),
        headers: {},
      },
    ]);
    // A subscription still open is handed the record at its publish (committed within ~30 ms when
    // measured); one whose handler threw would have it again after the redelivery delay the test
    // gateway is given (GATEWAY_REDELIVERY_DELAY_MS, 200 ms): three of those.
    await new Promise((r) => setTimeout(r, 3 * t.gateway.config.delivery.redeliveryDelayMs));
    expect(await lag()).toBe(1);
    expect(received.filter((r) => r.messageId === msg.id)).toHaveLength(1);
  });
});
