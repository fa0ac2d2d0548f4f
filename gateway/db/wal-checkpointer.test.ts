/** The WAL checkpointer: checkpoints happen in the worker, never in the writer's commits. */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { attachWalCheckpointer } from './wal-checkpointer.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function walDatabase(): { file: string; db: Database.Database } {
  const dir = mkdtempSync(join(tmpdir(), 'gw-checkpoint-'));
  dirs.push(dir);
  const file = join(dir, 'db.sqlite');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)');
  return { file, db };
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('attachWalCheckpointer', () => {
  it('turns the automatic checkpoint off and checkpoints in the worker instead', async () => {
    const { file, db } = walDatabase();
    const detach = attachWalCheckpointer(file, [db]);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    // In WAL mode only a checkpoint writes the database file: its growth is the worker's doing.
    const before = statSync(file).size;
    const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < 200; i++) insert.run(Buffer.alloc(4000, i));
    })();
    await until(() => statSync(file).size > before + 200 * 4000);
    await detach();
    db.close();
    // The last connection closed checkpointed the rest and removed the WAL.
    expect(existsSync(`${file}-wal`)).toBe(false);
    const reopened = new Database(file, { readonly: true });
    expect(reopened.prepare('SELECT count(*) FROM t').pluck().get()).toBe(200);
    reopened.close();
  });

  it('serves several files and the same file twice; detaching one leaves the others attached', async () => {
    const a = walDatabase();
    const b = walDatabase();
    const second = new Database(a.file);
    const detachA = attachWalCheckpointer(a.file, [a.db]);
    const detachA2 = attachWalCheckpointer(a.file, [second]);
    const detachB = attachWalCheckpointer(b.file, [b.db]);
    await detachA();
    a.db.close();
    const before = statSync(b.file).size;
    b.db.prepare('INSERT INTO t (body) VALUES (?)').run(Buffer.alloc(50_000, 1));
    await until(() => statSync(b.file).size > before);
    const insertA = second.prepare('INSERT INTO t (body) VALUES (?)');
    const beforeA = statSync(a.file).size;
    insertA.run(Buffer.alloc(50_000, 2));
    await until(() => statSync(a.file).size > beforeA);
    await detachA2();
    second.close();
    await detachB();
    b.db.close();
  });
});
