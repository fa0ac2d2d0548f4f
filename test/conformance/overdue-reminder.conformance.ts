/**
 * Overdue reminders are at least once, on each OverdueCaseStore: a real OverdueWatcher and a real
 * CallbackDispatcher on a real SqliteBus. A process that claimed a reminder and died before the
 * event was on the bus, or whose publish failed, leaves the case unreminded; once its claim has
 * expired the next check — another process on the same storage — puts the reminder on the bus. A
 * live claim is left to its holder, and a reminder on the bus is not sent again.
 */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { browseTopic } from '../../gateway/bus/browse.ts';
import { SqliteBus } from '../../gateway/bus/sqlite-bus.ts';
import { callbackTopic } from '../../gateway/bus/topics.ts';
import { CallbackDispatcher } from '../../gateway/callbacks/callback-dispatcher.ts';
import { parseCallbackEvent } from '../../gateway/callbacks/callback-event.ts';
import { OverdueWatcher } from '../../gateway/deadlines/overdue-watcher.ts';
import { Contracts } from '../../gateway/directory/contracts.ts';
import { Directory } from '../../gateway/directory/directory.ts';
import { createLogger } from '../../gateway/log/logger.ts';
import type { Bus } from '../../gateway/ports/bus.ts';
import type { OpenCase, OverdueCaseStore } from '../../gateway/ports/overdue-case-store.ts';
import { contractsWith, eventually, tempDir } from '../support/gateway.ts';
import type { OverdueCaseStoreFixture } from './overdue-case-store.conformance.ts';

const PREFIX = 'reminder-test';
const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const contractsDir = contractsWith((systems) =>
  systems.map((s) =>
    s.id === 'sn-melde'
      ? { ...s, callback: { url: 'https://127.0.0.1:9/', secretEnv: 'GW_TEST_UNUSED_SECRET' } }
      : s,
  ),
);
const directory = Directory.fromFile(path.join(contractsDir, 'directory.yaml'));
const contracts = Contracts.fromDirectory(contractsDir);

let counter = 0;
function overdueCase(): OpenCase {
  return {
    messageId: `c0000000-0000-4000-8000-${String(++counter).padStart(12, '0')}`,
    messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
    senderSystem: 'sn-melde',
    receiverSystem: 'st-melde',
    land: 'ST',
    contract: 'xmeld-rueckmeldung',
    workingDays: 3,
    answeredBy: ['rueckmeldung.auswertung.0203'],
    deliveredAt: '2026-12-23T09:00:00.000Z',
    deadline: '2026-12-29',
  };
}

/** A dispatcher that only publishes (nobody subscribes here: what counts is what reached the bus). */
function dispatcherOn(bus: Bus): CallbackDispatcher {
  return new CallbackDispatcher({
    bus,
    topicPrefix: PREFIX,
    directory: () => directory,
    contractsDir,
    tls: { certPem: '', keyPem: '', caPems: [] },
    timeoutMs: 1000,
    logger,
  });
}

