/**
 * Moving bearer tokens from one store into another (`gw token import`): typically from a pod's
 * <dataDir>/auth.sqlite into the PostgreSQL every replica shares. Tokens are copied as stored — id,
 * secret hash, role, scope, permissions, name, creator, times and revocation — so every holder's
 * existing secret keeps working and a revoked token stays revoked.
 *
 * Policy: a token whose id the target does not hold is imported; one the target holds identically
 * (revoked on both sides counts as identical, see differences) is already present, so a second run
 * imports nothing; one the target holds with any other difference is a conflict and the target's row
 * is never overwritten — not even to revoke it, since which side is
 * right (a revocation after the switch, a re-issue, two files that both minted an id) is for the
 * operator to decide. Each token stands alone: the others are imported all the same. Every token
 * written is audited first (importTokens).
 */
import { createHash } from 'node:crypto';
import type { AuditLog, AuditRecordInput } from '../audit/audit-log.ts';
import { GatewayError } from '../errors/catalogue.ts';
import type { StoredToken, TokenRecord, TokenStore } from '../ports/token-store.ts';
import { formatScope, PERMISSIONS, PERSON_ROLES, parseScope, roleTokenFlaw } from './roles.ts';

const TOKEN_ID = /^[0-9a-f]{12}$/;
/** What toISOString() writes, and nothing else: both stores compare these times as text. */
const ISO_MS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SECRET_HASH_BYTES = 32;

function isIsoTime(value: unknown): boolean {
  return typeof value === 'string' && ISO_MS_UTC.test(value) && !Number.isNaN(Date.parse(value));
}

/** Why a token could not have been minted by tokens.ts, or null if it could. */
function flawOf({ record, secretHash }: StoredToken): string | null {
  if (!TOKEN_ID.test(record.id)) return 'the id is not 12 hex digits';
  if (!Buffer.isBuffer(secretHash) || secretHash.length !== SECRET_HASH_BYTES)
    return 'the secret hash is not a SHA-256';
  if (!PERSON_ROLES.includes(record.role)) return `unknown role ${JSON.stringify(record.role)}`;
  const scope = parseScope(record.scope);
  if (!scope || formatScope(scope) !== record.scope) return `invalid scope ${JSON.stringify(record.scope)}`;
  if (!Array.isArray(record.permissions) || new Set(record.permissions).size !== record.permissions.length)
    return 'the permissions repeat';
  for (const permission of record.permissions)
    if (!(PERMISSIONS as readonly string[]).includes(permission))
      return `unknown permission ${JSON.stringify(permission)}`;
  const roleFlaw = roleTokenFlaw(record.role, record.scope, record.permissions);
  if (roleFlaw) return roleFlaw;
  if (typeof record.name !== 'string' || typeof record.createdBy !== 'string')
    return 'name or creator is not text';
  if (!isIsoTime(record.createdAt) || !isIsoTime(record.expiresAt))
    return 'a time is not ISO 8601 UTC with milliseconds';
  if (record.revokedAt !== null && !isIsoTime(record.revokedAt))
    return 'the revocation time is not ISO 8601 UTC with milliseconds';
  return null;
}

/** Refuses (GW_ERR_BAD_REQUEST) a token no store could have minted: it would not be checked as issued. */
export function checkStoredToken(token: StoredToken): void {
  const flaw = flawOf(token);
  if (flaw)
    throw new GatewayError(
      'GW_ERR_BAD_REQUEST',
      `token ${JSON.stringify(token.record.id)} cannot be imported: ${flaw}`,
    );
}

export type TokenField = keyof TokenRecord | 'secretHash';

/**
 * The fields in which two stored forms of one token differ; empty when they are the same token.
 * Revoked on both sides counts as the same whenever each was revoked: that is what an operator gets
 * by following a conflict's advice (`gw token revoke` in the target), and the effect is identical.
 */
