/**
 * The MailboxStore conformance suite: what the SQLite and the PostgreSQL mailbox must both honour —
 * deduplication by (system, nachrichtenUUID) across pull and push, paging, acknowledgement, and two
 * store instances (two gateway processes) sharing one storage.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InboxItem, MailboxStore } from '../../gateway/ports/mailbox-store.ts';

export interface MailboxStoreFixture {
  store: MailboxStore;
  /** Another instance on the same storage, as a second gateway process would open it. */
  another: () => Promise<MailboxStore>;
  cleanup: () => Promise<void>;
}

let counter = 0;

export function inboxItem(overrides: Partial<InboxItem> = {}): InboxItem {
  const n = ++counter;
  return {
    systemId: 'st-melde',
    messageId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
    senderAuthority: 'ags:14612000',
    receiverAuthority: 'ags:15003000',
    senderSystem: 'sn-melde',
    digest: 'cd'.repeat(32),
    signedDocument: `<xmeld:rueckmeldung n="${n}">Grüße aus Dresden</xmeld:rueckmeldung>`,
    nativeContentType: 'application/xml; charset=ISO-8859-15',
    // Binary on purpose: NUL bytes and non-UTF-8 must come back byte for byte.
    nativeBody: Buffer.from([0x3c, 0x00, 0xe4, 0xff, 0x0a, n & 0xff]),
    createdAt: new Date(Date.UTC(2025, 5, 1) + n).toISOString(),
    ...overrides,
  };
}

