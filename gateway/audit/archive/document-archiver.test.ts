/**
 * Which contract's retention a document is archived under: the one allowing its route, and for a
 * receipt (which no contract names) the one allowing the route it answers.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/load.ts';
import { Contracts } from '../../directory/contracts.ts';
import { DocumentArchiver } from './document-archiver.ts';
import { SqliteDocumentArchive } from './sqlite-document-archive.ts';

const NOW = new Date('2026-03-02T10:00:00.000Z');
const contracts = Contracts.fromDirectory(path.join(REPO_ROOT, 'contracts'));

describe('DocumentArchiver retention', () => {
  let dir: string;
  let archive: SqliteDocumentArchive;
  let archiver: DocumentArchiver;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gw-archiver-'));
    archive = new SqliteDocumentArchive({
      file: path.join(dir, 'archive.sqlite'),
      passphrase: 'x'.repeat(16),
    });
    archiver = new DocumentArchiver({
      archive,
      contracts: () => contracts,
      logger: pino({ level: 'silent' }),
      now: () => NOW,
    });
  });
  afterEach(async () => {
    await archive.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const request = (over: Partial<Parameters<DocumentArchiver['archive']>[0]>) => ({
    messageId: crypto.randomUUID(),
    standard: 'xkfz',
    messageType: 'fahrzeug.halterwechsel.1002',
    senderSystem: 'st-kfz',
    senderAuthority: 'kfz:15003000',
    receiverAuthority: 'kba:zfzr',
    digest: createHash('sha256').update('<doc/>').digest('hex'),
    signedDocument: '<doc/>',
    ...over,
  });

  /** A receipt of KBA's for a Halterwechsel that `authority` sent. */
  const kbaReceiptTo = (authority: string) =>
    request({
      messageType: 'quittung.1000',
      senderSystem: 'kba-zfzr',
      senderAuthority: 'kba:zfzr',
      receiverAuthority: authority,
    });

  it('archives a receipt under the retention of the contract of the route it answers', async () => {
    // KBA acknowledges a Halterwechsel of st-kfz: its receipt travels kba-zfzr → st-kfz.
    const receipt = kbaReceiptTo('kfz:15003000');
    expect(await archiver.archive(receipt)).toBe(true);
    const [stored] = await archive.get(receipt.messageId);
    // xkfz-zentrales-fahrzeugregister: 3,650 days (three of them leap days).
    expect(stored).toMatchObject({ status: 'available', expiresOn: '2036-02-28' });
  });

  it('does not archive a receipt for a route no contract allows, nor a message off contract', async () => {
    const stray = kbaReceiptTo('kfz:99000000');
    expect(await archiver.archive(stray)).toBe(false);
    expect(await archiver.archive(request({ receiverAuthority: 'kba:other' }))).toBe(false);
    expect(await archive.get(stray.messageId)).toEqual([]);
  });
});
