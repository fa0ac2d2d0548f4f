/**
 * The audit log's hash chain: the one definition of how an entry is hashed. Every AuditStore and
 * the offline verifier use this file; changing anything here is a format break.
 *
 * HOW AN ENTRY IS HASHED (re-implementable from this comment alone)
 *
 *   hash = lowercase hex SHA-256 of the UTF-8 bytes of JCS(E)
 *
 * where E is the entry as a JSON object with exactly these 14 members (everything but `hash`):
 *   chain, seq, time, kind, actor, messageId, sender, receiver, senderSystem, receiverSystem,
 *   messageType, digest, detail, prevHash
 * (`seq` is an integer; the nullable ones are JSON null when absent; `detail` is a JSON object) and
 * JCS is the JSON Canonicalization Scheme of RFC 8785, i.e.:
 *   - no whitespace anywhere;
 *   - object members sorted by key, comparing keys as arrays of UTF-16 code units (JavaScript's
 *     default `Array.prototype.sort`), recursively, at every depth (top level included, so the top
 *     level order is: actor, chain, detail, digest, kind, messageId, messageType, prevHash,
 *     receiver, receiverSystem, sender, senderSystem, seq, time);
 *   - arrays keep their order;
 *   - strings exactly as ECMAScript `JSON.stringify` writes them: `"` and `\` backslash-escaped,
 *     U+0008/09/0A/0C/0D as \b \t \n \f \r, other U+0000..U+001F (and lone surrogates, which
 *     RFC 8785 forbids) as \u00xx / \udxxx in lowercase hex, everything else literal UTF-8;
 *   - numbers as ECMAScript `Number.prototype.toString` / `JSON.stringify` write them (-0 is `0`;
 *     NaN and ±Infinity are not allowed); `true`, `false`, `null` literally.
 * Any RFC 8785 library gives the same bytes. Example for the first entry of chain "main":
 *   {"actor":"gateway","chain":"main","detail":{"a":1,"b":[true,null]},"digest":null,"kind":"received",
 *    "messageId":"m1","messageType":null,"prevHash":"000…000","receiver":null,"receiverSystem":null,
 *    "sender":null,"senderSystem":null,"seq":1,"time":"2025-01-01T00:00:00.000Z"}   (one line)
 *
 * THE CHAIN: entries of one chain have seq 1, 2, 3, … without gaps; entry 1 has prevHash
 * GENESIS_HASH (64 zeros), every later entry has prevHash = hash of the entry before it. Several
 * chains may share one store; they are independent, and the interleaving of entries of different
 * chains in an export carries no meaning (only the order within a chain is protected).
 */
import { hash as nodeHash } from 'node:crypto';
import type { AuditEntry, AuditEventInput, ChainHead } from '../ports/audit-store.ts';
import { AUDIT_EVENT_KINDS } from '../ports/audit-store.ts';
import { canonicalJson, quoteJson as quote } from './canonical-json.ts';

export { canonicalJson };

export const GENESIS_HASH = '0'.repeat(64);

export type UnhashedAuditEntry = Omit<AuditEntry, 'hash'>;

function str(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new TypeError(`audit entry: ${field} must be a string`);
  return quote(value);
}

function nstr(value: unknown, field: string): string {
  if (value === null) return 'null';
  if (typeof value !== 'string') throw new TypeError(`audit entry: ${field} must be a string or null`);
  return quote(value);
}

