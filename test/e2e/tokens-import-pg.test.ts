/**
 * Switching a gateway from its data directory's auth.sqlite to PostgreSQL (DATABASE_URL) without
 * re-issuing tokens: tokens issued and revoked by the real `gw token` in the embedded mode are moved
 * by `gw token import`; a gateway on PostgreSQL then admits the live ones over real HTTPS with their
 * role, scope and permissions, and refuses the revoked one (401 GW_ERR_TOKEN_INVALID). A second run
 * imports nothing; a token changed in the old file after the import is a conflict, reported and
 * never written; every imported token has one `token-imported` event in the shared audit log. That
 * event is appended before the token is written: when the audit log refuses it (a real PostgreSQL
 * error, raised by a trigger), the token is not written; when the write fails after it, the next run
 * writes the token without a second event.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import type { AuditEntry } from '../../gateway/ports/audit-store.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from '../conformance/pg-test-schema.ts';
import { startTestGateway, TEST_PASSPHRASE, type TestGateway, tempDir } from '../support/gateway.ts';

const GW = path.join(REPO_ROOT, 'bin/gw.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Whoami {
  role: string;
  tokenId: string;
  scope: string;
  name: string;
  permissions: string[];
}

/** The real `gw`, as its own process, with the given environment on top of this one's. */
function gw(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GW, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, GATEWAY_LOG_LEVEL: 'silent', GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const idOf = (token: string) => token.slice(4, 16);

describe('gw token import: from the embedded auth.sqlite into PostgreSQL', () => {
  const schema = freshSchemaName('tokens_import');
  let embedded: TestGateway;
  let shared: TestGateway;
  let source: string;
  /** `gw` beside the embedded gateway (its data directory, no DATABASE_URL). */
  let embeddedEnv: Record<string, string>;
  /** `gw` beside the gateway on PostgreSQL. */
  let sharedEnv: Record<string, string>;
  const tokens = { auditor: '', operator: '', revoked: '' };

  async function whoami(at: TestGateway, token: string) {
    const r = await at.client(null).call<Whoami & { code: string }>('GET', '/v1/auth/whoami', undefined, {
      authorization: `Bearer ${token}`,
    });
    return r.status === 200
      ? {
          status: r.status,
          role: r.body.role,
          scope: r.body.scope,
          name: r.body.name,
          permissions: r.body.permissions,
        }
      : { status: r.status, code: r.body.code };
  }

  async function imports(): Promise<AuditEntry[]> {
    return shared.gateway.auditStore.query({ kind: 'token-imported', limit: 100_000 });
  }

  beforeAll(async () => {
    // Before the switch: one host, tokens in <dataDir>/auth.sqlite, issued and revoked by `gw token`.
    embedded = await startTestGateway({ dataDir: tempDir('tokens-import-embedded') });
    embeddedEnv = {
      GATEWAY_DATA_DIR: embedded.dataDir,
      GATEWAY_CONTRACTS_DIR: embedded.contractsDir,
      DATABASE_URL: '',
    };
    source = path.join(embedded.dataDir, 'auth.sqlite');
    const issue = async (...args: string[]) => {
      const run = await gw(embeddedEnv, 'token', 'issue', ...args);
      expect(run.code, run.stderr).toBe(0);
      return run.stdout.trim();
    };
    tokens.auditor = await issue(
      '--role',
      'auditor',
      '--scope',
      'land:SN',
      '--name',
      'Prüferin Sachsen',
      '--permit',
      'audit-payload',
    );
    tokens.operator = await issue('--role', 'operator', '--name', 'Leitstand', '--expires', '12h');
    tokens.revoked = await issue(
      '--role',
      'auditor',
      '--scope',
      'system:st-melde',
      '--name',
      'ausgeschieden',
    );
    expect((await gw(embeddedEnv, 'token', 'revoke', idOf(tokens.revoked))).stdout).toMatch(/^revoked token/);
    expect(await whoami(embedded, tokens.auditor)).toMatchObject({ status: 200, role: 'auditor' });
    await embedded.stop();

    // After: a gateway on PostgreSQL, its own data directory, no tokens yet.
    shared = await startTestGateway({
      dataDir: tempDir('tokens-import-shared'),
      env: { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema },
    });
    sharedEnv = {
      GATEWAY_DATA_DIR: shared.dataDir,
      GATEWAY_CONTRACTS_DIR: shared.contractsDir,
      DATABASE_URL: PG_URL,
      DATABASE_SCHEMA: schema,
    };
  }, 120_000);

  afterAll(async () => {
    await shared?.stop();
    await dropSchema(schema);
    for (const gateway of [embedded, shared])
      if (gateway) rmSync(gateway.dataDir, { recursive: true, force: true });
  });

  it('refuses a source that is the configured store itself, a missing file, and a file that is no token store', async () => {
    const itself = await gw(embeddedEnv, 'token', 'import');
    expect(itself.code).toBe(1);
    expect(itself.stderr).toMatch(/GW_ERR_BAD_REQUEST: .*auth\.sqlite is the configured token store itself/);
    const missing = path.join(shared.dataDir, 'nothing-here.sqlite');
    const absent = await gw(sharedEnv, 'token', 'import', '--from', missing);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain(`GW_ERR_NOT_FOUND: no token store at ${missing}`);
    expect(existsSync(missing)).toBe(false);
    const audit = await gw(
      sharedEnv,
      'token',
      'import',
      '--from',
      path.join(embedded.dataDir, 'audit.sqlite'),
    );
    expect(audit.code).toBe(1);
    expect(audit.stderr).toMatch(/GW_ERR_BAD_REQUEST: .*audit\.sqlite is not a token store/);
    expect(await shared.gateway.tokens.list()).toEqual([]);
  });

  it('--dry-run lists what would be imported and writes nothing', async () => {
    const run = await gw(sharedEnv, 'token', 'import', '--from', source, '--dry-run');
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('would import'))).toHaveLength(3);
    expect(run.stdout).toContain(`would import  ${idOf(tokens.revoked)}  auditor  system:st-melde  revoked`);
    expect(lines.at(-1)).toBe(
      `3 tokens in ${source}: would import 3 (1 revoked), already present 0, conflicts 0`,
    );
    expect(await shared.gateway.tokens.list()).toEqual([]);
    expect(await imports()).toEqual([]);
    expect(await whoami(shared, tokens.auditor)).toEqual({ status: 401, code: 'GW_ERR_TOKEN_INVALID' });
  });

  it('imports every token: the live ones admit over HTTPS with their role, scope and permissions, the revoked one is refused; each import is audited once', async () => {
    const run = await gw(sharedEnv, 'token', 'import', '--from', source);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n').at(-1)).toBe(
      `3 tokens in ${source}: imported 3 (1 revoked), already present 0, conflicts 0`,
    );

    expect(await whoami(shared, tokens.auditor)).toEqual({
      status: 200,
      role: 'auditor',
      scope: 'land:SN',
      name: 'Prüferin Sachsen',
      permissions: ['audit-payload'],
    });
    expect(await whoami(shared, tokens.operator)).toEqual({
      status: 200,
      role: 'operator',
      scope: '*',
      name: 'Leitstand',
      permissions: [],
    });
    expect(await whoami(shared, tokens.revoked)).toEqual({ status: 401, code: 'GW_ERR_TOKEN_INVALID' });
    // The role still decides the routes: the auditor reads the audit log, and only the operator the PKI.
    const call = (token: string, route: string) =>
      shared.client(null).call('GET', route, undefined, { authorization: `Bearer ${token}` });
    expect((await call(tokens.auditor, '/v1/audit/messages?limit=1')).status).toBe(200);
    expect((await call(tokens.auditor, '/v1/pki/certificates')).status).toBe(403);
    expect((await call(tokens.operator, '/v1/pki/certificates')).status).toBe(200);

    // Exactly as they were: times, creator and revocation (what `gw token list` showed before).
    const before = JSON.parse((await gw(sharedEnv, 'token', 'list', '--json')).stdout) as { id: string }[];
    const old = await gw(embeddedEnv, 'token', 'list', '--json');
    expect(before).toEqual(JSON.parse(old.stdout));

    const events = await imports();
    expect(events.map((e) => ({ actor: e.actor, detail: e.detail }))).toEqual([
      {
        actor: 'cli',
        detail: expect.objectContaining({
          tokenId: idOf(tokens.auditor),
          role: 'auditor',
          scope: 'land:SN',
          source,
          revokedAt: null,
        }),
      },
      {
        actor: 'cli',
        detail: expect.objectContaining({
          tokenId: idOf(tokens.operator),
          role: 'operator',
          scope: '*',
          source,
        }),
      },
      {
        actor: 'cli',
        detail: expect.objectContaining({
          tokenId: idOf(tokens.revoked),
          role: 'auditor',
          scope: 'system:st-melde',
          revokedAt: expect.any(String),
        }),
      },
    ]);
    const stored = await shared.gateway.tokens.exportAll();
    const trail = JSON.stringify(events);
    for (const { secretHash } of stored) {
      expect(trail).not.toContain(secretHash.toString('hex'));
      expect(trail).not.toContain(secretHash.toString('base64'));
    }
    for (const token of Object.values(tokens)) expect(trail).not.toContain(token.slice(17));
  });

  it('a second run imports nothing and audits nothing', async () => {
    const run = await gw(sharedEnv, 'token', 'import', '--from', source);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.match(/^present {3}/gm)).toHaveLength(3);
    expect(run.stdout.trim().split('\n').at(-1)).toBe(
      `3 tokens in ${source}: imported 0 (0 revoked), already present 3, conflicts 0`,
    );
    expect(await imports()).toHaveLength(3);
  });

  it('a token revoked in the old file after the import is a conflict: reported, exit 1, the target keeps its token; new tokens are imported all the same', async () => {
    // An old pod that still runs on auth.sqlite: it revokes the operator and issues another token.
    expect((await gw(embeddedEnv, 'token', 'revoke', idOf(tokens.operator))).stdout).toMatch(
      /^revoked token/,
    );
    const late = (
      await gw(embeddedEnv, 'token', 'issue', '--role', 'auditor', '--scope', 'land:TH')
    ).stdout.trim();

    const dry = await gw(sharedEnv, 'token', 'import', '--from', source, '--dry-run');
    expect(dry.code).toBe(1);
    expect(dry.stdout).toContain(`would import  ${idOf(late)}  auditor  land:TH  active`);
    expect(await whoami(shared, late)).toEqual({ status: 401, code: 'GW_ERR_TOKEN_INVALID' });

    const run = await gw(sharedEnv, 'token', 'import', '--from', source);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      `conflict  ${idOf(tokens.operator)}  operator  *  revoked: the target's token differs in revokedAt and is kept; revoked in the source only — \`gw token revoke ${idOf(tokens.operator)}\` revokes it here`,
    );
    expect(run.stdout.trim().split('\n').at(-1)).toBe(
      `4 tokens in ${source}: imported 1 (0 revoked), already present 2, conflicts 1`,
    );
    expect(run.stderr).toContain('gw: 1 token(s) conflict with the target');
    // Not overwritten: the operator's token still admits at the gateway on PostgreSQL, and the new one does too.
    expect(await whoami(shared, tokens.operator)).toMatchObject({ status: 200, role: 'operator' });
    expect(await whoami(shared, late)).toMatchObject({ status: 200, role: 'auditor', scope: 'land:TH' });
    expect((await imports()).map((e) => (e.detail as { tokenId: string }).tokenId)).toEqual([
      idOf(tokens.auditor),
      idOf(tokens.operator),
      idOf(tokens.revoked),
      idOf(late),
    ]);

    const skipping = await gw(sharedEnv, 'token', 'import', '--from', source, '--skip-conflicts');
    expect(skipping.code, skipping.stderr).toBe(0);
    expect(skipping.stdout.trim().split('\n').at(-1)).toBe(
      `4 tokens in ${source}: imported 0 (0 revoked), already present 3, conflicts 1`,
    );
    expect(await imports()).toHaveLength(4);
    // The remedy the report names: revoked on both sides, whenever, is the same token; nothing conflicts.
    expect((await gw(sharedEnv, 'token', 'revoke', idOf(tokens.operator))).code).toBe(0);
    expect(await whoami(shared, tokens.operator)).toEqual({ status: 401, code: 'GW_ERR_TOKEN_INVALID' });
    const resolved = await gw(sharedEnv, 'token', 'import', '--from', source);
    expect(resolved.code, resolved.stderr).toBe(0);
    expect(resolved.stdout.trim().split('\n').at(-1)).toBe(
      `4 tokens in ${source}: imported 0 (0 revoked), already present 4, conflicts 0`,
    );
    expect(await imports()).toHaveLength(4);
  }, 60_000);
  /** Makes `table` refuse inserts (WHEN `when`) with a real PostgreSQL error until the returned undo. */
  async function refuseInserts(table: string, when: string): Promise<() => Promise<void>> {
    const name = `refuse_${table}`;
    await withPgClient(schema, async (c) => {
      await c.query(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'test: % refuses this insert', TG_TABLE_NAME; END $$`);
      await c.query(
        `CREATE TRIGGER ${name} BEFORE INSERT ON ${table} FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION ${name}()`,
      );
    });
    return () =>
      withPgClient(schema, async (c) => {
        await c.query(`DROP TRIGGER ${name} ON ${table}`);
        await c.query(`DROP FUNCTION ${name}()`);
      });
  }

  const eventsOf = async (token: string) =>
    (await imports()).filter((e) => (e.detail as { tokenId: string }).tokenId === idOf(token));

  it('an audit log that refuses the token-imported event: the run fails and the token is not written; the next run writes and audits it once', async () => {
    const late = (
      await gw(embeddedEnv, 'token', 'issue', '--role', 'auditor', '--scope', 'land:BY')
    ).stdout.trim();
    const undo = await refuseInserts('audit_entries', "NEW.kind = 'token-imported'");
    let failed: Run;
    try {
      failed = await gw(sharedEnv, 'token', 'import', '--from', source);
    } finally {
      await undo();
    }
    expect(failed.code, failed.stdout).toBe(1);
    expect(failed.stderr).toContain('audit_entries refuses this insert');
    expect((await shared.gateway.tokens.list()).map((r) => r.id)).not.toContain(idOf(late));
    expect(await whoami(shared, late)).toEqual({ status: 401, code: 'GW_ERR_TOKEN_INVALID' });
    expect(await eventsOf(late)).toEqual([]);

    const run = await gw(sharedEnv, 'token', 'import', '--from', source);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n').at(-1)).toBe(
      `5 tokens in ${source}: imported 1 (0 revoked), already present 4, conflicts 0`,
    );
    expect(await whoami(shared, late)).toMatchObject({ status: 200, role: 'auditor', scope: 'land:BY' });
    expect(await eventsOf(late)).toHaveLength(1);
  }, 60_000);

  it('a token write that fails after its event: the token is not there, and the next run writes it without a second event', async () => {
    const late = (
      await gw(embeddedEnv, 'token', 'issue', '--role', 'auditor', '--scope', 'land:HE')
    ).stdout.trim();
    const undo = await refuseInserts('auth_token', 'true');
    let failed: Run;
    try {
      failed = await gw(sharedEnv, 'token', 'import', '--from', source);
    } finally {
      await undo();
    }
    expect(failed.code, failed.stdout).toBe(1);
    expect(failed.stderr).toContain('auth_token refuses this insert');
    expect(await whoami(shared, late)).toEqual({ status: 401, code: 'GW_ERR_TOKEN_INVALID' });
    const [first, ...more] = await eventsOf(late);
    expect(more).toEqual([]);
    expect(first?.detail).toMatchObject({ tokenId: idOf(late), role: 'auditor', scope: 'land:HE', source });

    const run = await gw(sharedEnv, 'token', 'import', '--from', source);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n').at(-1)).toBe(
      `6 tokens in ${source}: imported 1 (0 revoked), already present 5, conflicts 0`,
    );
    expect(await whoami(shared, late)).toMatchObject({ status: 200, role: 'auditor', scope: 'land:HE' });
    expect(await eventsOf(late)).toEqual([first]);
    expect(await imports()).toHaveLength(6);
  }, 60_000);
});
