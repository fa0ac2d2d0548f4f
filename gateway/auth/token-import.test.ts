/**
 * importTokens against real SQLite stores (a token file as source, another as target, the audit log
 * in audit.sqlite): each token's `token-imported` event is appended before the token is written. An
 * audit store that fails (closed under the import) leaves the token unwritten; a target that fails
 * to write after the event (a trigger raising a real SQLite error) gets the token on the next run,
 * and the event is not appended twice.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { SqliteAuditStore } from '../audit/sqlite-audit-store.ts';
import type { StoredToken } from '../ports/token-store.ts';
import { SqliteTokenStore } from './sqlite-token-store.ts';
import { importAuditKey, importTokens } from './token-import.ts';

let dir: string;
let tokens: { token: string; id: string }[];
let source: StoredToken[];

const auditFile = () => path.join(dir, 'audit.sqlite');
const target = () => SqliteTokenStore.inDataDir(path.join(dir, 'target'));

async function importedEvents() {
  const store = new SqliteAuditStore({ file: auditFile() });
  try {
    return await store.query({ kind: 'token-imported', limit: 1000 });
  } finally {
    await store.close();
  }
}

async function run(into: SqliteTokenStore, audit: SqliteAuditStore) {
  return importTokens(source, into, { audit: new AuditLog(audit), actor: 'cli', source: 'old.sqlite' });
}

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'gw-token-import-'));
  const from = SqliteTokenStore.inDataDir(path.join(dir, 'source'));
  tokens = [];
  for (const role of ['auditor', 'scraper'] as const) {
    const { token, record } = await from.issue({ role, scope: '*', lifetimeMs: 600_000, createdBy: 'cli' });
    tokens.push({ token, id: record.id });
  }
  // In the order they were issued (exportAll's order is the store's): the runs import in source order.
  const exported = await from.exportAll();
  source = tokens.map(({ id }) => exported.find((t) => t.record.id === id)!);
  await from.close();
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('importTokens audits each token before it writes it', () => {
  it('an audit store that fails: the run fails and no token is written unaudited', async () => {
    const audit = new SqliteAuditStore({ file: auditFile() });
    await audit.close();
    const into = target();
    try {
      await expect(run(into, audit)).rejects.toThrow();
      expect(await into.list()).toEqual([]);
    } finally {
      await into.close();
    }
    expect(await importedEvents()).toEqual([]);
  });

  it('a target that fails to write after the event: the next run writes the token and appends no second event', async () => {
    const audit = new SqliteAuditStore({ file: auditFile() });
    try {
      const into = target();
      // A real SQLite error on the write, as a full disk or a lost lock would give; reads still work.
      const raw = new Database(path.join(dir, 'target', 'auth.sqlite'));
      raw.exec(
        "CREATE TRIGGER refuse BEFORE INSERT ON tokens BEGIN SELECT RAISE(ABORT, 'tokens refuses this insert'); END",
      );
      await expect(run(into, audit)).rejects.toThrow('tokens refuses this insert');
      // The first token's event is there; its token is not, and the run stopped before the second.
      expect((await importedEvents()).map((e) => e.detail.tokenId)).toEqual([tokens[0]!.id]);
      raw.exec('DROP TRIGGER refuse');
      raw.close();

      try {
        expect(await into.list()).toEqual([]);
        expect((await run(into, audit)).map((o) => o.kind)).toEqual(['imported', 'imported']);
        for (const { token, id } of tokens) expect((await into.authenticate(token)).id).toBe(id);
        expect((await run(into, audit)).map((o) => o.kind)).toEqual(['present', 'present']);
      } finally {
        await into.close();
      }
    } finally {
      await audit.close();
    }
    const events = await importedEvents();
    expect(events.map((e) => e.detail.tokenId)).toEqual(tokens.map((t) => t.id));
    expect(events[1]!.detail).toEqual({
      tokenId: tokens[1]!.id,
      role: 'scraper',
      scope: '*',
      permissions: [],
      expiresAt: source[1]!.record.expiresAt,
      revokedAt: null,
      source: 'old.sqlite',
    });
  });

  it('keys each event by the token as written: the same token the same key, a changed one (revoked since) its own', () => {
    const [token] = source;
    expect(importAuditKey(token!)).toBe(importAuditKey(structuredClone(token!)));
    expect(importAuditKey(token!)).toMatch(new RegExp(`^token-imported/${token!.record.id}/[0-9a-f]{64}$`));
    const revoked = { ...token!, record: { ...token!.record, revokedAt: '2030-01-01T00:00:00.000Z' } };
    expect(importAuditKey(revoked)).not.toBe(importAuditKey(token!));
    expect(importAuditKey(source[1]!)).not.toBe(importAuditKey(token!));
  });
});