/** The canonical text of an entry (see the file comment); `hash`, if present, is ignored. */
export function canonicalEntryString(entry: UnhashedAuditEntry): string {
  if (!Number.isSafeInteger(entry.seq)) throw new TypeError('audit entry: seq must be an integer');
  const detail = entry.detail;
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
    throw new TypeError('audit entry: detail must be a JSON object');
  }
  // Members in JCS order (sorted by key), written out by hand: this is the hot path of verify.
  return (
    `{"actor":${str(entry.actor, 'actor')}` +
    `,"chain":${str(entry.chain, 'chain')}` +
    `,"detail":${canonicalJson(detail)}` +
    `,"digest":${nstr(entry.digest, 'digest')}` +
    `,"kind":${str(entry.kind, 'kind')}` +
    `,"messageId":${nstr(entry.messageId, 'messageId')}` +
    `,"messageType":${nstr(entry.messageType, 'messageType')}` +
    `,"prevHash":${str(entry.prevHash, 'prevHash')}` +
    `,"receiver":${nstr(entry.receiver, 'receiver')}` +
    `,"receiverSystem":${nstr(entry.receiverSystem, 'receiverSystem')}` +
    `,"sender":${nstr(entry.sender, 'sender')}` +
    `,"senderSystem":${nstr(entry.senderSystem, 'senderSystem')}` +
    `,"seq":${entry.seq}` +
    `,"time":${str(entry.time, 'time')}}`
  );
}

/** The bytes that are hashed: UTF-8 of `canonicalEntryString`. */
export function canonicalEntryBytes(entry: UnhashedAuditEntry): Buffer {
  return Buffer.from(canonicalEntryString(entry), 'utf8');
}

/** Lowercase hex SHA-256 of the canonical bytes. */
export function entryHash(entry: UnhashedAuditEntry): string {
  return nodeHash('sha256', canonicalEntryString(entry), 'hex');
}

const ISO_MS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const EVENT_KINDS: ReadonlySet<string> = new Set(AUDIT_EVENT_KINDS);

/**
 * The last time that passed the check (the events of one append share it), starting from one that
 * passes it: a sentinel such as '' or null would let that value through.
 */
let lastValidTime = '1970-01-01T00:00:00.000Z';

function isIsoMsUtc(time: unknown): boolean {
  if (time === lastValidTime) return true;
  if (typeof time !== 'string' || !ISO_MS_UTC.test(time) || Number.isNaN(Date.parse(time))) return false;
  lastValidTime = time;
  return true;
}

const NULLABLE_FIELDS = [
  'messageId',
  'sender',
  'receiver',
  'senderSystem',
  'receiverSystem',
  'messageType',
  'digest',
] as const;

/**
 * Checks an event before a store appends it and returns the copy that is stored and hashed: exactly
 * the AuditEventInput fields (the idempotencyKey apart: it is stored, never hashed), `detail` normalised to plain JSON (a JSON.stringify/parse round trip:
 * undefined members dropped, Dates as ISO strings), so what is hashed is what is read back.
 * Throws TypeError on a malformed event. Shared by every AuditStore implementation.
 */
export function normalizeEventInput(event: AuditEventInput): {
  event: AuditEventInput;
  detailJson: string;
  idempotencyKey: string | null;
} {
  if (typeof event !== 'object' || event === null) throw new TypeError('audit event must be an object');
  if (!isIsoMsUtc(event.time)) {
    throw new TypeError(
      'audit event: time must be ISO 8601 UTC with milliseconds (YYYY-MM-DDTHH:mm:ss.sssZ)',
    );
  }
  if (!EVENT_KINDS.has(event.kind)) {
    throw new TypeError(`audit event: unknown kind ${JSON.stringify(event.kind)}`);
  }
  if (typeof event.actor !== 'string' || event.actor === '') {
    throw new TypeError('audit event: actor must be a non-empty string');
  }
  for (const field of NULLABLE_FIELDS) {
    const value = event[field];
    if (value !== null && typeof value !== 'string') {
      throw new TypeError(`audit event: ${field} must be a string or null`);
    }
  }
  const detailIn = event.detail ?? {};
  if (typeof detailIn !== 'object' || detailIn === null || Array.isArray(detailIn)) {
    throw new TypeError('audit event: detail must be an object');
  }
  let detailJson: string;
  try {
    detailJson = JSON.stringify(detailIn);
  } catch (err) {
    throw new TypeError(`audit event: detail is not serialisable as JSON (${(err as Error).message})`);
  }
  // JSON.stringify turns NaN/Infinity into null silently; that is fine (the stored value is null).
  const detail: unknown = JSON.parse(detailJson);
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
    throw new TypeError('audit event: detail must serialise to a JSON object');
  }
  const idempotencyKey = event.idempotencyKey ?? null;
  if (
    idempotencyKey !== null &&
    (typeof idempotencyKey !== 'string' || idempotencyKey === '' || idempotencyKey.length > 512)
  ) {
    throw new TypeError('audit event: idempotencyKey must be a non-empty string of at most 512 characters');
  }
  return {
    idempotencyKey,
    event: {
      time: event.time,
      kind: event.kind,
      actor: event.actor,
      messageId: event.messageId,
      sender: event.sender,
      receiver: event.receiver,
      senderSystem: event.senderSystem,
      receiverSystem: event.receiverSystem,
      messageType: event.messageType,
      digest: event.digest,
      detail: detail as Record<string, unknown>,
    },
    detailJson,
  };
}

