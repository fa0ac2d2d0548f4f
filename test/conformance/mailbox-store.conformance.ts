/**
 * The MailboxStore conformance suite: what the SQLite and the PostgreSQL mailbox must both honour —
 * deduplication by (system, nachrichtenUUID) across pull and push, paging, acknowledgement, the
 * unaudited acks the ack audit sweep claims, and two store instances (two gateway processes) sharing
 * one storage.
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

    describe('visibility timeout (lease on fetch)', () => {
      // The store takes the times it compares from its caller, so the clock is the test's.
      const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
      const at = (ms: number) => new Date(T0 + ms).toISOString();
      const ids = (page: { items: InboxItem[] }) => page.items.map((i) => i.messageId);

      it('hides a leased item from the listing until the lease ends, then lists it again in its place', async () => {
        const items = [inboxItem(), inboxItem(), inboxItem()];
        for (const item of items) await store.putIfNew(item);
        const leased = await store.lease('st-melde', items[1]!.messageId, at(300_000));
        expect(leased).toEqual({ item: items[1], leased: true });
        expect(ids(await store.list('st-melde', { limit: 10, visibleAt: at(0) }))).toEqual([
          items[0]!.messageId,
          items[2]!.messageId,
        ]);
        expect(ids(await store.list('st-melde', { limit: 10, visibleAt: at(299_999) }))).toHaveLength(2);
        // Expired: back, in its original place (oldest first).
        expect(ids(await store.list('st-melde', { limit: 10, visibleAt: at(300_000) }))).toEqual(
          items.map((i) => i.messageId),
        );
        // Leases are per system: the same message id in another inbox is not affected.
        await store.putIfNew({ ...items[1]!, systemId: 'th-melde' });
        expect(ids(await store.list('th-melde', { limit: 10, visibleAt: at(0) }))).toEqual([
          items[1]!.messageId,
        ]);
        // get() (not a fetch by the receiver) leases nothing.
        await store.get('st-melde', items[0]!.messageId);
        expect(ids(await store.list('st-melde', { limit: 10, visibleAt: at(0) }))).toContain(
          items[0]!.messageId,
        );
      });

      it('a fetch during the lease sets the new end; the lease is seen by another instance', async () => {
        const item = inboxItem();
        await store.putIfNew(item);
        await store.lease('st-melde', item.messageId, at(1_000));
        const other = await another();
        expect(await other.lease('st-melde', item.messageId, at(5_000))).toEqual({ item, leased: true });
        expect(ids(await store.list('st-melde', { limit: 10, visibleAt: at(4_999) }))).toEqual([]);
        expect(ids(await store.list('st-melde', { limit: 10, visibleAt: at(5_000) }))).toEqual([
          item.messageId,
        ]);
      });

      it('acknowledges during the lease: gone for good, and fetching it again leases nothing', async () => {
        const item = inboxItem();
        await store.putIfNew(item);
        await store.lease('st-melde', item.messageId, at(60_000));
        expect(await store.ack('st-melde', item.messageId)).toEqual(item);
        expect(await store.lease('st-melde', item.messageId, at(120_000))).toEqual({ item, leased: false });
        expect(ids(await store.list('st-melde', { limit: 10, visibleAt: at(999_999) }))).toEqual([]);
        expect(await store.lease('st-melde', '00000000-0000-4000-8000-ffffffffffff', at(1))).toBeUndefined();
      });

      it('pages over the visible items only', async () => {
        const items = Array.from({ length: 5 }, () => inboxItem());
        for (const item of items) await store.putIfNew(item);
        await store.lease('st-melde', items[0]!.messageId, at(10_000));
        await store.lease('st-melde', items[2]!.messageId, at(10_000));
        const first = await store.list('st-melde', { limit: 2, visibleAt: at(0) });
        expect(ids(first)).toEqual([items[1]!.messageId, items[3]!.messageId]);
        const second = await store.list('st-melde', { limit: 2, after: first.next!, visibleAt: at(0) });
        expect(ids(second)).toEqual([items[4]!.messageId]);
        expect(second.next).toBeUndefined();
      });
    });

    describe('unaudited acks (the ack audit sweep)', () => {
      // Acks take the store's clock; claims compare the times the caller passes.
      const inAMinute = () => new Date(Date.now() + 60_000).toISOString();
      const ids = (items: InboxItem[]) => items.map((i) => i.messageId);
      const pause = () => new Promise((r) => setTimeout(r, 3));
      /** Puts `n` items and acks them in the given order of their indices, a few ms apart. */
      async function ackedItems(n: number, order = Array.from({ length: n }, (_, i) => i)) {
        const items = Array.from({ length: n }, () => inboxItem());
        for (const item of items) await store.putIfNew(item);
        for (const i of order) {
          await store.ack(items[i]!.systemId, items[i]!.messageId);
          await pause();
        }
        return items;
      }
      const claimAll = (on: MailboxStore, now = new Date().toISOString(), limit = 100) =>
        on.claimUnauditedAcks({ ackedBefore: inAMinute(), now, claimUntil: inAMinute(), limit });

      it('hands out acked items not marked audited, acked by the given time, oldest ack first', async () => {
        const pending = inboxItem();
        await store.putIfNew(pending);
        const items = await ackedItems(3, [2, 0, 1]);
        const before = new Date(Date.now() - 1).toISOString();
        await pause();
        const late = (await ackedItems(1))[0]!;
        expect(
          await store.claimUnauditedAcks({
            ackedBefore: before,
            now: new Date().toISOString(),
            claimUntil: inAMinute(),
            limit: 10,
          }),
        ).toEqual([items[2], items[0], items[1]]);
        // Not acked: never; acked after `ackedBefore`: once the caller's time passes it.
        expect(ids(await claimAll(store))).toEqual([late.messageId]);
        expect(ids(await claimAll(store))).not.toContain(pending.messageId);
      });

      it('hands out at most `limit`, and an item once while its claim lasts, also to another instance', async () => {
        const items = await ackedItems(5);
        const now = new Date().toISOString();
        const second = await another();
        expect(ids(await claimAll(store, now, 2))).toEqual(ids(items.slice(0, 2)));
        expect(ids(await claimAll(second, now, 2))).toEqual(ids(items.slice(2, 4)));
        expect(ids(await claimAll(store, now, 10))).toEqual(ids(items.slice(4)));
        expect(await claimAll(second, now, 10)).toEqual([]);
        // The claims ended (their claimer gave up): handed out again, to whichever instance asks.
        const later = new Date(Date.now() + 61_000).toISOString();
        expect(ids(await claimAll(second, later, 10))).toEqual(ids(items));
      });

      it('never hands out an item marked audited; marks only acked items, idempotently', async () => {
        const items = await ackedItems(3);
        const unacked = inboxItem();
        await store.putIfNew(unacked);
        await store.markAcksAudited([
          items[0]!,
          items[2]!,
          unacked,
          { systemId: 'st-melde', messageId: 'unknown' },
          { systemId: 'th-melde', messageId: items[1]!.messageId },
        ]);
        await store.markAcksAudited([items[0]!]);
        await store.markAcksAudited([]);
        const second = await another();
        expect(ids(await claimAll(second))).toEqual([items[1]!.messageId]);
        // Claimed, then marked by the claimer: gone for good, claim or none.
        await second.markAcksAudited([items[1]!]);
        expect(await claimAll(store, new Date(Date.now() + 61_000).toISOString())).toEqual([]);
        // A mark that came before the ack did not stick: the ack is handed out once it is made.
        await store.ack(unacked.systemId, unacked.messageId);
        expect(ids(await claimAll(store))).toEqual([unacked.messageId]);
        // The items themselves are untouched: byte for byte, still acknowledged.
        expect(await store.get(items[0]!.systemId, items[0]!.messageId)).toEqual(items[0]);
        expect(await store.ack(items[0]!.systemId, items[0]!.messageId)).toBe('already');
      });

      it('lets two instances claim at the same time: each item goes to one of them', async () => {
        const items = await ackedItems(30);
        const second = await another();
        const now = new Date().toISOString();
        const claims = await Promise.all(
          Array.from({ length: 6 }, (_, i) => claimAll(i % 2 === 0 ? store : second, now, 7)),
        );
        const handedOut = claims.flatMap(ids);
        expect(new Set(handedOut).size).toBe(handedOut.length);
        expect(handedOut.sort()).toEqual(ids(items).sort());
      });
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

    describe('case tickets (per-case delivery order)', () => {
      const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
      const take = (
        s: MailboxStore,
        caseKey: string,
        source: string,
        notBefore = at(0),
        systemId = 'st-melde',
      ) => s.takeTicket({ systemId, caseKey, source, messageId: `msg-${source}`, notBefore });

      it('hands out increasing tickets; the head is the lowest pending one of the case', async () => {
        expect(await store.caseView('st-melde', 'case-a', { source: 't/0/1' })).toEqual({});
        const first = await take(store, 'case-a', 't/0/1', at(5));
        const second = await take(store, 'case-a', 't/0/2', at(6));
        expect(first).toEqual({ ticket: first.ticket, notBefore: at(5) });
        expect(second.ticket).toBeGreaterThan(first.ticket);
        expect(await store.caseView('st-melde', 'case-a', { source: 't/0/2' })).toEqual({
          head: first,
          own: { ...second, done: false },
        });
        expect(await store.caseView('st-melde', 'case-a', { ticket: first.ticket })).toEqual({
          head: first,
          own: { ...first, done: false },
        });
        await store.rescheduleTicket(first.ticket, at(9));
        expect((await store.caseView('st-melde', 'case-a', { source: 't/0/9' })).head).toEqual({
          ticket: first.ticket,
          notBefore: at(9),
        });
        await store.settleTicket(first.ticket, 'dead-lettered');
        expect(await store.caseView('st-melde', 'case-a', { ticket: first.ticket })).toEqual({
          head: second,
          own: { ticket: first.ticket, notBefore: at(9), done: true },
        });
        // Settled tickets are not rescheduled, and settling twice changes nothing.
        await store.rescheduleTicket(first.ticket, at(20));
        await store.settleTicket(first.ticket, 'delivered');
        expect((await store.caseView('st-melde', 'case-a', { ticket: first.ticket })).own?.notBefore).toBe(
          at(9),
        );
        await store.settleTicket(second.ticket, 'delivered');
        expect(await store.caseView('st-melde', 'case-a', { source: 't/0/1' })).toEqual({
          own: { ticket: first.ticket, notBefore: at(9), done: true },
        });
      });

      it('answers wasDelivered for an asked-for messageId along with the case view', async () => {
        const pending = await take(store, 'case-l', 't/2/1', at(4));
        const asked = (
          own: { source: string } | { ticket: number },
          delivered: string,
          systemId = 'sn-melde',
        ) => store.caseView(systemId, 'case-l', { ...own, delivered });
        // Not asked: no answer, as before.
        expect(await store.caseView('sn-melde', 'case-l', { source: 't/2/1' })).toEqual({});
        expect(await asked({ source: 't/2/9' }, 'pushed-1')).toEqual({ delivered: false });
        await store.recordPushed('sn-melde', 'pushed-1');
        expect(await asked({ source: 't/2/9' }, 'pushed-1')).toEqual({ delivered: true });
        expect(await asked({ ticket: 999_999_999 }, 'pushed-1')).toEqual({ delivered: true });
        // Per system, per messageId.
        expect(await asked({ source: 't/2/9' }, 'pushed-1', 'th-melde')).toEqual({ delivered: false });
        expect(await asked({ source: 't/2/9' }, 'pushed-2')).toEqual({ delivered: false });
        // With head and own ticket in the same look.
        expect(await asked({ source: 't/2/1' }, 'pushed-1', 'st-melde')).toEqual({
          head: pending,
          own: { ...pending, done: false },
          delivered: false,
        });
        const item = inboxItem({ systemId: 'st-melde' });
        await store.putIfNew(item);
        expect(await asked({ ticket: pending.ticket }, item.messageId, 'st-melde')).toEqual({
          head: pending,
          own: { ...pending, done: false },
          delivered: await store.wasDelivered('st-melde', item.messageId),
        });
        expect(
          (await (await another()).caseView('sn-melde', 'x', { source: 'y', delivered: 'pushed-1' }))
            .delivered,
        ).toBe(true);
      });

      it('gives a source its one ticket, however often it asks (a redelivered record)', async () => {
        const once = await take(store, 'case-b', 't/1/7', at(1));
        expect(await take(store, 'case-b', 't/1/7', at(2))).toEqual(once);
        const later = await another();
        expect(await take(later, 'case-b', 't/1/7', at(3))).toEqual(once);
        // The same offset of another system is another record.
        const elsewhere = await take(store, 'case-b', 't/1/7', at(1), 'th-melde');
        expect(elsewhere.ticket).not.toBe(once.ticket);
      });

      it('keeps cases and systems apart', async () => {
        const a = await take(store, 'case-c', 't/0/1');
        const b = await take(store, 'case-d', 't/0/2');
        const c = await take(store, 'case-c', 't/0/3', at(0), 'th-melde');
        expect((await store.caseView('st-melde', 'case-c', { source: 'x' })).head?.ticket).toBe(a.ticket);
        expect((await store.caseView('st-melde', 'case-d', { source: 'x' })).head?.ticket).toBe(b.ticket);
        expect((await store.caseView('th-melde', 'case-c', { source: 'x' })).head?.ticket).toBe(c.ticket);
        await store.settleTicket(a.ticket, 'delivered');
        expect((await store.caseView('st-melde', 'case-c', { source: 'x' })).head).toBeUndefined();
        expect((await store.caseView('th-melde', 'case-c', { source: 'x' })).head?.ticket).toBe(c.ticket);
        expect(await store.caseView('st-melde', 'case-c', { ticket: 999_999_999 })).toEqual({});
      });

      it('shares tickets between instances in the order they were taken', async () => {
        const second = await another();
        const tickets: number[] = [];
        for (let i = 0; i < 10; i++)
          tickets.push((await take(i % 2 === 0 ? store : second, 'case-e', `t/2/${i}`)).ticket);
        expect([...tickets].sort((x, y) => x - y)).toEqual(tickets);
        for (const [i, ticket] of tickets.entries()) {
          expect(
            (await (i % 2 === 0 ? second : store).caseView('st-melde', 'case-e', { ticket })).head?.ticket,
          ).toBe(ticket);
          await (i % 2 === 0 ? store : second).settleTicket(ticket, 'delivered');
        }
        expect((await second.caseView('st-melde', 'case-e', { source: 'x' })).head).toBeUndefined();
      });
    });

    it('commits concurrent writes durably: each resolved write is seen by another instance', async () => {
      const writes = Array.from({ length: 200 }, (_, i) => store.recordPushed('sn-melde', `c-${i}`));
      const items = Array.from({ length: 20 }, () => inboxItem());
      const puts = items.map((item) => store.putIfNew(item));
      expect((await Promise.all(writes)).every(Boolean)).toBe(true);
      expect((await Promise.all(puts)).every(Boolean)).toBe(true);
      const later = await another();
      for (let i = 0; i < 200; i++) expect(await later.wasDelivered('sn-melde', `c-${i}`)).toBe(true);
      // Concurrent puts land in some order; each item once.
      const byId = (a: InboxItem, b: InboxItem) => (a.messageId < b.messageId ? -1 : 1);
      expect((await later.list('st-melde', { limit: 100 })).items.sort(byId)).toEqual([...items].sort(byId));
      // A duplicate in the same batch as its original is still a duplicate.
      const twice = await Promise.all([
        store.recordPushed('sn-melde', 'same'),
        store.recordPushed('sn-melde', 'same'),
      ]);
      expect(twice.filter(Boolean)).toHaveLength(1);
    });
  });
}
