/**
 * SqliteDocumentArchive beyond the conformance suite: what its put takes from the caller and how
 * it keeps the day keys it has seen.
 */
import { hash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveDocumentInput } from '../../ports/document-archive.ts';
import { SqliteDocumentArchive } from './sqlite-document-archive.ts';

function doc(n: number): ArchiveDocumentInput {
  const document = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><quittung n="${n}">Müller</quittung>`);
  return {
    messageId: `msg-${n}`,
    digest: hash('sha256', document, 'hex'),
    contentType: 'application/xml',
    document,
    archivedAt: new Date().toISOString(),
    retentionDays: 30,
  };
}

describe('SqliteDocumentArchive', () => {
  let dir: string;
  let file: string;
  let archive: SqliteDocumentArchive;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gw-archive-'));
    file = path.join(dir, 'archive.sqlite');
    archive = new SqliteDocumentArchive({ file, passphrase: 'x'.repeat(16) });
  });
  afterEach(async () => {
    await archive.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('archives the bytes it checked, even if the caller reuses its buffer before the commit', async () => {
    // The first put of a day (its key made in the transaction), then one with the day's key known.
    for (const d of [doc(1), doc(2)]) {
      const original = Buffer.from(d.document);
      const put = archive.put(d);
      d.document.fill(0x20);
      expect(await put).toMatchObject({ stored: true });
      const [got] = await archive.get(d.messageId);
      expect(got?.status === 'available' && got.document.equals(original)).toBe(true);
    }
  });

  it('does not seal with a day key whose transaction was rolled back', async () => {
    // Fails after its day's key was made (STRICT: content_type NOT NULL): key and row roll back.
    const failing = { ...doc(3), contentType: null as unknown as string };
    await expect(archive.put(failing)).rejects.toThrow();
    const reader = new Database(file, { readonly: true });
    expect(reader.prepare('SELECT count(*) FROM archive_keys').pluck().get()).toBe(0);
    reader.close();
    const d = doc(4);
    expect(await archive.put(d)).toMatchObject({ stored: true });
    expect(await archive.put(doc(5))).toMatchObject({ stored: true });
    for (const n of [4, 5]) expect((await archive.get(`msg-${n}`))[0]?.status).toBe('available');
    // Opened again (no key cached), the documents still open with the key the file holds.
    await archive.close();
    archive = new SqliteDocumentArchive({ file, passphrase: 'x'.repeat(16) });
    for (const n of [4, 5]) expect((await archive.get(`msg-${n}`))[0]?.status).toBe('available');
  });
});