/** Links a normalised event to the chain after `prev` and computes its hash. */
export function chainEntry(
  event: AuditEventInput,
  chain: string,
  prev: { seq: number; hash: string },
): AuditEntry {
  const entry: AuditEntry = {
    chain,
    seq: prev.seq + 1,
    time: event.time,
    kind: event.kind,
    actor: event.actor,
    messageId: event.messageId,
    sender: event.sender,
    receiver: event.receiver,
    senderSystem: event.senderSystem,
    receiverSystem: event.receiverSystem,
    messageType: event.messageType,
    digest: event.digest,
    detail: event.detail,
    prevHash: prev.hash,
    hash: '',
  };
  entry.hash = entryHash(entry);
  return entry;
}

export type VerifyFailureReason =
  /** The entry's seq is not the next one of its chain (deleted, inserted, duplicated or reordered entry). */
  | 'seq-mismatch'
  /** prevHash is not the hash of the chain's previous entry (the previous entry was rewritten and rehashed, or this link was edited). */
  | 'prev-hash-mismatch'
  /** The stored hash is not the hash of the entry's content (a field was edited). */
  | 'hash-mismatch'
  /** The entry is not well-formed (wrong types, detail not JSON). */
  | 'malformed'
  /** The entry at a trusted head's seq has a different hash. */
  | 'head-mismatch'
  /** The chain ends before a trusted head's seq (entries at the end were deleted). */
  | 'truncated';

export type VerifyResult =
  | { ok: true; count: number; heads: ChainHead[] }
  | {
      ok: false;
      /** Seq (in `chain`) where verification failed; seqs below it form a consistent prefix. */
      firstBadSeq: number;
      chain: string;
      reason: VerifyFailureReason;
      /** Human-readable explanation. */
      message: string;
    };

export interface VerifyOptions {
  /**
   * Starting points for verifying a slice: a chain listed here must continue right after the given
   * head (seq head.seq + 1, prevHash head.hash). Chains not listed must start at seq 1 / GENESIS_HASH.
   */
  from?: ChainHead[];
  /**
   * Trusted heads (for example from a signed checkpoint): each listed chain must reach that seq, and
   * its entry there must have that hash. Without it, deleting the newest entries is undetectable.
   */
  to?: ChainHead[];
}

interface ChainState {
  chain: string;
  seq: number;
  hash: string;
  /** Trusted head to meet, if any. */
  toSeq: number;
  toHash: string;
}

export type VerifyFailure = Extract<VerifyResult, { ok: false }>;

/**
 * The streaming form of verifyChain: feed entries one by one (the offline verifier reads exports of
 * millions of lines), then ask for the result. After the first failure every add() returns false.
 */
export class ChainVerifier {
  private readonly states = new Map<string, ChainState>();
  private current: ChainState | undefined;
  private failure: VerifyFailure | undefined;
  count = 0;

  constructor(options: VerifyOptions = {}) {
    for (const head of options.from ?? []) {
      const state = this.stateFor(head.chain);
      state.seq = head.seq;
      state.hash = head.hash;
    }
    for (const head of options.to ?? []) {
      const state = this.stateFor(head.chain);
      state.toSeq = head.seq;
      state.toHash = head.hash;
    }
  }

