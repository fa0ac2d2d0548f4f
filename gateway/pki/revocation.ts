/**
 * The revocation list on disk: <dataDir>/pki/revoked.json, written only by `gw pki revoke` (under
 * the PKI lock, atomically), read by every gateway process on the data directory. It is the
 * embedded revocation store (file-revocation-store.ts); with DATABASE_URL the list lives in
 * PostgreSQL and a file found here is imported into it at start (open-revocation-store.ts). The
 * CRL published at /v1/pki/crl is derived from the store; the store, not the CRL, is the truth.
 *
 * { "version": 1, "revoked": [ { "serial", "revokedAt", "reason", "subject", "revokedBy" } ] }
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { GatewayError } from '../errors/catalogue.ts';
import { REVOCATION_REASONS, type RevocationReason } from './crl.ts';
import { readText, withLock, writeAtomic } from './files.ts';

export const REVOCATION_FILE = 'revoked.json';

const RevokedEntrySchema = z.object({
  serial: z.string().regex(/^[0-9a-f]+$/),
  revokedAt: z.iso.datetime(),
  reason: z.enum(Object.keys(REVOCATION_REASONS) as [RevocationReason, ...RevocationReason[]]),
  /** For people reading the list; never used for decisions. */
  subject: z.string().optional(),
  /** Who revoked it (`cli`, `import`); absent in files written before it was recorded. */
  revokedBy: z.string().optional(),
});
export type RevokedEntry = z.infer<typeof RevokedEntrySchema>;

const RevocationFileSchema = z.object({ version: z.literal(1), revoked: z.array(RevokedEntrySchema) });

/**
 * Serial numbers in the one form revocation compares: what `X509Certificate.serialNumber
 * .toLowerCase()` prints — lower-case hex, whole bytes (so `0b…` keeps its zero nibble), no
 * leading zero bytes. Accepts `AB:CD:…`, `0x…`, upper case, an odd number of digits.
 * Throws GW_ERR_BAD_REQUEST on anything else.
 */
export function normalizeSerial(text: string): string {
  let hex = text.trim().replace(/^0x/i, '').replace(/[:\s]/g, '').toLowerCase();
  if (!/^[0-9a-f]{1,42}$/.test(hex)) {
    throw new GatewayError('GW_ERR_BAD_REQUEST', `not a certificate serial number: ${JSON.stringify(text)}`);
  }
  if (hex.length % 2) hex = `0${hex}`;
  while (hex.length > 2 && hex.startsWith('00')) hex = hex.slice(2);
  return hex;
}

export function revocationFile(pkiDir: string): string {
  return path.join(pkiDir, REVOCATION_FILE);
}

/** The revoked entries, or none when the file does not exist. Throws on a corrupt file. */
export function readRevocations(pkiDir: string): RevokedEntry[] {
  const file = revocationFile(pkiDir);
  if (!existsSync(file)) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(readText(file));
  } catch (error) {
    throw new GatewayError('GW_ERR_CONFIG_INVALID', `${file}: ${(error as Error).message}`, { cause: error });
  }
  const parsed = RevocationFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new GatewayError(
      'GW_ERR_CONFIG_INVALID',
      `${file}: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`,
    );
  }
  return parsed.data.revoked;
}

/**
 * Adds a revocation (idempotent: a serial revoked before keeps its first entry). Returns the entry
 * and whether it was new.
 */
export async function revokeSerial(
  pkiDir: string,
  input: { serial: string; reason?: RevocationReason; subject?: string; by?: string; now?: Date },
): Promise<{ entry: RevokedEntry; added: boolean }> {
  const serial = normalizeSerial(input.serial);
  return withLock(pkiDir, () => {
    const revoked = readRevocations(pkiDir);
    const existing = revoked.find((entry) => entry.serial === serial);
    if (existing) return { entry: existing, added: false };
    const entry: RevokedEntry = {
      serial,
      revokedAt: (input.now ?? new Date()).toISOString(),
      reason: input.reason ?? 'unspecified',
      ...(input.subject ? { subject: input.subject } : {}),
      ...(input.by ? { revokedBy: input.by } : {}),
    };
    writeAtomic(
      revocationFile(pkiDir),
      `${JSON.stringify({ version: 1, revoked: [...revoked, entry] }, null, 2)}\n`,
    );
    return { entry, added: true };
  });
}
