/**
 * How an archived document is stored as a row, for both DocumentArchives (sqlite-document-archive.ts,
 * pg-document-archive.ts; the table: their SCHEMA and deploy/sql/003_archive.sql): the insert
 * values (the document sealed with its day key, archive-crypto.ts) and the reading back — a
 * shredded row, or the opened document checked against its digest.
 */
import { hash } from 'node:crypto';
import type { ArchiveDocumentInput, ArchivedDocument } from '../../ports/document-archive.ts';
import { decryptDocument, encryptDocument } from './archive-crypto.ts';

/** A row of archive_documents (the PostgreSQL archive joins its day's wrapped key in). */
export interface DocumentRow {
  message_id: string;
  digest: string;
  content_type: string;
  archived_at: string;
  expires_on: string;
  ciphertext: Buffer | null;
  shredded_at: string | null;
}

export function sha256Hex(data: Buffer): string {
  return hash('sha256', data, 'hex');
}

/** Refuses a document whose bytes do not have the digest it is archived under. */
export function assertDigest(d: ArchiveDocumentInput): void {
  if (sha256Hex(d.document) !== d.digest) {
    throw new TypeError(`archive: document of ${d.messageId} does not have digest ${d.digest}`);
  }
}

/** The columns of a document insert, in the order of documentRow(). */
export const DOCUMENT_INSERT_COLUMNS =
  'message_id, digest, content_type, archived_at, expires_on, ciphertext';

/** The insert values of a document, sealed with its day's key. */
export function documentRow(d: ArchiveDocumentInput, expiresOn: string, dayKey: Buffer): (string | Buffer)[] {
  return [
    d.messageId,
    d.digest,
    d.contentType,
    d.archivedAt,
    expiresOn,
    encryptDocument(dayKey, { messageId: d.messageId, digest: d.digest, expiresOn, document: d.document }),
  ];
}

/**
 * The archived document of a row: shredded if its ciphertext or its day key is gone, else opened
 * with the day key and checked against its digest.
 */
export function toArchivedDocument(row: DocumentRow, dayKey: Buffer | undefined): ArchivedDocument {
  const meta = {
    messageId: row.message_id,
    digest: row.digest,
    contentType: row.content_type,
    archivedAt: row.archived_at,
    expiresOn: row.expires_on,
  };
  if (!row.ciphertext || !dayKey) {
    return { ...meta, status: 'shredded' as const, shreddedAt: row.shredded_at ?? row.expires_on };
  }
  const document = decryptDocument(dayKey, { ...meta, sealed: row.ciphertext });
  if (sha256Hex(document) !== row.digest)
    throw new Error(`archive: ${row.message_id} does not match its digest`);
  return { ...meta, status: 'available' as const, document };
}
