/**
 * Tamper evidence on the PostgreSQL store: the export suite, the append-only triggers (UPDATE,
 * DELETE, TRUNCATE refused), and rows changed by a superuser who disabled them, found by verify.
 */
import { describe, expect, it } from 'vitest';
import { PgAuditStore } from '../../gateway/audit/pg-audit-store.ts';
import { verifyExport } from '../../gateway/audit/verify-export.ts';
import { auditEvent, testAuditKey } from './audit-store.conformance.ts';
import { collect, runAuditTamperSuite } from './audit-tamper.conformance.ts';
import { dropSchema, freshSchemaName, PG_URL, withPgClient } from './pg-test-schema.ts';

runAuditTamperSuite('postgres', async () => {
  const schema = freshSchemaName('tamper');
  return { store: await PgAuditStore.connect({ url: PG_URL, schema }), cleanup: () => dropSchema(schema) };
});

describe('PgAuditStore tampered in the database', () => {
  it('refuses UPDATE, DELETE and TRUNCATE; verify finds what a superuser changed anyway', async () => {
    const schema = freshSchemaName('tamperdb');
    const key = testAuditKey();
    const store = await PgAuditStore.connect({ url: PG_URL, schema });
    try {
      await store.append(Array.from({ length: 10 }, () => auditEvent()));
      await store.append(
        Array.from({ length: 4 }, () => auditEvent()),
        'side',
      );
      await store.createCheckpoint(key.signer);
      const [original] = await store.query({ chain: 'main', fromSeq: 6, toSeq: 6 });
      await withPgClient(schema, async (client) => {
        for (const sql of [
          "UPDATE audit_entries SET actor = 'cli' WHERE seq = 3",
          'DELETE FROM audit_entries WHERE seq = 3',
          'TRUNCATE audit_entries',
          "UPDATE audit_checkpoints SET time = 'x'",
          'DELETE FROM audit_checkpoints',
          'DELETE FROM audit_checkpoint_heads',
        ]) {
          await expect(client.query(sql), sql).rejects.toThrow(/append-only/);
        }
        await client.query('ALTER TABLE audit_entries DISABLE TRIGGER USER');
        await client.query(`UPDATE audit_entries SET detail = '{"n":0}' WHERE chain = 'main' AND seq = 6`);
        await client.query('ALTER TABLE audit_entries ENABLE TRIGGER USER');
      });
      expect(await verifyExport(await collect(store), { publicKey: key.publicKey })).toMatchObject({
        ok: false,
        failure: { reason: 'hash-mismatch', chain: 'main', firstBadSeq: 6 },
      });
      // Put main 6 back, and delete the end of side instead: checkpoint 1 signed side up to seq 4.
      await withPgClient(schema, async (client) => {
        await client.query('ALTER TABLE audit_entries DISABLE TRIGGER USER');
        await client.query(`UPDATE audit_entries SET detail = $1 WHERE chain = 'main' AND seq = 6`, [
          JSON.stringify(original!.detail),
        ]);
        await client.query(`DELETE FROM audit_entries WHERE chain = 'side' AND seq = 4`);
        await client.query('ALTER TABLE audit_entries ENABLE TRIGGER USER');
      });
      expect(await verifyExport(await collect(store), { publicKey: key.publicKey })).toMatchObject({
        ok: false,
        failure: { reason: 'truncated', chain: 'side', firstBadSeq: 4, checkpoint: 1 },
      });
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });
});
