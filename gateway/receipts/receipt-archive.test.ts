import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { ArchiveRequest } from '../audit/archive/document-archiver.ts';
import type { ArchivedDocument } from '../ports/document-archive.ts';
import { ReceiptArchive } from './receipt-archive.ts';
import { receiptTypeOf } from './receipt-type.ts';

const log = pino({ level: 'silent' });
const receiptId = '46778b8e-ca96-5933-ba22-1e5f383d31f4';
const meta = { messageId: receiptId, contentType: 'application/xml', archivedAt: '2026-11-29T00:00:00.000Z' };

function archiveOf(versions: () => Promise<ArchivedDocument[]>): {
  archive: ReceiptArchive;
  written: ArchiveRequest[];
} {
  const written: ArchiveRequest[] = [];
  const archive = new ReceiptArchive({
    write: async (request) => {
      written.push(request);
      return true;
    },
    versions,
  });
  return { archive, written };
}

describe('ReceiptArchive', () => {
  it('archives a receipt under its id, its type and the route it travels (acknowledging system → sender)', async () => {
    const type = receiptTypeOf('xmeld', '25.11');
    if (!type) throw new Error('the catalogue has no XMeld 25.11 receipt type');
    const { archive, written } = archiveOf(async () => []);
    const kept = await archive.keep({
      receiptId,
      type,
      onBehalfOf: 'meldebehoerde-b',
      senderAuthority: 'B',
      receiverAuthority: 'A',
      digest: 'ab'.repeat(32),
      signed: '<quittung/>',
    });
    expect(kept).toBe(true);
    expect(written).toEqual([
      {
        messageId: receiptId,
        standard: 'xmeld',
        messageType: type.name,
        senderSystem: 'meldebehoerde-b',
        senderAuthority: 'B',
        receiverAuthority: 'A',
        digest: 'ab'.repeat(32),
        signedDocument: '<quittung/>',
      },
    ]);
  });

  it('reads back the oldest version still readable: a shredded one is no version the sender can get again', async () => {
    const { archive } = archiveOf(async () => [
      {
        ...meta,
        digest: '01'.repeat(32),
        expiresOn: '2026-11-30',
        status: 'shredded',
        shreddedAt: '2026-12-01',
      },
      {
        ...meta,
        digest: '02'.repeat(32),
        expiresOn: '2027-11-30',
        status: 'available',
        document: Buffer.from('<first/>'),
      },
      {
        ...meta,
        digest: '03'.repeat(32),
        expiresOn: '2027-11-30',
        status: 'available',
        document: Buffer.from('<second/>'),
      },
    ]);
    expect(await archive.firstVersion(receiptId, log)).toEqual({
      signed: '<first/>',
      digest: '02'.repeat(32),
    });
  });

  it('answers no version for a receipt not archived and for an archive that cannot be read now', async () => {
    expect(await archiveOf(async () => []).archive.firstVersion(receiptId, log)).toBeUndefined();
    const unreadable = archiveOf(async () => {
      throw new Error('archive down');
    });
    expect(await unreadable.archive.firstVersion(receiptId, log)).toBeUndefined();
  });
});