export function differences(a: StoredToken, b: StoredToken): TokenField[] {
  const fields: TokenField[] = [];
  if (!a.secretHash.equals(b.secretHash)) fields.push('secretHash');
  for (const key of Object.keys(a.record).sort() as (keyof TokenRecord)[]) {
    const same =
      key === 'permissions'
        ? a.record.permissions.join(',') === b.record.permissions.join(',')
        : key === 'revokedAt'
          ? (a.record.revokedAt === null) === (b.record.revokedAt === null)
          : a.record[key] === b.record[key];
    if (!same) fields.push(key);
  }
  return fields;
}

export type TokenImportOutcome =
  | { kind: 'imported'; token: StoredToken }
  | { kind: 'present'; token: StoredToken }
  | { kind: 'conflict'; token: StoredToken; existing: TokenRecord; differs: TokenField[] };

export interface TokenImportOptions {
  /** Only compare with the target: outcomes say what a real run would do, nothing is written. */
  dryRun?: boolean;
  /** The log of the target's deployment: each token the target does not hold is audited here. */
  audit: AuditLog;
  /** Who imports (the event's actor: `cli`). */
  actor: string;
  /** Where the tokens come from (the source file, named in each event). */
  source: string;
}

/**
 * The idempotency key of a token's `token-imported` event: its id and a digest of exactly what is
 * written (hash and record). A run that appended the event but failed to write the token appends
 * nothing on the next run; a token that changed in the source meanwhile (revoked there) gets an
 * event of its own, so the event in front of each written token always describes it.
 */
export function importAuditKey({ record, secretHash }: StoredToken): string {
  const canonical = JSON.stringify(
    Object.keys(record)
      .sort()
      .map((key) => [key, record[key as keyof TokenRecord]]),
  );
  const digest = createHash('sha256').update(secretHash).update(canonical, 'utf8').digest('hex');
  return `token-imported/${record.id}/${digest}`;
}

/**
 * Imports every token of `source` that `target` does not hold, in the source's order. Refuses the
 * whole run, before writing anything, if one source token is invalid: a damaged source is read again
 * after repair, not half-imported.
 *
 * Each token's `token-imported` event is appended BEFORE the token is written, so no token can be in
 * the target without it: if the append fails, the run stops and the token is not written; if the
 * write fails after it, the next run finds the token missing, appends nothing new (importAuditKey)
 * and writes it. The price is an event for a token whose write failed until that re-run, which
 * over-states, never hides, what a holder could do. The other way round (write, then audit) left a
 * token that a failed append never recorded, and that a re-run skipped as present.
 */
export async function importTokens(
  source: StoredToken[],
  target: TokenStore,
  options: TokenImportOptions,
): Promise<TokenImportOutcome[]> {
  for (const token of source) checkStoredToken(token);
  // Tokens are never deleted: one the target holds now, it holds for the rest of the run.
  const held = new Map((await target.exportAll()).map((token) => [token.record.id, token]));
  const outcomes: TokenImportOutcome[] = [];
  for (const token of source) {
    let existing = held.get(token.record.id);
    if (!existing && !options.dryRun) {
      await options.audit.record(importedEvent(token, options));
      const result = await target.importRecord(token);
      // Another import (or an issue) won the id since the snapshot: judged like any held token.
      if (!result.imported) existing = result.existing;
    }
    if (!existing) {
      outcomes.push({ kind: 'imported', token });
      continue;
    }
    const differs = differences(token, existing);
    outcomes.push(
      differs.length === 0
        ? { kind: 'present', token }
        : { kind: 'conflict', token, existing: existing.record, differs },
    );
  }
  return outcomes;
}

/** One event per token written, never the hash. */
function importedEvent(token: StoredToken, options: TokenImportOptions): AuditRecordInput {
  const { record } = token;
  return {
    kind: 'token-imported',
    actor: options.actor,
    detail: {
      tokenId: record.id,
      role: record.role,
      scope: record.scope,
      permissions: record.permissions,
      expiresAt: record.expiresAt,
      revokedAt: record.revokedAt,
      source: options.source,
    },
    idempotencyKey: importAuditKey(token),
  };
}
