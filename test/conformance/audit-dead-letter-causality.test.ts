/**
 * Dead-letters ordered by cause rather than by the clock. `replayed` and the ingress's events live
 * in the main chain, `dead-lettered` in its partition's chain; both are written after the publish
 * that causes the delivery, so a dead-letter can share their millisecond (the SQLite bus hands a
 * record over at once) or even come first. The status API (messageView) and the search rows of
 * both stores, whose projectors fold what a run finds, must say `dead-lettered` all the same;
 * trails written before replay generations existed keep the old rule. Clocks are injected: every
 * tie is deterministic.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../gateway/audit/audit-log.ts';
import { PgAuditStore } from '../../gateway/audit/pg-audit-store.ts';
import { SqliteAuditStore } from '../../gateway/audit/sqlite-audit-store.ts';
import { deliveryChain } from '../../gateway/pipeline/delivery-audit.ts';
import { messageView } from '../../gateway/pipeline/status.ts';
import type { AuditEventKind, AuditStore } from '../../gateway/ports/audit-store.ts';
import { dropSchema, freshSchemaName, PG_URL } from './pg-test-schema.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempFile(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dead-letter-causality-'));
  dirs.push(dir);
  return path.join(dir, 'audit.db');
}

interface Fixture {
  /** Appends, and projects what it appended from memory. */
  store: AuditStore;
  /** Another process on the same data: it projects from the stored entries. */
  other: AuditStore;
  cleanup: () => Promise<void>;
}

const STORES: Record<string, () => Promise<Fixture>> = {
  sqlite: async () => {
    // No background runs: each search's catch-up is one projection run, so the test decides what
    // a run finds.
    const file = tempFile();
    const store = new SqliteAuditStore({ file, sync: 'NORMAL', projectionDelayMs: 1e9 });
    const other = new SqliteAuditStore({ file, sync: 'NORMAL', projectionDelayMs: 1e9 });
    return {
      store,
      other,
      cleanup: async () => {
        await store.close();
        await other.close();
      },
    };
  },
  postgres: async () => {
    const schema = freshSchemaName('dlcause');
    const store = await PgAuditStore.connect({ url: PG_URL, schema });
    const other = await PgAuditStore.connect({ url: PG_URL, schema });
    return {
      store,
      other,
      cleanup: async () => {
        await store.close();
        await other.close();
        await dropSchema(schema);
      },
    };
  },
};

const T0 = Date.UTC(2026, 10, 29, 9, 0, 0);

/** The gateway's audit of one message, on a clock the test sets. */
function messageAudit(store: AuditStore, messageId: string) {
  let clock = T0;
  const now = () => new Date(clock);
  const main = new AuditLog(store, { now });
  const delivery = main.withChain(deliveryChain('st-melde', 0));
  const common = {
    messageId,
    sender: 'ags:14612000',
    receiver: 'ags:15003000',
    senderSystem: 'sn-melde',
    receiverSystem: 'st-melde',
    messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
  };
  /** `generation` undefined: an entry as written before replay generations existed. */
  const generation = (g: number | undefined) => (g === undefined ? {} : { replayGeneration: g });
  return {
    at: (ms: number) => {
      clock = T0 + ms;
    },
    ingress: () =>
      main.recordMany(
        (['received', 'accepted', 'signed', 'queued'] as AuditEventKind[]).map((kind) => ({
          ...common,
          kind,
          actor: 'sn-melde',
        })),
      ),
    // The shapes delivery.ts (deadLetter) and dead-letters.ts (replay) write.
    deadLettered: (g: number | undefined) =>
      delivery.record({
        ...common,
        kind: 'dead-lettered',
        actor: 'gateway',
        detail: { reason: 'seal verification failed', attempts: 0, ...generation(g) },
      }),
    replayed: (g: number | undefined) =>
      main.record({
        ...common,
        kind: 'replayed',
        actor: 'cli',
        detail: { from: 'dead-letter', position: '0/0', attempts: 0, ...generation(g) },
      }),
    delivered: () => delivery.record({ ...common, kind: 'delivered', actor: 'gateway' }),
  };
}

async function statuses(store: AuditStore, searched: AuditStore, messageId: string) {
  const view = messageView(messageId, await store.query({ messageId }));
  const row = (await searched.searchMessages({ messageId, limit: 1 })).items[0];
  return { api: view?.status, search: row?.status };
}

const cases = Object.entries(STORES).flatMap(([name, open]) =>
  (['the appending process', 'another process'] as const).map((projector) => ({ name, open, projector })),
);