export function runOverdueReminderConformance(
  name: string,
  factory: () => Promise<OverdueCaseStoreFixture>,
): void {
  describe(`overdue reminders at least once: ${name}`, () => {
    let fixture: OverdueCaseStoreFixture;
    let bus: SqliteBus;
    const stores: OverdueCaseStore[] = [];
    let browsed = 0;

    /** The overdue events of `messageId` on the callback topic of sn-melde. */
    const onTheBus = async (messageId: string) =>
      (
        await browseTopic(bus, {
          topic: callbackTopic(PREFIX, 'sn-melde'),
          group: `${PREFIX}-browse-${++browsed}`,
          timeoutMs: 10_000,
        })
      )
        .map((r) => parseCallbackEvent(r.value))
        .filter((e) => e?.messageId === messageId && e.status === 'overdue');

    /** A watcher as a (re)started process makes it: its own store instance on the shared storage. */
    const watcher = async (callbacks: CallbackDispatcher, at: () => string) => {
      const store = await fixture.another();
      stores.push(store);
      return new OverdueWatcher({
        store,
        directory: () => directory,
        contracts: () => contracts,
        callbacks,
        logger,
        now: () => new Date(at()),
        intervalMs: 0,
      });
    };

    beforeEach(async () => {
      fixture = await factory();
      bus = new SqliteBus({ file: path.join(tempDir('reminder-bus'), 'bus.sqlite') });
    });
    afterEach(async () => {
      await bus.close();
      for (const s of stores.splice(0)) await s.close();
      await fixture.store.close();
      await fixture.cleanup();
    });

    it('a reminder whose claimer died before publishing is sent by the next process once the claim expires', async () => {
      const c = overdueCase();
      await fixture.store.open(c);
      // The first process claims the reminder and dies while publishing it: its publish never ends.
      let publishing = 0;
      const dying = {
        publish: () => {
          publishing++;
          return new Promise<void>(() => {});
        },
      } as unknown as Bus;
      const first = await watcher(dispatcherOn(dying), () => '2026-12-30T09:00:00.000Z');
      void first.check();
      await eventually(async () => (publishing > 0 ? true : undefined), 10_000, 'the dying publish');

      let clock = '2026-12-30T09:04:59.999Z';
      const next = await watcher(dispatcherOn(bus), () => clock);
      // The claim is still live: its holder may yet publish.
      await next.check();
      expect(await onTheBus(c.messageId)).toEqual([]);
      expect((await next.get(c.messageId))?.remindedAt).toBeNull();

      clock = '2026-12-30T09:05:00.000Z'; // five minutes after the claim
      const listed = await next.check();
      expect(listed.find((o) => o.messageId === c.messageId)?.remindedAt).toBe(clock);
      expect(await onTheBus(c.messageId)).toMatchObject([
        { type: 'message.overdue', deadline: '2026-12-29', receiverSystem: 'st-melde' },
      ]);
      expect((await fixture.store.get(c.messageId))?.remindedAt).toBe(clock);

      // On the bus and recorded: later checks send nothing more.
      clock = '2026-12-31T09:00:00.000Z';
      await next.check();
      expect(await onTheBus(c.messageId)).toHaveLength(1);
    });

    it('a reminder whose publish failed stays unreminded and is sent once the claim expires', async () => {
      const c = overdueCase();
      await fixture.store.open(c);
      const down = new SqliteBus({ file: path.join(tempDir('reminder-bus-down'), 'bus.sqlite') });
      await down.close();
      let clock = '2026-12-30T09:00:00.000Z';
      const failing = await watcher(dispatcherOn(down), () => clock);
      expect((await failing.check()).find((o) => o.messageId === c.messageId)?.remindedAt).toBeNull();
      expect((await fixture.store.get(c.messageId))?.remindedAt).toBeNull();

      const healthy = await watcher(dispatcherOn(bus), () => clock);
      await healthy.check();
      expect(await onTheBus(c.messageId)).toEqual([]);
      clock = '2026-12-30T09:06:00.000Z';
      await healthy.check();
      expect(await onTheBus(c.messageId)).toHaveLength(1);
      expect((await fixture.store.get(c.messageId))?.remindedAt).toBe(clock);
    });

    it('two processes checking at once put one reminder on the bus', async () => {
      const cases = Array.from({ length: 5 }, () => overdueCase());
      for (const c of cases) await fixture.store.open(c);
      const at = () => '2026-12-30T09:00:00.000Z';
      const [a, b] = [await watcher(dispatcherOn(bus), at), await watcher(dispatcherOn(bus), at)];
      await Promise.all([a.check(), b.check()]);
      for (const c of cases) {
        expect(await onTheBus(c.messageId), c.messageId).toHaveLength(1);
        expect((await fixture.store.get(c.messageId))?.remindedAt).toBe(at());
      }
    });
  });
}
