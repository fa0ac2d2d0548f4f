/**
 * The DocumentArchive conformance suite (SQLite and PostgreSQL): documents are encrypted at rest,
 * bound to their row, kept for their contract's retention, then crypto-shredded — after which the
 * audit log, which holds only their digests, still verifies.
 */
import { hash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyExport } from '../../gateway/audit/verify-export.ts';
import type { AuditStore } from '../../gateway/ports/audit-store.ts';
import type { ArchiveDocumentInput, DocumentArchive } from '../../gateway/ports/document-archive.ts';
import { auditEvent, testAuditKey } from './audit-store.conformance.ts';
import { collect } from './audit-tamper.conformance.ts';

export interface ArchiveFixture {
  archive: DocumentArchive;
  /** The same storage opened again, with this passphrase. */
  reopen: (passphrase: string) => Promise<DocumentArchive>;
  /** An audit store in the same backend, for the shredding-and-verify test. */
  auditStore: () => Promise<AuditStore>;
  /** Raw SQL on the archive's storage (both dialects understand what the suite sends). */
  sql: (statement: string) => Promise<Array<Record<string, unknown>>>;
  cleanup: () => Promise<void>;
}

export const ARCHIVE_PASSPHRASE = 'archive-test-passphrase';
const DAY = 86_400_000;

