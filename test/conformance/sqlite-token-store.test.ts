/**
 * SqliteTokenStore: the TokenStore conformance suite on a real SQLite file (<dataDir>/auth.sqlite),
 * and opening an existing file as the source of an import.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteTokenStore } from '../../gateway/auth/sqlite-token-store.ts';
import { runTokenStoreConformance } from './token-store.conformance.ts';

runTokenStoreConformance('sqlite', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-tokens-'));
  const others: string[] = [];
  return {
    store: SqliteTokenStore.inDataDir(dir),
    another: async () => SqliteTokenStore.inDataDir(dir),
    fresh: async () => {
      const other = mkdtempSync(path.join(tmpdir(), 'gw-tokens-'));
      others.push(other);
      return SqliteTokenStore.inDataDir(other);
    },
    storedText: async () =>
      ['auth.sqlite', 'auth.sqlite-wal']
        .map((name) => path.join(dir, name))
        .filter((file) => existsSync(file))
        .map((file) => readFileSync(file).toString('latin1'))
        .join('\n'),
    cleanup: async () => {
      for (const d of [dir, ...others]) rmSync(d, { recursive: true, force: true });
    },
  };
});

describe('SqliteTokenStore.openExisting: the source of `gw token import`', () => {
  const dirs: string[] = [];
  const work = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gw-tokens-source-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a missing file without creating it, and a database without tokens without changing it', async () => {
    const missing = path.join(work(), 'auth.sqlite');
    expect(() => SqliteTokenStore.openExisting(missing)).toThrow(`no token store at ${missing}`);
    expect(existsSync(missing)).toBe(false);

    const other = path.join(work(), 'audit.sqlite');
    const db = new Database(other);
    db.exec('CREATE TABLE audit_event (seq INTEGER PRIMARY KEY)');
    db.close();
    const before = readFileSync(other);
    expect(() => SqliteTokenStore.openExisting(other)).toThrow(/is not a token store/);
    expect(readFileSync(other).equals(before)).toBe(true);
  });

  it('a file from before the scraper role: opened as the store, its table takes scrapers and keeps every token; as an import source it is left as it is', async () => {
    const dir = work();
    const file = path.join(dir, 'auth.sqlite');
    const db = new Database(file);
    const oldTable = `CREATE TABLE tokens (id TEXT PRIMARY KEY, secret_hash BLOB NOT NULL,
      role TEXT NOT NULL CHECK (role IN ('auditor', 'operator')), scope TEXT NOT NULL, name TEXT NOT NULL,
      created_at TEXT NOT NULL, created_by TEXT NOT NULL, expires_at TEXT NOT NULL, revoked_at TEXT,
      permissions TEXT NOT NULL DEFAULT '') STRICT`;
    db.exec(oldTable);
    const secret = 'A'.repeat(43);
    db.prepare('INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
      '0123456789ab',
      createHash('sha256').update(secret).digest(),
      'auditor',
      'land:SN',
      'vorher',
      '2026-01-01T00:00:00.000Z',
      'cli',
      '2099-01-01T00:00:00.000Z',
      null,
      'audit-payload',
    );
    db.close();
    const tableSql = () => {
      const reader = new Database(file, { readonly: true });
      try {
        return (
          reader.prepare("SELECT sql FROM sqlite_master WHERE name = 'tokens'").get() as { sql: string }
        ).sql;
      } finally {
        reader.close();
      }
    };

    const source = SqliteTokenStore.openExisting(file);
    const before = await source.exportAll();
    await source.close();
    expect(tableSql()).toBe(oldTable);

    const store = SqliteTokenStore.inDataDir(dir);
    try {
      expect(await store.exportAll()).toEqual(before);
      expect(await store.authenticate(`gwt_0123456789ab_${secret}`)).toMatchObject({
        role: 'auditor',
        scope: 'land:SN',
        permissions: ['audit-payload'],
      });
      const scraper = await store.issue({
        role: 'scraper',
        scope: '*',
        lifetimeMs: 60_000,
        createdBy: 'cli',
      });
      expect((await store.authenticate(scraper.token)).role).toBe('scraper');
      // Opened again (the next process): nothing left to rebuild, nothing lost.
      const again = SqliteTokenStore.inDataDir(dir);
      expect((await again.list()).map((r) => r.role)).toEqual(['auditor', 'scraper']);
      await again.close();
    } finally {
      await store.close();
    }
    // The table itself refuses a scraper wider than /metrics, whoever writes it.
    const raw = new Database(file);
    try {
      const insert = raw.prepare(
        `INSERT INTO tokens (id, secret_hash, role, scope, name, created_at, created_by, expires_at, permissions)
         VALUES (?, zeroblob(32), ?, ?, '', '2026-01-01T00:00:00.000Z', 'sql', '2099-01-01T00:00:00.000Z', ?)`,
      );
      expect(() => insert.run('aaaaaaaaaaaa', 'scraper', 'land:SN', '')).toThrow(/CHECK constraint failed/);
      expect(() => insert.run('bbbbbbbbbbbb', 'scraper', '*', 'audit-payload')).toThrow(
        /CHECK constraint failed/,
      );
      expect(() => insert.run('cccccccccccc', 'system', '*', '')).toThrow(/CHECK constraint failed/);
    } finally {
      raw.close();
    }
  });

  it('exports the tokens of a file written before permissions existed, hashes as stored', async () => {
    const legacy = path.join(work(), 'auth.sqlite');
    const db = new Database(legacy);
    db.exec(`CREATE TABLE tokens (id TEXT PRIMARY KEY, secret_hash BLOB NOT NULL,
      role TEXT NOT NULL CHECK (role IN ('auditor', 'operator')), scope TEXT NOT NULL, name TEXT NOT NULL,
      created_at TEXT NOT NULL, created_by TEXT NOT NULL, expires_at TEXT NOT NULL, revoked_at TEXT) STRICT`);
    const hash = createHash('sha256').update('A'.repeat(43)).digest();
    db.prepare('INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
      '0123456789ab',
      hash,
      'auditor',
      'land:SN',
      'vorher',
      '2026-01-01T00:00:00.000Z',
      'cli',
      '2099-01-01T00:00:00.000Z',
      '2026-02-01T00:00:00.000Z',
    );
    db.close();
    const source = SqliteTokenStore.openExisting(legacy);
    try {
      expect(await source.exportAll()).toEqual([
        {
          record: {
            id: '0123456789ab',
            role: 'auditor',
            scope: 'land:SN',
            name: 'vorher',
            createdAt: '2026-01-01T00:00:00.000Z',
            createdBy: 'cli',
            expiresAt: '2099-01-01T00:00:00.000Z',
            revokedAt: '2026-02-01T00:00:00.000Z',
            permissions: [],
          },
          secretHash: hash,
        },
      ]);
    } finally {
      await source.close();
    }
  });
});
