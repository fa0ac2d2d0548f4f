/**
 * A scoped export's decisions (export-scope.ts) are the auditor API's, however the search rows are
 * fetched: for any slice of entries, the same as looking up each entry's message on its own —
 * messages that began within the slice's time span (one time-range search), messages that began
 * long before it (looked up alone), entries of no message, and a time span full of other chains'
 * messages that would cost more to read than to look the few up alone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry, AuditEventInput, AuditMessageSearch } from '../ports/audit-store.ts';
import { messageScope } from './export-scope.ts';
import { SqliteAuditStore } from './sqlite-audit-store.ts';

const SAXON = new Set(['sn-melde', 'sn-kfz']);
const visible = (m: { senderSystem: string | null; receiverSystem: string | null }) =>
  (m.senderSystem !== null && SAXON.has(m.senderSystem)) ||
  (m.receiverSystem !== null && SAXON.has(m.receiverSystem));

let t = Date.UTC(2026, 0, 1);
function event(messageId: string | null, senderSystem: string | null, receiverSystem: string | null) {
  return {
    time: new Date(t++).toISOString(),
    kind: messageId === null ? 'token-issued' : 'received',
    actor: 'gateway',
    messageId,
    sender: null,
    receiver: null,
    senderSystem,
    receiverSystem,
    messageType: null,
    digest: null,
    detail: {},
  } satisfies AuditEventInput;
}

describe('messageScope', () => {
  let dir: string;
  let store: SqliteAuditStore;
  let searches: AuditMessageSearch[];
  const counting = () => ({
    searchMessages: (search: AuditMessageSearch) => {
      searches.push(search);
      return store.searchMessages(search);
    },
  });

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'export-scope-'));
    store = new SqliteAuditStore({ file: path.join(dir, 'audit.db') });
    searches = [];
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Each entry's message looked up on its own: the rule, spelled out. */
  async function oneByOne(entries: readonly AuditEntry[]): Promise<boolean[]> {
    const out: boolean[] = [];
    for (const e of entries) {
      if (e.messageId === null) out.push(false);
      else {
        const [row] = (await store.searchMessages({ messageId: e.messageId, limit: 1 })).items;
        out.push(row !== undefined && visible(row));
      }
    }
    return out;
  }

  it('decides every entry as a lookup of its own message would, whichever way the rows are read', async () => {
    const systems = ['sn-melde', 'th-melde', 'st-melde', 'sn-kfz', 'by-melde', null];
    const early: AuditEventInput[] = [];
    for (let i = 0; i < 12; i++) early.push(event(`early-${i}`, systems[i % 6]!, systems[(i + 2) % 6]!));
    await store.append(early);
    // Another chain busy in between: many messages in the time span of main's later slice.
    await store.append(
      Array.from({ length: 300 }, (_, i) =>
        event(`busy-${i}`, 'th-melde', i % 7 === 0 ? 'sn-melde' : 'st-melde'),
      ),
      'busy',
    );
    const later: AuditEventInput[] = [];
    for (let i = 0; i < 40; i++) {
      later.push(event(`late-${i}`, systems[i % 6]!, systems[(i * 5 + 1) % 6]!));
      // Entries of messages that began long before (a dead-letter hours later, say), and of none.
      if (i % 5 === 0) later.push(event(`early-${i % 12}`, 'th-melde', 'th-melde'));
      if (i % 9 === 0) later.push(event(null, null, null));
      if (i % 4 === 0) later.push(event(`busy-${i}`, 'th-melde', 'th-melde'));
    }
    later.push(event('one-entry', 'sn-melde', null));
    await store.append(later);
    const main = await store.query({ chain: 'main' });
    const expected = await oneByOne(main);
    expect(expected.filter(Boolean).length).toBeGreaterThan(10);
    expect(expected.filter((x) => !x).length).toBeGreaterThan(10);

    for (const size of [1, 3, 5, 17, main.length]) {
      const scope = messageScope('land:SN', counting(), visible);
      const got: boolean[] = [];
      for (let i = 0; i < main.length; i += size) got.push(...(await scope.inScope(main.slice(i, i + size))));
      expect(got, `slices of ${size}`).toEqual(expected);
    }
    // Whole: one time-range search for the lot, then the early messages one by one.
    searches = [];
    await messageScope('land:SN', counting(), visible).inScope(main);
    const ranged = searches.filter((s) => s.from !== undefined);
    expect(ranged.length).toBeGreaterThanOrEqual(1);
    expect(searches.filter((s) => s.messageId !== undefined).length).toBeLessThan(main.length / 4);
  });

  it('looks up a few messages alone rather than read a busy time span', async () => {
    await store.append([event('a', 'sn-melde', null), event('b', 'th-melde', null)]);
    await store.append(
      Array.from({ length: 2000 }, (_, i) => event(`busy-${i}`, 'th-melde', 'st-melde')),
      'busy',
    );
    const tail = Array.from({ length: 6 }, (_, i) => event(`c-${i}`, i % 2 ? 'sn-melde' : 'th-melde', null));
    await store.append([...tail, event('a', 'th-melde', null), event('b', 'sn-melde', null)]);
    const main = await store.query({ chain: 'main' });
    const scope = messageScope('land:SN', counting(), visible);
    expect(await scope.inScope(main)).toEqual(await oneByOne(main));
    expect(await scope.inScope(main)).toEqual([
      true,
      false,
      false,
      true,
      false,
      true,
      false,
      true,
      true,
      false,
    ]);
    // The 2,000 busy messages of the span were not all read: the budget stops the range search.
    const read = searches.filter((s) => s.from !== undefined).reduce((n, s) => n + s.limit, 0);
    expect(read).toBeLessThanOrEqual(8 * 32); // ROWS_PER_MESSAGE per undecided message
  });
});