function signedDocument(n: number): { document: Buffer; digest: string } {
  const document = Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><xmeld:rueckmeldung n="${n}"><name>Müller, Jürgen</name><ds:Signature/></xmeld:rueckmeldung>`,
  );
  return { document, digest: hash('sha256', document, 'hex') };
}

function doc(n: number, archivedAt: Date, retentionDays: number): ArchiveDocumentInput {
  return {
    messageId: `msg-${n}`,
    contentType: 'application/xml',
    archivedAt: archivedAt.toISOString(),
    retentionDays,
    ...signedDocument(n),
  };
}

export function runArchiveConformance(name: string, factory: () => Promise<ArchiveFixture>): void {
  describe(`DocumentArchive conformance: ${name}`, () => {
    let fixture: ArchiveFixture;
    let archive: DocumentArchive;
    const opened: Array<{ close(): Promise<void> }> = [];
    const now = new Date();

    beforeEach(async () => {
      fixture = await factory();
      archive = fixture.archive;
    });

    afterEach(async () => {
      for (const o of opened.splice(0)) await o.close();
      await archive.close();
      await fixture.cleanup();
    });

    it('takes concurrent puts: each document once, a bad one refused alone, all readable', async () => {
      const docs = Array.from({ length: 40 }, (_, i) => doc(100 + i, now, 30));
      const bad = { ...doc(200, now, 30), digest: 'cd'.repeat(32) };
      const results = await Promise.allSettled([
        ...docs.map((d) => archive.put(d)),
        archive.put(bad),
        ...docs.slice(0, 10).map((d) => archive.put(d)),
      ]);
      const stored = results.filter((r) => r.status === 'fulfilled' && r.value.stored).length;
      const repeats = results.filter((r) => r.status === 'fulfilled' && !r.value.stored).length;
      expect([stored, repeats]).toEqual([40, 10]);
      expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
      expect(await archive.get('msg-200')).toEqual([]);
      for (const d of docs) {
        const [got] = await archive.get(d.messageId);
        expect(got?.status === 'available' && got.document.equals(d.document)).toBe(true);
      }
    });

    it('stores a document once, encrypted, and gives it back byte for byte', async () => {
      const d = doc(1, now, 730);
      const expected = new Date(now.getTime() + 730 * DAY).toISOString().slice(0, 10);
      expect(await archive.put(d)).toEqual({ stored: true, expiresOn: expected });
      expect(await archive.put(d)).toEqual({ stored: false, expiresOn: expected });
      const [got] = await archive.get('msg-1');
      expect(got).toEqual({
        status: 'available',
        messageId: 'msg-1',
        digest: d.digest,
        contentType: 'application/xml',
        archivedAt: d.archivedAt,
        expiresOn: expected,
        document: d.document,
      });
      expect(await archive.get('unknown')).toEqual([]);
      // At rest there is neither the document nor a bare key.
      const rows = await fixture.sql('SELECT ciphertext FROM archive_documents');
      const blob = Buffer.from(rows[0]!.ciphertext as Uint8Array);
      expect(blob.includes(Buffer.from('Müller'))).toBe(false);
      expect(blob.length).toBe(d.document.length + 28);
      const keys = await fixture.sql('SELECT wrapped_key FROM archive_keys');
      expect(keys).toHaveLength(1);
      expect(Buffer.from(keys[0]!.wrapped_key as Uint8Array).length).toBe(12 + 32 + 16);
    });

    it('refuses a document that does not match its digest, and one already past retention', async () => {
      await expect(archive.put({ ...doc(2, now, 10), digest: 'ab'.repeat(32) })).rejects.toThrow(/digest/);
      expect(await archive.put(doc(3, new Date(now.getTime() - 40 * DAY), 30))).toMatchObject({
        stored: false,
      });
      expect(await archive.get('msg-3')).toEqual([]);
    });

    it('uses one data key per expiry day', async () => {
      await archive.put(doc(4, now, 30));
      await archive.put(doc(5, now, 30));
      await archive.put(doc(6, now, 31));
      expect(await fixture.sql('SELECT expires_on FROM archive_keys ORDER BY expires_on')).toHaveLength(2);
    });

    it('does not decrypt a ciphertext moved to another row', async () => {
      await archive.put(doc(7, now, 30));
      await archive.put(doc(8, now, 30));
      await fixture.sql(
        `UPDATE archive_documents SET ciphertext = (SELECT ciphertext FROM archive_documents WHERE message_id = 'msg-8')
         WHERE message_id = 'msg-7'`,
      );
      await expect(archive.get('msg-7')).rejects.toThrow();
      expect((await archive.get('msg-8'))[0]!.status).toBe('available');
    });

    it('crypto-shreds expired days: keys destroyed, documents unreadable, the rest intact', async () => {
      await archive.put(doc(10, now, 1));
      await archive.put(doc(11, now, 1));
      await archive.put(doc(12, now, 3));
      await archive.put(doc(13, now, 730));
      expect(await archive.shred(now)).toEqual({ keys: 0, documents: 0 });
      // Retention is inclusive of the expiry day: on it, nothing goes yet.
      expect(await archive.shred(new Date(now.getTime() + DAY))).toEqual({ keys: 0, documents: 0 });
      const later = new Date(now.getTime() + 2 * DAY);
      expect(await archive.shred(later)).toEqual({ keys: 1, documents: 2 });
      expect(await archive.shred(later)).toEqual({ keys: 0, documents: 0 });
      for (const id of ['msg-10', 'msg-11']) {
        expect((await archive.get(id))[0]).toMatchObject({
          status: 'shredded',
          shreddedAt: later.toISOString(),
        });
      }
      expect((await archive.get('msg-12'))[0]!.status).toBe('available');
      expect(
        (await fixture.sql("SELECT ciphertext FROM archive_documents WHERE message_id = 'msg-10'"))[0]!
          .ciphertext,
      ).toBeNull();
      expect(await archive.shred(new Date(now.getTime() + 800 * DAY))).toEqual({ keys: 2, documents: 2 });
      expect(await fixture.sql('SELECT * FROM archive_keys')).toEqual([]);
    });

    it('keeps the audit log verifiable after shredding the documents it refers to', async () => {
      const audit = await fixture.auditStore();
      opened.push(audit);
      const key = testAuditKey();
      const docs = [doc(20, now, 1), doc(21, now, 1), doc(22, now, 365)];
      for (const d of docs) {
        await archive.put(d);
        await audit.append([
          auditEvent({ messageId: d.messageId, kind: 'accepted', digest: d.digest }),
          auditEvent({ messageId: d.messageId, kind: 'delivered', digest: d.digest }),
        ]);
      }
      await audit.createCheckpoint(key.signer);
      expect(await archive.shred(new Date(now.getTime() + 5 * DAY))).toMatchObject({ documents: 2 });
      const result = await verifyExport(await collect(audit), { publicKey: key.publicKey });
      expect(result).toMatchObject({ ok: true, entries: 6, checkpoints: 1 });
      // What is left still proves itself against the log: same digest.
      const [kept] = await archive.get('msg-22');
      const [entry] = await audit.query({ messageId: 'msg-22', kind: 'delivered' });
      expect(kept!.status).toBe('available');
      expect(hash('sha256', (kept as { document: Buffer }).document, 'hex')).toBe(entry!.digest);
      expect((await archive.get('msg-20'))[0]!.status).toBe('shredded');
    });

    it('opens again with the passphrase, and refuses another one', async () => {
      await archive.put(doc(30, now, 30));
      const again = await fixture.reopen(ARCHIVE_PASSPHRASE);
      opened.push(again);
      expect((await again.get('msg-30'))[0]!.status).toBe('available');
      await expect(fixture.reopen('not-the-passphrase')).rejects.toMatchObject({
        code: 'GW_ERR_CONFIG_INVALID',
      });
    });
  });
}