export function runMailboxStoreConformance(name: string, factory: () => Promise<MailboxStoreFixture>): void {
  describe(`MailboxStore conformance: ${name}`, () => {
    let fixture: MailboxStoreFixture;
    let store: MailboxStore;
    const others: MailboxStore[] = [];

    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
    });

    afterEach(async () => {
      for (const other of others.splice(0)) await other.close();
      await store.close();
      await fixture.cleanup();
    });

    const another = async () => {
      const other = await fixture.another();
      others.push(other);
      return other;
    };

    it('has a kind', () => {
      expect(store.kind.length).toBeGreaterThan(0);
    });

    it('puts an item once per system and message id, byte for byte', async () => {
      const item = inboxItem();
      expect(await store.wasDelivered(item.systemId, item.messageId)).toBe(false);
      expect(await store.putIfNew(item)).toBe(true);
      expect(await store.putIfNew({ ...item, signedDocument: '<other/>' })).toBe(false);
      expect(await store.wasDelivered(item.systemId, item.messageId)).toBe(true);
      const got = await store.get(item.systemId, item.messageId);
      expect(got).toEqual(item);
      expect(Buffer.isBuffer(got!.nativeBody)).toBe(true);
      // The same message to another system is another delivery.
      expect(await store.putIfNew({ ...item, systemId: 'th-melde' })).toBe(true);
      expect(await store.get('th-melde', item.messageId)).toEqual({ ...item, systemId: 'th-melde' });
      expect(await store.get('sn-melde', item.messageId)).toBeUndefined();
    });

    it('keeps one ledger for push and pull', async () => {
      expect(await store.recordPushed('sn-melde', 'm-1')).toBe(true);
      expect(await store.recordPushed('sn-melde', 'm-1')).toBe(false);
      expect(await store.wasDelivered('sn-melde', 'm-1')).toBe(true);
      expect(await store.wasDelivered('st-melde', 'm-1')).toBe(false);
      // Already pushed: it never lands in the inbox as well.
      expect(await store.putIfNew(inboxItem({ systemId: 'sn-melde', messageId: 'm-1' }))).toBe(false);
      expect(await store.get('sn-melde', 'm-1')).toBeUndefined();
      const pulled = inboxItem({ systemId: 'sn-melde' });
      await store.putIfNew(pulled);
      expect(await store.recordPushed('sn-melde', pulled.messageId)).toBe(false);
    });

    it('lists unacknowledged items oldest first, page by page, per system', async () => {
      const items = Array.from({ length: 7 }, () => inboxItem());
      for (const item of items) await store.putIfNew(item);
      await store.putIfNew(inboxItem({ systemId: 'th-melde' }));
      const seen: InboxItem[] = [];
      let after: string | undefined;
      let pages = 0;
      do {
        const page = await store.list('st-melde', { limit: 3, ...(after ? { after } : {}) });
        expect(page.items.length).toBeLessThanOrEqual(3);
        seen.push(...page.items);
        after = page.next;
        pages++;
      } while (after);
      expect(pages).toBe(3);
      expect(seen).toEqual(items);
      const exact = await store.list('st-melde', { limit: 7 });
      expect(exact.items).toHaveLength(7);
      expect(exact.next).toBeUndefined();
      expect((await store.list('nobody', { limit: 10 })).items).toEqual([]);

      expect(await store.ack('st-melde', items[1]!.messageId)).toEqual(items[1]);
      expect(await store.ack('st-melde', items[4]!.messageId)).toEqual(items[4]);
      const rest = await store.list('st-melde', { limit: 100 });
      expect(rest.items.map((i) => i.messageId)).toEqual([0, 2, 3, 5, 6].map((i) => items[i]!.messageId));
      const afterSecond = await store.list('st-melde', {
        limit: 2,
        after: (await store.list('st-melde', { limit: 2 })).next!,
      });
      expect(afterSecond.items.map((i) => i.messageId)).toEqual([items[3]!.messageId, items[5]!.messageId]);
    });

    it('acknowledges once: the item the first time, already afterwards, undefined if unknown', async () => {
      const item = inboxItem();
      await store.putIfNew(item);
      expect(await store.ack(item.systemId, item.messageId)).toEqual(item);
      expect(await store.ack(item.systemId, item.messageId)).toBe('already');
      expect(await store.ack(item.systemId, 'unknown')).toBeUndefined();
      expect(await store.ack('th-melde', item.messageId)).toBeUndefined();
      // Acknowledged items stay readable, but are not listed and cannot come back.
      expect(await store.get(item.systemId, item.messageId)).toEqual(item);
      expect((await store.list(item.systemId, { limit: 10 })).items).toEqual([]);
      expect(await store.putIfNew(item)).toBe(false);
    });

    it('lets two instances race on the same deliveries: each happens exactly once', async () => {
      const second = await another();
      const items = Array.from({ length: 20 }, () => inboxItem());
      const puts = await Promise.all(
        items.flatMap((item) => [store.putIfNew(item), second.putIfNew(item), store.putIfNew(item)]),
      );
      expect(puts.filter(Boolean)).toHaveLength(20);
      for (let i = 0; i < items.length; i++)
        expect(puts.slice(3 * i, 3 * i + 3).filter(Boolean)).toHaveLength(1);
      // Concurrent puts land in some order; each item once.
      const byId = (a: InboxItem, b: InboxItem) => (a.messageId < b.messageId ? -1 : 1);
      expect((await second.list('st-melde', { limit: 100 })).items.sort(byId)).toEqual([...items].sort(byId));

      const pushes = await Promise.all(
        Array.from({ length: 10 }, (_, i) => [
          store.recordPushed('sn-melde', `p-${i}`),
          second.recordPushed('sn-melde', `p-${i}`),
        ]).flat(),
      );
      expect(pushes.filter(Boolean)).toHaveLength(10);

      const acks = await Promise.all(
        items.flatMap((item) => [
          store.ack(item.systemId, item.messageId),
          second.ack(item.systemId, item.messageId),
        ]),
      );
      expect(acks.filter((a) => a === 'already')).toHaveLength(20);
      expect(acks.filter((a) => typeof a === 'object')).toHaveLength(20);
      expect((await store.list('st-melde', { limit: 100 })).items).toEqual([]);
    });

    it('keeps everything for a new instance (a restarted process)', async () => {
      const item = inboxItem();
      await store.putIfNew(item);
      await store.recordPushed('sn-melde', 'pushed-before-restart');
      const later = await another();
      expect(await later.get(item.systemId, item.messageId)).toEqual(item);
      expect(await later.wasDelivered('sn-melde', 'pushed-before-restart')).toBe(true);
      expect((await later.list(item.systemId, { limit: 10 })).items).toEqual([item]);
    });
  });
}
