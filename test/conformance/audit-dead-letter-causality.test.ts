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
import { SqliteAuditStore } from '../../gateway/audit/sqlite-audit-store.ts';
import { deliveryChain } from '../../gateway/pipeline/delivery-audit.ts';
import { messageView } from '../../gateway/pipeline/status.ts';
import type { AuditEventKind, AuditStore } from '../../gateway/ports/audit-store.ts';
import { auditStorePairs } from './audit-store-pairs.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempFile(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dead-letter-causality-'));
  dirs.push(dir);
  return path.join(dir, 'audit.db');
}

// No background runs: each search's catch-up is one projection run, so the test decides what a run
// finds.
const NO_BACKGROUND_PROJECTION = { projectionDelayMs: 1e9 };

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
  const audit = {
    /** Sets the clock to `ms` after T0 for what is recorded next (`await m.at(20).replayed(1)`). */
    at: (ms: number) => {
      clock = T0 + ms;
      return audit;
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
  return audit;
}
type MessageAudit = ReturnType<typeof messageAudit>;

interface Statuses {
  api: string | undefined;
  search: string | undefined;
}

async function statuses(store: AuditStore, searched: AuditStore, messageId: string): Promise<Statuses> {
  const view = messageView(messageId, await store.query({ messageId }));
  const row = (await searched.searchMessages({ messageId, limit: 1 })).items[0];
  return { api: view?.status, search: row?.status };
}

/** What the status API and the search rows both say. */
const both = (status: string): Statuses => ({ api: status, search: status });

const cases = Object.entries(auditStorePairs('dlcause', NO_BACKGROUND_PROJECTION)).flatMap(([name, open]) =>
  (['the appending process', 'another process'] as const).map((projector) => ({ name, open, projector })),
);

for (const { name, open, projector } of cases) {
  /**
   * A test on fresh stores: `m` audits `messageId`; `statuses()` reads the status API of the
   * appending store and the search row of the one that projects.
   */
  const scenario = (
    title: string,
    messageId: string,
    steps: (m: MessageAudit, statuses: () => Promise<Statuses>) => Promise<void>,
  ) =>
    it(title, async () => {
      const { store, other, cleanup } = await open();
      const searched = projector === 'another process' ? other : store;
      try {
        await steps(messageAudit(store, messageId), () => statuses(store, searched, messageId));
      } finally {
        await cleanup();
      }
    });

  describe(`replay generations order replays and dead-letters by cause (${name} store, projected by ${projector})`, () => {
    scenario(
      'a record dead-lettered again within the millisecond of its `replayed` is dead-lettered',
      'm-tie',
      async (m, statuses) => {
        await m.ingress();
        await m.at(10).deadLettered(0);
        await m.at(20).replayed(1);
        await m.deadLettered(1); // same millisecond; its chain name sorts before `main`
        expect(await statuses()).toEqual(both('dead-lettered'));
      },
    );

    scenario(
      'a record dead-lettered at once, within the millisecond of its ingress, is dead-lettered',
      'm-poison',
      async (m, statuses) => {
        await m.deadLettered(0); // a permanent failure on the first attempt, before the ingress's audit
        expect((await statuses()).search).toBe('dead-lettered');
        await m.ingress();
        expect(await statuses()).toEqual(both('dead-lettered'));
      },
    );

    scenario(
      'a `replayed` appended after the dead-letter it caused (and projected in a later run) does not undo it',
      'm-late',
      async (m, statuses) => {
        await m.ingress();
        await m.at(10).deadLettered(0);
        await m.at(20).deadLettered(1);
        expect((await statuses()).search).toBe('dead-lettered'); // one projection run
        await m.at(21).replayed(1); // the replay's audit, written after its republish
        expect(await statuses()).toEqual(both('dead-lettered'));
      },
    );

    scenario(
      'a dead-letter whose audit lands after the replay of it (projected in a later run) stays answered',
      'm-answered',
      async (m, statuses) => {
        await m.ingress();
        // The worker publishes to the dead-letter topic before it audits: an operator can replay
        // the entry in between.
        await m.at(20).replayed(1);
        expect((await statuses()).search).toBe('queued');
        await m.at(19).deadLettered(0);
        expect(await statuses()).toEqual(both('queued'));
        await m.at(30).delivered();
        expect(await statuses()).toEqual(both('delivered'));
      },
    );

    scenario(
      'a second replay answers the second dead-letter, within one millisecond too',
      'm-twice',
      async (m, statuses) => {
        await m.ingress();
        await m.at(10).deadLettered(0);
        await m.at(20).replayed(1);
        await m.deadLettered(1);
        expect((await statuses()).search).toBe('dead-lettered');
        await m.at(30).replayed(2);
        expect(await statuses()).toEqual(both('queued'));
        await m.deadLettered(2);
        expect(await statuses()).toEqual(both('dead-lettered'));
      },
    );

    scenario('trails from before replay generations keep the time rule', 'm-legacy', async (m, statuses) => {
      await m.ingress();
      await m.at(10).deadLettered(undefined);
      await m.at(20).replayed(undefined);
      expect(await statuses()).toEqual(both('queued'));
      await m.at(30).deadLettered(undefined);
      expect(await statuses()).toEqual(both('dead-lettered'));
      // A replay by an upgraded `gw dlq replay` of an entry the old worker dead-lettered.
      await m.at(40).replayed(1);
      await m.deadLettered(1);
      expect(await statuses()).toEqual(both('dead-lettered'));
    });
  });
}

describe('SqliteAuditStore, a file made before the replay generation columns', () => {
  it('gets them in place, keeps its search rows, and folds generations from then on', async () => {
    const file = tempFile();
    const open = () => new SqliteAuditStore({ file, sync: 'NORMAL', ...NO_BACKGROUND_PROJECTION });
    let store = open();
    let m = messageAudit(store, 'm-old');
    await m.ingress();
    await m.at(10).deadLettered(undefined);
    expect((await statuses(store, store, 'm-old')).search).toBe('dead-lettered');
    await store.close();
    const db = new Database(file);
    db.exec('ALTER TABLE audit_messages DROP COLUMN replay_generation');
    db.exec('ALTER TABLE audit_messages DROP COLUMN dead_letter_generation');
    db.close();

    store = open();
    try {
      expect((await statuses(store, store, 'm-old')).search).toBe('dead-lettered');
      m = messageAudit(store, 'm-old');
      await m.at(20).replayed(1);
      await m.deadLettered(1);
      expect(await statuses(store, store, 'm-old')).toEqual(both('dead-lettered'));
    } finally {
      await store.close();
    }
  });
});
