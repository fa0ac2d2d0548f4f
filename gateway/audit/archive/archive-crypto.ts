/**
 * The archive's envelope encryption, AES-256-GCM throughout:
 *
 *   master key  = scrypt(gateway key passphrase, salt in archive_meta)   never stored
 *   day key     = 32 random bytes per expiry day, stored only wrapped by the master key
 *   document    = AES-256-GCM under its day key; AAD binds it to (messageId, digest, expiry day),
 *                 so a ciphertext moved to another row does not decrypt
 *
 * Destroying a day key destroys every document of that day (crypto-shredding). A wrapped key in an
 * old backup of the key table would still open them with the passphrase: keep key-table backups
 * within the shortest retention period, or not at all.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../../errors/catalogue.ts';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_CHECK = Buffer.from('laender-gateway document archive master key v1');

export const MS_PER_DAY = 86_400_000;

/** The last day (UTC, YYYY-MM-DD) a document archived at `archivedAt` is kept. */
export function expiryDay(archivedAt: string, retentionDays: number): string {
  const ms = Date.parse(archivedAt);
  if (Number.isNaN(ms)) throw new TypeError(`archive: archivedAt ${archivedAt} is not a date/time`);
  if (!Number.isInteger(retentionDays) || retentionDays < 1)
    throw new TypeError('archive: retentionDays must be ≥ 1');
  return new Date(ms + retentionDays * MS_PER_DAY).toISOString().slice(0, 10);
}

export function dayOf(now: Date): string {
  return now.toISOString().slice(0, 10);
}

export function newSalt(): string {
  return randomBytes(16).toString('base64');
}

export function deriveMasterKey(passphrase: string, salt: string): Buffer {
  return scryptSync(passphrase, Buffer.from(salt, 'base64'), 32, {
    N: 2 ** 14,
    r: 8,
    p: 1,
    maxmem: 64 * 1024 * 1024,
  });
}

/**
 * IVs are random (96 bits from the CSPRNG, as NIST SP 800-38D's RBG construction asks), drawn a
 * block at a time: one randomBytes call per IV cost as much as encrypting a third of a 5 KB
 * document. Each slice of the block is used once and the block is never reused; counters would be
 * cheaper still, but processes sharing an archive (and its day keys) could not keep them apart.
 */
const IV_BLOCK = IV_BYTES * 256;
let ivBlock = Buffer.alloc(0);
let ivAt = IV_BLOCK;

function nextIv(): Buffer {
  if (ivAt + IV_BYTES > ivBlock.length) {
    ivBlock = randomBytes(IV_BLOCK);
    ivAt = 0;
  }
  const iv = ivBlock.subarray(ivAt, ivAt + IV_BYTES);
  ivAt += IV_BYTES;
  return iv;
}

/** iv ‖ ciphertext ‖ tag, written into one buffer (a document is copied once, not three times). */
function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const iv = nextIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const sealed = Buffer.allocUnsafe(IV_BYTES + plaintext.length + TAG_BYTES);
  iv.copy(sealed, 0);
  let at = IV_BYTES;
  at += cipher.update(plaintext).copy(sealed, at);
  at += cipher.final().copy(sealed, at);
  // GCM is a stream mode: the ciphertext is as long as the plaintext, so nothing is left unwritten.
  if (at !== IV_BYTES + plaintext.length) throw new Error('archive: unexpected AES-GCM output length');
  cipher.getAuthTag().copy(sealed, at);
  return sealed;
}

function open(key: Buffer, sealed: Buffer, aad: string): Buffer {
  const iv = sealed.subarray(0, IV_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  return Buffer.concat([
    decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
    decipher.final(),
  ]);
}

/** A value stored beside the salt that only the right master key opens. */
export function keyCheck(master: Buffer): string {
  return seal(master, KEY_CHECK, 'key-check').toString('base64');
}

export function assertKeyCheck(master: Buffer, stored: string): void {
  let plain: Buffer;
  try {
    plain = open(master, Buffer.from(stored, 'base64'), 'key-check');
  } catch {
    plain = Buffer.alloc(0);
  }
  if (plain.length !== KEY_CHECK.length || !timingSafeEqual(plain, KEY_CHECK)) {
    throw new GatewayError(
      'GW_ERR_CONFIG_INVALID',
      'document archive: the key passphrase does not open this archive',
    );
  }
}

export function newWrappedDayKey(master: Buffer, expiresOn: string): Buffer {
  return seal(master, randomBytes(32), `day-key:${expiresOn}`);
}

export function unwrapDayKey(master: Buffer, wrapped: Buffer, expiresOn: string): Buffer {
  return open(master, wrapped, `day-key:${expiresOn}`);
}

function documentAad(messageId: string, digest: string, expiresOn: string): string {
  return `document:${messageId}\u0000${digest}\u0000${expiresOn}`;
}

export function encryptDocument(
  dayKey: Buffer,
  d: { messageId: string; digest: string; expiresOn: string; document: Buffer },
): Buffer {
  return seal(dayKey, d.document, documentAad(d.messageId, d.digest, d.expiresOn));
}

export function decryptDocument(
  dayKey: Buffer,
  d: { messageId: string; digest: string; expiresOn: string; sealed: Buffer },
): Buffer {
  return open(dayKey, d.sealed, documentAad(d.messageId, d.digest, d.expiresOn));
}
