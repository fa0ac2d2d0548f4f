/**
 * `gw audit …` and `gw db migrate` as an operator and an auditor run them: real processes, exit
 * codes, the export on stdout, verify with nothing but the file and audit.pub.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PgAuditStore } from '../../gateway/audit/pg-audit-store.ts';
import { SqliteAuditStore } from '../../gateway/audit/sqlite-audit-store.ts';
import { verifyExport } from '../../gateway/audit/verify-export.ts';
import { verifyInclusionProof } from '../../gateway/audit/verify-proof.ts';
import type { AuditEntry, InclusionProof } from '../../gateway/ports/audit-store.ts';
import { auditEvent } from './audit-store.conformance.ts';
import { dropSchema, freshSchemaName, PG_URL } from './pg-test-schema.ts';

const GW = fileURLToPath(new URL('../../bin/gw.js', import.meta.url));
const dirs: string[] = [];
const schemas: string[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const s of schemas) await dropSchema(s);
});

function gw(args: string[], env: Record<string, string>, stdoutFile?: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [GW, ...args], {
      env: {
        ...process.env,
        GATEWAY_LOG_LEVEL: 'silent',
        GATEWAY_KEY_PASSPHRASE: 'cli-test-passphrase',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    child.once('exit', (code) => {
      if (stdoutFile) writeFileSync(stdoutFile, stdout);
      resolve({ code, stdout, stderr });
    });
  });
}

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-audit-cli-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'pki'), { recursive: true });
  return dir;
}

describe('gw audit (SQLite)', () => {
  it('checkpoints, exports, verifies (exit 0), finds a tampered entry (exit 1), and proves a message', async () => {
    const dir = dataDir();
    const env = { GATEWAY_DATA_DIR: dir };
    const store = new SqliteAuditStore({ file: join(dir, 'audit.sqlite') });
    await store.append(
      Array.from({ length: 8 }, (_, i) => auditEvent({ messageId: i < 4 ? 'msg-a' : 'msg-b' })),
    );
    await store.close();

    const checkpoint = await gw(['audit', 'checkpoint'], env);
    expect(checkpoint).toMatchObject({ code: 0 });
    expect(checkpoint.stdout).toMatch(/checkpoint #1: 8 entries, root [0-9a-f]{64}/);

    const file = join(dir, 'log.jsonl');
    const exported = await gw(['audit', 'export'], env, file);
    expect(exported.code).toBe(0);
    expect(exported.stderr).toMatch(/exported 8 entries and 1 checkpoints/);
    const pub = join(dir, 'pki', 'audit.pub');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[5] = lines[5]!.replace('"actor":"system:sn-melde"', '"actor":"system:th-melde"');
    const tampered = join(dir, 'tampered.jsonl');
    writeFileSync(tampered, lines.join('\n'));
    // Independent processes: run them side by side.
    const [ok, bad, proof] = await Promise.all([
      gw(['audit', 'verify', file, '--checkpoint-key', pub], {}),
      gw(['audit', 'verify', tampered, '--checkpoint-key', pub], {}),
      gw(['audit', 'proof', 'msg-b'], env),
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^OK: 8 entries in 1 chain\(s\), 1 checkpoint\(s\)/);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAILED \(hash-mismatch; chain main, first bad seq 5, line 6\)/);

    // The export itself is audited.
    const after = new SqliteAuditStore({ file: join(dir, 'audit.sqlite') });
    const [exportEvent] = await after.query({ kind: 'audit-export' });
    await after.close();
    expect(exportEvent).toMatchObject({
      actor: 'cli',
      detail: { entries: 8, checkpoints: 1, from: null, to: null },
    });

    expect(proof.code).toBe(0);
    const proofs = JSON.parse(proof.stdout) as Array<{ entry: AuditEntry; proof: InclusionProof }>;
    expect(proofs).toHaveLength(4);
    for (const p of proofs) {
      expect(await verifyInclusionProof(p.proof, readFileSync(pub, 'utf8'), p.entry)).toEqual({ ok: true });
    }
  }, 180_000);
});

describe('gw loads a command only when it runs', () => {
  it('still lists every command with its description, and builds a group only when named', async () => {
    const help = await gw(['--help'], {});
    expect(help.code).toBe(0);
    for (const [name, description] of [
      ['start', 'start the gateway'],
      ['send', 'send a native payload'],
      ['demo', 'play the demo flow'],
      ['dlq', 'the dead-letter queues'],
      ['pki', 'the gateway CA'],
      ['token', 'bearer tokens'],
      ['sign', 'sign an XML document'],
      ['verify', 'verify the enveloped XML signature'],
      ['adapter', 'the adapter SDK'],
      ['audit', 'export, verify and prove'],
      ['db', 'the PostgreSQL database'],
      ['standards', 'the standards catalogue'],
    ]) {
      expect(help.stdout).toMatch(new RegExp(`\\n  ${name}\\b[^\\n]*${description}`));
    }
    const audit = await gw(['help', 'audit'], {});
    expect(audit.stdout).toMatch(/Usage: gw audit[\s\S]*export[\s\S]*verify[\s\S]*checkpoint[\s\S]*proof/);
    const pki = await gw(['pki', '--help'], {});
    expect(pki.stdout).toMatch(/Usage: gw pki[\s\S]*issue/);
    expect((await gw(['no-such-command'], {})).code).toBe(1);
  }, 60_000);
});

describe('gw db migrate and gw audit on PostgreSQL', () => {
  it('migrates once, then exports from the database', async () => {
    const schema = freshSchemaName('cli');
    schemas.push(schema);
    const dir = dataDir();
    const env = { GATEWAY_DATA_DIR: dir, DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema };
    const first = await gw(['db', 'migrate'], env);
    expect(first.code).toBe(0);
    // Every migration under deploy/sql, in order, once (other features add their own).
    const migrations = readdirSync(fileURLToPath(new URL('../../deploy/sql/', import.meta.url)))
      .filter((f) => /^\d{3}_.*\.sql$/.test(f))
      .sort();
    expect(migrations.slice(0, 4)).toEqual([
      '001_audit.sql',
      '002_mailbox.sql',
      '003_archive.sql',
      '004_audit_projection.sql',
    ]);
    expect(first.stdout).toBe(
      `${migrations.map((m) => `applied ${m}\n`).join('')}schema ${schema} is at migration ${migrations.length}\n`,
    );
    const store = await PgAuditStore.connect({ url: PG_URL, schema, migrate: false });
    await store.append(Array.from({ length: 3 }, () => auditEvent()));
    await store.close();
    const file = join(dir, 'pg.jsonl');
    const [again, exported] = await Promise.all([
      gw(['db', 'migrate'], env),
      gw(['audit', 'export'], env, file),
    ]);
    expect(again.stdout).toContain(`is at migration ${migrations.length} (nothing to do)`);
    expect(exported.code).toBe(0);
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines.filter((l) => l.startsWith('{"type":"entry"'))).toHaveLength(3);
    expect(await verifyExport(lines)).toMatchObject({ ok: true, entries: 3 });
  }, 180_000);
});