  private stateFor(chain: string): ChainState {
    let state = this.states.get(chain);
    if (state === undefined) {
      state = { chain, seq: 0, hash: GENESIS_HASH, toSeq: 0, toHash: '' };
      this.states.set(chain, state);
    }
    return state;
  }

  /** Checks the next entry (`index` only names it in messages); false at the first problem. */
  add(entry: AuditEntry, index = this.count): boolean {
    return this.addLinked(entry.chain, entry.seq, entry.prevHash, entry.hash, () => entryHash(entry), index);
  }

  /**
   * The same check for a reader that hashes the entry itself (the export verifier hashes the
   * canonical bytes as they stand in the file): the computed hash, or a function that computes it
   * once the links are right.
   */
  addLinked(
    chain: string,
    seq: number,
    prevHash: string,
    claimedHash: string,
    computeHash: string | (() => string),
    index = this.count,
  ): boolean {
    if (this.failure) return false;
    let current = this.current;
    if (current === undefined || current.chain !== chain) {
      if (typeof chain !== 'string') {
        this.failure = fail(
          current?.chain ?? '',
          (current?.seq ?? 0) + 1,
          'malformed',
          `entry #${index}: chain is not a string`,
        );
        return false;
      }
      current = this.stateFor(chain);
      this.current = current;
    }
    const expected = current.seq + 1;
    if (seq !== expected) {
      this.failure = fail(
        chain,
        expected,
        'seq-mismatch',
        `entry #${index}: expected seq ${expected}, found ${seq}`,
      );
      return false;
    }
    if (prevHash !== current.hash) {
      this.failure = fail(
        chain,
        expected,
        'prev-hash-mismatch',
        `seq ${expected}: prevHash does not match the hash of seq ${expected - 1}`,
      );
      return false;
    }
    let computed: string;
    try {
      computed = typeof computeHash === 'string' ? computeHash : computeHash();
    } catch (err) {
      this.failure = fail(chain, expected, 'malformed', `seq ${expected}: ${(err as Error).message}`);
      return false;
    }
    if (computed !== claimedHash) {
      this.failure = fail(
        chain,
        expected,
        'hash-mismatch',
        `seq ${expected}: content does not match its hash`,
      );
      return false;
    }
    if (expected === current.toSeq && computed !== current.toHash) {
      this.failure = fail(
        chain,
        expected,
        'head-mismatch',
        `seq ${expected}: hash differs from the trusted head`,
      );
      return false;
    }
    current.seq = expected;
    current.hash = computed;
    this.count++;
    return true;
  }

  /** The result so far: the first failure, or the trusted heads checked and the heads reached. */
  finish(): VerifyResult {
    if (this.failure) return this.failure;
    const heads: ChainHead[] = [];
    for (const state of this.states.values()) {
      if (state.seq < state.toSeq) {
        return fail(
          state.chain,
          state.seq + 1,
          'truncated',
          `chain ends at seq ${state.seq}, the trusted head is seq ${state.toSeq}`,
        );
      }
      if (state.seq > 0) heads.push({ chain: state.chain, seq: state.seq, hash: state.hash });
    }
    heads.sort((a, b) => (a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : 0));
    return { ok: true, count: this.count, heads };
  }
}

/**
 * Verifies entries (in (chain, seq) order per chain; chains may interleave) offline. Stops at the
 * first problem. Checks, per entry: consecutive seq, prevHash link, recomputed hash; then trusted heads.
 */
export function verifyChain(entries: readonly AuditEntry[], options: VerifyOptions = {}): VerifyResult {
  const verifier = new ChainVerifier(options);
  for (let i = 0; i < entries.length; i++) {
    if (!verifier.add(entries[i]!, i)) break;
  }
  return verifier.finish();
}

function fail(
  chain: string,
  firstBadSeq: number,
  reason: VerifyFailureReason,
  message: string,
): VerifyFailure {
  return { ok: false, firstBadSeq, chain, reason, message };
}
