/** Bearer tokens in a real SQLite file: hashed at rest, expiring, revocable across processes' handles. */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../errors/catalogue.ts';
import { parseScope, scopeCovers } from './roles.ts';
import { SqliteTokenStore } from './sqlite-token-store.ts';
import { parseDuration, statusOf } from './tokens.ts';

const work = mkdtempSync(path.join(tmpdir(), 'gw-tokens-'));
const file = path.join(work, 'auth.sqlite');
const stores: SqliteTokenStore[] = [];

function store(): SqliteTokenStore {
  const opened = new SqliteTokenStore(file);
  stores.push(opened);
  return opened;
}

async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (error) {
    return isGatewayError(error) ? `${error.code}: ${error.message}` : String(error);
  }
  return undefined;
}

afterAll(async () => {
  for (const opened of stores) await opened.close();
  rmSync(work, { recursive: true, force: true });
});

describe('SqliteTokenStore', () => {
  it('issues a token that authenticates, with role and scope; only a hash is stored', async () => {
    const tokens = store();
    const { token, record } = await tokens.issue({
      role: 'auditor',
      scope: 'land:SN',
      name: 'Datenschutz Sachsen',
      lifetimeMs: parseDuration('30d'),
      createdBy: 'cli',
    });
    expect(token).toMatch(/^gwt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const holder = await tokens.authenticate(token);
    expect(holder).toMatchObject({
      id: record.id,
      role: 'auditor',
      scope: 'land:SN',
      name: 'Datenschutz Sachsen',
    });
    expect(holder.parsedScope).toEqual({ kind: 'land', land: 'SN' });
    const secret = token.split('_').slice(2).join('_');
    for (const name of ['auth.sqlite', 'auth.sqlite-wal']) {
      const bytes = readFileSync(path.join(work, name));
      expect(bytes.includes(Buffer.from(secret))).toBe(false);
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('refuses malformed, unknown and tampered tokens', async () => {
    const tokens = store();
    const { token } = await tokens.issue({
      role: 'operator',
      scope: '*',
      lifetimeMs: 60_000,
      createdBy: 'cli',
    });
    expect(await codeOf(() => tokens.authenticate('nonsense'))).toBe('GW_ERR_TOKEN_INVALID: malformed token');
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    expect(await codeOf(() => tokens.authenticate(token.slice(0, -1) + last))).toBe(
      'GW_ERR_TOKEN_INVALID: unknown token',
    );
    expect(await codeOf(() => tokens.authenticate(`gwt_000000000000_${token.slice(-43)}`))).toBe(
      'GW_ERR_TOKEN_INVALID: unknown token',
    );
  });

  it('expires', async () => {
    const tokens = store();
    const issuedAt = new Date('2030-01-01T00:00:00Z');
    const { token, record } = await tokens.issue({
      role: 'auditor',
      scope: '*',
      lifetimeMs: parseDuration('12h'),
      createdBy: 'cli',
      now: issuedAt,
    });
    expect((await tokens.authenticate(token, new Date('2030-01-01T11:59:59Z'))).id).toBe(record.id);
    expect(await codeOf(() => tokens.authenticate(token, new Date('2030-01-01T12:00:00Z')))).toBe(
      `GW_ERR_TOKEN_INVALID: token ${record.id} is expired`,
    );
    expect(statusOf(record, new Date('2030-01-02T00:00:00Z'))).toBe('expired');
  });

  it('a revocation through one handle is seen by another on the next check', async () => {
    const server = store();
    const cli = store();
    const { token, record } = await cli.issue({
      role: 'auditor',
      scope: 'land:TH',
      lifetimeMs: 60_000,
      createdBy: 'cli',
    });
    expect((await server.authenticate(token)).id).toBe(record.id);
    expect((await cli.revoke(record.id))?.changed).toBe(true);
    expect((await cli.revoke(record.id))?.changed).toBe(false);
    expect(await cli.revoke('ffffffffffff')).toBeUndefined();
    expect(await codeOf(() => server.authenticate(token))).toBe(
      `GW_ERR_TOKEN_INVALID: token ${record.id} is revoked`,
    );
    const listed = (await server.list()).find((r) => r.id === record.id)!;
    expect(statusOf(listed)).toBe('revoked');
    expect(JSON.stringify(await server.list())).not.toContain('secret');
  });

  it('admits tokens of a file written before permissions existed: same table, format and hash', async () => {
    const legacy = path.join(work, 'legacy', 'auth.sqlite');
    mkdirSync(path.dirname(legacy));
    const db = new Database(legacy);
    db.exec(`CREATE TABLE tokens (id TEXT PRIMARY KEY, secret_hash BLOB NOT NULL,
      role TEXT NOT NULL CHECK (role IN ('auditor', 'operator')), scope TEXT NOT NULL, name TEXT NOT NULL,
      created_at TEXT NOT NULL, created_by TEXT NOT NULL, expires_at TEXT NOT NULL, revoked_at TEXT) STRICT`);
    const secret = 'A'.repeat(43);
    db.prepare('INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)').run(
      '0123456789ab',
      createHash('sha256').update(secret).digest(),
      'auditor',
      'land:SN',
      'vorher',
      '2026-01-01T00:00:00.000Z',
      'cli',
      '2099-01-01T00:00:00.000Z',
    );
    db.close();
    const tokens = new SqliteTokenStore(legacy);
    stores.push(tokens);
    expect(await tokens.authenticate(`gwt_0123456789ab_${secret}`)).toMatchObject({
      id: '0123456789ab',
      name: 'vorher',
      permissions: [],
    });
  });

  it('validates scope and lifetime', async () => {
    const tokens = store();
    for (const scope of ['land:XX', 'land:sn', 'all', 'system:', '']) {
      expect(
        await codeOf(() => tokens.issue({ role: 'auditor', scope, lifetimeMs: 60_000, createdBy: 'cli' })),
      ).toMatch(/^GW_ERR_BAD_REQUEST/);
    }
    expect(
      await codeOf(() =>
        tokens.issue({ role: 'auditor', scope: '*', lifetimeMs: parseDuration('400d'), createdBy: 'cli' }),
      ),
    ).toMatch(/^GW_ERR_BAD_REQUEST/);
    expect(await codeOf(() => parseDuration('30 days'))).toMatch(/^GW_ERR_BAD_REQUEST/);
    expect(parseDuration('90m')).toBe(5_400_000);
  });
});

describe('scopes', () => {
  it('cover systems by Land or id', () => {
    const sn = { id: 'sn-melde', land: 'SN' };
    const st = { id: 'st-melde', land: 'ST' };
    expect(scopeCovers(parseScope('land:SN')!, sn)).toBe(true);
    expect(scopeCovers(parseScope('land:SN')!, st)).toBe(false);
    expect(scopeCovers(parseScope('system:st-melde')!, st)).toBe(true);
    expect(scopeCovers(parseScope('system:st-melde')!, sn)).toBe(false);
    expect(scopeCovers(parseScope('*')!, st)).toBe(true);
  });
});
