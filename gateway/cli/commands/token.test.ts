/**
 * `gw token` in-process against real SQLite stores in a temporary data directory: the revocation is
 * audited under its own kind, `token-revoked`, naming the token, not as a second `token-issued`;
 * revoking it again records nothing. A scraper token is issued with the scope `*` only and no
 * permission; asking for more is refused with a reason.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqliteAuditStore } from '../../audit/sqlite-audit-store.ts';
import { SqliteTokenStore } from '../../auth/sqlite-token-store.ts';
import { tokenCommand } from './token.ts';

let dataDir: string;
let stdout: string;

/** Runs `gw token <args…>` in this process; answers what it printed on stdout. */
async function gwToken(...args: string[]): Promise<string> {
  stdout = '';
  await tokenCommand().exitOverride().parseAsync(args, { from: 'user' });
  return stdout;
}

async function tokenEvents() {
  const store = new SqliteAuditStore({ file: path.join(dataDir, 'audit.sqlite') });
  try {
    return (await store.query({ limit: 100_000 })).filter((e) => e.kind.startsWith('token-'));
  } finally {
    await store.close();
  }
}

beforeEach(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'gw-token-cli-'));
  vi.stubEnv('GATEWAY_DATA_DIR', dataDir);
  vi.stubEnv('GATEWAY_CONFIG', undefined);
  vi.stubEnv('DATABASE_URL', undefined);
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('gw token revoke', () => {
  it('audits the revocation as token-revoked, once', async () => {
    const token = (
      await gwToken('issue', '--role', 'auditor', '--scope', 'land:SN', '--expires', '1h')
    ).trim();
    const id = token.split('_')[1]!;
    expect(await gwToken('revoke', id)).toMatch(/^revoked token/);
    expect(await gwToken('revoke', id)).toMatch(/already revoked/);

    const events = await tokenEvents();
    expect(events.map((e) => ({ kind: e.kind, actor: e.actor, messageId: e.messageId }))).toEqual([
      { kind: 'token-issued', actor: 'cli', messageId: null },
      { kind: 'token-revoked', actor: 'cli', messageId: null },
    ]);
    expect(events[1]!.detail).toEqual({ tokenId: id, role: 'auditor', scope: 'land:SN' });
  });
});

describe('gw token issue --role scraper', () => {
  it('issues a token of scope * that reads /metrics only, audited like any issuance', async () => {
    const token = (
      await gwToken('issue', '--role', 'scraper', '--name', 'prometheus', '--expires', '90d')
    ).trim();
    const explicit = (await gwToken('issue', '--role', 'scraper', '--scope', '*')).trim();
    const store = SqliteTokenStore.inDataDir(dataDir);
    try {
      for (const t of [token, explicit]) {
        expect(await store.authenticate(t)).toMatchObject({ role: 'scraper', scope: '*', permissions: [] });
      }
    } finally {
      await store.close();
    }
    const [event] = await tokenEvents();
    expect(event).toMatchObject({
      kind: 'token-issued',
      detail: { tokenId: token.split('_')[1], role: 'scraper', scope: '*', permissions: [] },
    });
  });

  it('refuses a narrower scope or a permission, naming why; nothing is issued or audited', async () => {
    await expect(gwToken('issue', '--role', 'scraper', '--scope', 'land:SN')).rejects.toThrow(
      'a scraper token reads /metrics, which covers every system: it takes no --scope but * (got "land:SN")',
    );
    await expect(gwToken('issue', '--role', 'scraper', '--permit', 'audit-payload')).rejects.toThrow(
      'a scraper token reads /metrics and nothing else: it takes no --permit',
    );
    const store = SqliteTokenStore.inDataDir(dataDir);
    try {
      expect(await store.list()).toEqual([]);
    } finally {
      await store.close();
    }
    expect(await tokenEvents()).toEqual([]);
  });
});