for (const { name, open: openStore, projector } of cases) {
  /** The appending store, and the one whose search rows are asked (and so projects them). */
  const open = async () => {
    const fixture = await openStore();
    const searched = projector === 'another process' ? fixture.other : fixture.store;
    return {
      store: fixture.store,
      cleanup: fixture.cleanup,
      statuses: (messageId: string) => statuses(fixture.store, searched, messageId),
    };
  };
  describe(`replay generations order replays and dead-letters by cause (${name} store, projected by ${projector})`, () => {
    it('a record dead-lettered again within the millisecond of its `replayed` is dead-lettered', async () => {
      const { store, cleanup, statuses } = await open();
      try {
        const m = messageAudit(store, 'm-tie');
        await m.ingress();
        m.at(10);
        await m.deadLettered(0);
        m.at(20);
        await m.replayed(1);
        await m.deadLettered(1); // same millisecond; its chain name sorts before `main`
        expect(await statuses('m-tie')).toEqual({ api: 'dead-lettered', search: 'dead-lettered' });
      } finally {
        await cleanup();
      }
    });

    it('a record dead-lettered at once, within the millisecond of its ingress, is dead-lettered', async () => {
      const { store, cleanup, statuses } = await open();
      try {
        const m = messageAudit(store, 'm-poison');
        await m.deadLettered(0); // a permanent failure on the first attempt, before the ingress's audit
        expect((await statuses('m-poison')).search).toBe('dead-lettered');
        await m.ingress();
        expect(await statuses('m-poison')).toEqual({ api: 'dead-lettered', search: 'dead-lettered' });
      } finally {
        await cleanup();
      }
    });

    it('a `replayed` appended after the dead-letter it caused (and projected in a later run) does not undo it', async () => {
      const { store, cleanup, statuses } = await open();
      try {
        const m = messageAudit(store, 'm-late');
        await m.ingress();
        m.at(10);
        await m.deadLettered(0);
        m.at(20);
        await m.deadLettered(1);
        expect((await statuses('m-late')).search).toBe('dead-lettered'); // one projection run
        m.at(21); // the replay's audit, written after its republish
        await m.replayed(1);
        expect(await statuses('m-late')).toEqual({ api: 'dead-lettered', search: 'dead-lettered' });
      } finally {
        await cleanup();
      }
    });

    it('a dead-letter whose audit lands after the replay of it (projected in a later run) stays answered', async () => {
      const { store, cleanup, statuses } = await open();
      try {
        const m = messageAudit(store, 'm-answered');
        await m.ingress();
        // The worker publishes to the dead-letter topic before it audits: an operator can replay
        // the entry in between.
        m.at(20);
        await m.replayed(1);
        expect((await statuses('m-answered')).search).toBe('queued');
        m.at(19);
        await m.deadLettered(0);
        expect(await statuses('m-answered')).toEqual({ api: 'queued', search: 'queued' });
        m.at(30);
        await m.delivered();
        expect(await statuses('m-answered')).toEqual({ api: 'delivered', search: 'delivered' });
      } finally {
        await cleanup();
      }
    });

    it('a second replay answers the second dead-letter, within one millisecond too', async () => {
      const { store, cleanup, statuses } = await open();
      try {
        const m = messageAudit(store, 'm-twice');
        await m.ingress();
        m.at(10);
        await m.deadLettered(0);
        m.at(20);
        await m.replayed(1);
        await m.deadLettered(1);
        expect((await statuses('m-twice')).search).toBe('dead-lettered');
        m.at(30);
        await m.replayed(2);
        expect(await statuses('m-twice')).toEqual({ api: 'queued', search: 'queued' });
        await m.deadLettered(2);
        expect(await statuses('m-twice')).toEqual({ api: 'dead-lettered', search: 'dead-lettered' });
      } finally {
        await cleanup();
      }
    });

    it('trails from before replay generations keep the time rule', async () => {
      const { store, cleanup, statuses } = await open();
      try {
        const m = messageAudit(store, 'm-legacy');
        await m.ingress();
        m.at(10);
        await m.deadLettered(undefined);
        m.at(20);
        await m.replayed(undefined);
        expect(await statuses('m-legacy')).toEqual({ api: 'queued', search: 'queued' });
        m.at(30);
        await m.deadLettered(undefined);
        expect(await statuses('m-legacy')).toEqual({ api: 'dead-lettered', search: 'dead-lettered' });
        // A replay by an upgraded `gw dlq replay` of an entry the old worker dead-lettered.
        m.at(40);
        await m.replayed(1);
        await m.deadLettered(1);
        expect(await statuses('m-legacy')).toEqual({ api: 'dead-lettered', search: 'dead-lettered' });
      } finally {
        await cleanup();
      }
    });
  });
}

describe('SqliteAuditStore, a file made before the replay generation columns', () => {
  it('gets them in place, keeps its search rows, and folds generations from then on', async () => {
    const file = tempFile();
    let store = new SqliteAuditStore({ file, sync: 'NORMAL', projectionDelayMs: 1e9 });
    let m = messageAudit(store, 'm-old');
    await m.ingress();
    m.at(10);
    await m.deadLettered(undefined);
    expect((await statuses(store, store, 'm-old')).search).toBe('dead-lettered');
    await store.close();
    const db = new Database(file);
    db.exec('ALTER TABLE audit_messages DROP COLUMN replay_generation');
    db.exec('ALTER TABLE audit_messages DROP COLUMN dead_letter_generation');
    db.close();

    store = new SqliteAuditStore({ file, sync: 'NORMAL', projectionDelayMs: 1e9 });
    try {
      expect((await statuses(store, store, 'm-old')).search).toBe('dead-lettered');
      m = messageAudit(store, 'm-old');
      m.at(20);
      await m.replayed(1);
      await m.deadLettered(1);
      expect(await statuses(store, store, 'm-old')).toEqual({
        api: 'dead-lettered',
        search: 'dead-lettered',
      });
    } finally {
      await store.close();
    }
  });
});
