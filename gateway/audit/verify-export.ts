/**
 * Offline verification of an export (export.ts), with nothing but the export and, to trust the
 * checkpoints, the audit public key. It detects
 *   - an edited field           → hash-mismatch at that seq
 *   - a deleted / inserted / duplicated / reordered entry → seq-mismatch or prev-hash-mismatch
 *   - a tail cut off a chain    → truncated (a signed checkpoint names a later head)
 *   - a rewritten chain         → head-mismatch (the signed head has another hash)
 *   - a forged, edited, removed or re-ordered checkpoint → signature, prev link, from-heads or Merkle root
 * and reports the first problem with the chain and sequence number where it starts.
 *
 * A scoped export (version 2, export.ts) holds redacted lines for the entries outside its scope:
 * their hash cannot be recomputed, so the given one is taken as the entry's hash, and everything
 * else is checked as for a full entry — the seq, the prevHash link to the entry before, the next
 * entry's link to it, the signed heads and the Merkle roots over all hashes. So deleting, inserting
 * or reordering any line is found as in a full export, and so is a redacted line's hash changed (the
 * next link, a signed head or a root breaks); only an entry's content can be hidden, never altered.
 *
 * Streaming: each entry is checked as its line is read; only its 32-byte hash is kept per chain,
 * for the Merkle roots and trusted heads checked once the checkpoints (at the end) are read.
 */
import { hash, type KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { AuditCheckpoint, AuditEntry, ChainHead } from '../ports/audit-store.ts';
import { checkpointHash, checkpointSignatureValid, GENESIS_CHECKPOINT_HASH, rangesOf } from './checkpoint.ts';
import { EXPORT_FORMAT, type ExportHeader } from './export.ts';
import { newScannedEntry, type ScannedEntry, scanEntryLine } from './export-line-scanner.ts';
import { entryHash, GENESIS_HASH } from './hash-chain.ts';
import { merkleRoot } from './merkle.ts';
import { HashCheckPool } from './verify-hash-pool.ts';

export type ExportFailureReason =
  | 'seq-mismatch'
  | 'prev-hash-mismatch'
  | 'hash-mismatch'
  | 'malformed'
  | 'head-mismatch'
  | 'truncated'
  | 'checkpoint-signature'
  | 'checkpoint-key'
  | 'checkpoint-sequence'
  | 'checkpoint-root'
  | 'anchor-mismatch'
  | 'incomplete';

export interface ExportFailure {
  reason: ExportFailureReason;
  message: string;
  /** Where it starts, when an entry is at fault. */
  chain?: string;
  firstBadSeq?: number;
  /** When a checkpoint is at fault. */
  checkpoint?: number;
  /** 1-based line of the export, when one line is at fault. */
  line?: number;
}

export interface ExportVerification {
  ok: boolean;
  failure?: ExportFailure;
  entries: number;
  checkpoints: number;
  /** Head of every chain in the export. */
  heads: ChainHead[];
  /** The newest checkpoint, if any: compare it with one published elsewhere to detect a cut-off export. */
  lastCheckpoint?: { id: number; time: string; root: string };
  /** Entries after the newest checkpoint: hash-chained but not (yet) signed. */
  unsignedEntries: number;
  /** A scoped export's scope (`land:SN`) and how many of its entries are redacted lines. */
  scope?: string;
  redacted?: number;
  warnings: string[];
}

const HEX_HASH = /^[0-9a-f]{64}$/;

const HEX_DIGITS = Uint8Array.from(Buffer.from('0123456789abcdef', 'latin1'));
/** Value of a lowercase hex digit's byte, 255 for anything else. */
const HEX_VALUE = new Uint8Array(256).fill(255);
for (let i = 0; i < 16; i++) HEX_VALUE[HEX_DIGITS[i]!] = i;

/**
 * One chain of the export: the hashes of its entries, packed 32 bytes each, starting right after
 * `base` — both the chain's link state (the next entry must have seq lastSeq + 1 and prevHash = the
 * last hash) and the leaves for the Merkle roots and trusted heads checked in finish().
 */
class ChainHashes {
  buffer = Buffer.allocUnsafe(32 * 1024);
  count = 0;
  /**
   * `base`: the seq the export starts after (the anchor's head, whose hash is `baseHash`); a chain
   * without an anchor head starts at seq 1, linked to GENESIS_HASH, and has no base hash to report.
   */
  constructor(
    readonly base: number,
    readonly baseHash: string | undefined,
  ) {}

  private grow(): void {
    const bigger = Buffer.allocUnsafe(this.buffer.length * 2);
    this.buffer.copy(bigger, 0, 0, this.count * 32);
    this.buffer = bigger;
  }

  /** Appends a hash given as 64 lowercase hex digits (already compared with a computed hash). */
  push(hexHash: string): void {
    if ((this.count + 1) * 32 > this.buffer.length) this.grow();
    this.buffer.write(hexHash, this.count * 32, 32, 'hex');
    this.count++;
  }

  /** push() for the 64 lowercase hex digits at `b[at]`, decoded without a string in between. */
  pushHexBytes(b: Uint8Array, at: number): void {
    if ((this.count + 1) * 32 > this.buffer.length) this.grow();
    const out = this.buffer;
    const o = this.count * 32;
    for (let i = 0; i < 32; i++)
      out[o + i] = (HEX_VALUE[b[at + 2 * i]!]! << 4) | HEX_VALUE[b[at + 2 * i + 1]!]!;
    this.count++;
  }

  get lastSeq(): number {
    return this.base + this.count;
  }

  /** The hash the next entry's prevHash must be. */
  lastHashHex(): string {
    if (this.count > 0) return this.buffer.toString('hex', (this.count - 1) * 32, this.count * 32);
    return this.baseHash ?? GENESIS_HASH;
  }

  /** Whether the 64 bytes at `b[at]` are the lowercase hex of the last hash (see lastHashHex). */
  lastHashEqualsHexBytes(b: Uint8Array, at: number): boolean {
    if (this.count === 0) {
      const expected = this.baseHash ?? GENESIS_HASH;
      if (expected.length !== 64) return false;
      for (let i = 0; i < 64; i++) if (b[at + i] !== expected.charCodeAt(i)) return false;
      return true;
    }
    const h = this.buffer;
    const o = (this.count - 1) * 32;
    for (let i = 0; i < 32; i++) {
      const v = h[o + i]!;
      if (b[at + 2 * i] !== HEX_DIGITS[v >> 4] || b[at + 2 * i + 1] !== HEX_DIGITS[v & 15]) return false;
    }
    return true;
  }

  /** Packed hashes of seqs (from, to], or undefined where the export does not hold them all. */
  range(from: number, to: number): Buffer | undefined {
    if (from < this.base || to > this.lastSeq) return undefined;
    return this.buffer.subarray((from - this.base) * 32, (to - this.base) * 32);
  }

  hashAt(seq: number): string | undefined {
    if (seq === this.base) return this.baseHash;
    if (seq < this.base || seq > this.lastSeq) return undefined;
    return this.buffer.toString('hex', (seq - this.base - 1) * 32, (seq - this.base) * 32);
  }
}

export interface VerifyExportOptions {
  /** The audit public key (audit.pub). Without it checkpoint signatures cannot be trusted (a warning). */
  publicKey?: KeyObject;
  keyId?: string;
  /**
   * verifyExportStream only: worker threads that hash entries while the calling thread checks the
   * links. Default 0 (hash on the calling thread): workers pay for copying and messaging, and on a
   * busy machine (the bench on 2 shared cores) one thread was faster; they help only with idle cores.
   */
  threads?: number;
  /** verifyExportStream only: how many bytes are verified on the calling thread before workers start (8 MiB). */
  parallelAfterBytes?: number;
}

/**
 * One chunk verified ahead of its hashes (ExportVerifier.writeSpeculative): the bytes (shared with
 * the hashing worker), where each entry's canonical bytes and claimed hash are, and the verifier's
 * state before the chunk, to re-verify it sequentially if a hash is wrong.
 */
export interface Speculation {
  shared: SharedArrayBuffer;
  ranges: Int32Array;
  /** Verification failed within the chunk (a link or a line): read no further. */
  failed: boolean;
  readonly before: VerifierState;
}

interface VerifierState {
  counts: Map<string, number>;
  entries: number;
  redacted: number;
  lineNo: number;
  checkpoints: number;
  end: ExportEnd | undefined;
  header: ExportHeader | undefined;
  current: ChainHashes | undefined;
  currentChain: string;
  currentChainBytes: Buffer;
}

const NEWLINE = 0x0a;
const CR = 0x0d;

/** The end line: counts of what the export holds (`redacted` in scoped exports only). */
interface ExportEnd {
  entries: number;
  checkpoints: number;
  redacted?: number;
}

/** Whether b[from, to) equals `expected` (a JS loop: chain names are short, a native call costs more). */
function sameBytes(expected: Uint8Array, b: Uint8Array, from: number, to: number): boolean {
  if (to - from !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (b[from + i] !== expected[i]) return false;
  return true;
}

/**
 * Verifies an export line by line (synchronously: no await per line), then checks the checkpoints
 * in finish(). Entry lines as export.ts writes them take the fast path (export-line-scanner.ts): the
 * canonical bytes are hashed as they stand in the export and the links compared as bytes, with no
 * string or object per entry. Any other well-formed entry line (re-serialised by a tool) is parsed
 * and re-canonicalised: the verdict is the same, only slower. Both paths share one chain state and
 * apply the checks of hash-chain.ts's ChainVerifier in its order: seq, prevHash, hash.
 */
export class ExportVerifier {
  private readonly warnings: string[] = [];
  private header: ExportHeader | undefined;
  private readonly hashes = new Map<string, ChainHashes>();
  private current: ChainHashes | undefined;
  private currentChain = '';
  /** The current chain's name as bytes, to recognise it in the next line without decoding. */
  private currentChainBytes: Buffer = Buffer.alloc(0);
  private readonly checkpoints: AuditCheckpoint[] = [];
  private end: ExportEnd | undefined;
  private lineNo = 0;
  private failure: ExportFailure | undefined;
  private entries = 0;
  /** Of `entries`, the redacted lines (a scoped export's entries outside its scope). */
  private redacted = 0;
  private finished: ExportVerification | undefined;
  private readonly scanned: ScannedEntry = newScannedEntry();

  /** The start of a line that the previous chunk ended in the middle of. */
  private carry: Buffer = Buffer.alloc(0);
  /** While a chunk is verified speculatively: the entries whose hashes are checked elsewhere. */
  private deferred: number[] | undefined;

  constructor(private readonly options: VerifyExportOptions = {}) {}

  /** Feeds raw bytes of the export (any chunking); false once verification has failed. */
  write(chunk: Buffer): boolean {
    if (this.failure) return false;
    let start = 0;
    if (this.carry.length > 0) {
      // Only the line that straddles the chunks is copied, never the whole chunk.
      const nl = chunk.indexOf(NEWLINE);
      if (nl === -1) {
        this.carry = Buffer.concat([this.carry, chunk]);
        return true;
      }
      const line = Buffer.concat([this.carry, chunk.subarray(0, nl + 1)]);
      this.carry = Buffer.alloc(0);
      if (this.lines(line) !== line.length) return false;
      start = nl + 1;
    }
    const done = this.lines(chunk, start);
    if (done < 0) return false;
    // A copy: keeping a view would pin the whole chunk.
    if (done < chunk.length) this.carry = Buffer.from(chunk.subarray(done));
    return true;
  }

  /**
   * write() with the entries' hashes left to be checked elsewhere (verifyExportStream hands them to
   * a HashCheckPool): the links are checked now, in order, against the claimed hashes. If a claimed
   * hash turns out wrong, replay() re-verifies the chunk from the state before it, hashing inline,
   * which names the first failure exactly as write() would have; later chunks are then discarded.
   */
  writeSpeculative(chunk: Buffer): Speculation | undefined {
    if (this.failure) return undefined;
    const shared = new SharedArrayBuffer(this.carry.length + chunk.length);
    const data = Buffer.from(shared);
    this.carry.copy(data, 0);
    chunk.copy(data, this.carry.length);
    const before = this.state();
    this.carry = Buffer.alloc(0);
    const deferred: number[] = [];
    this.deferred = deferred;
    let done: number;
    try {
      done = this.lines(data);
    } finally {
      this.deferred = undefined;
    }
    if (done >= 0 && done < data.length) this.carry = Buffer.from(data.subarray(done));
    return { shared, ranges: Int32Array.from(deferred), failed: done < 0, before };
  }

  /** Re-verifies a speculated chunk whose hashes were not all right, from the state before it. */
  replay(speculation: Speculation): void {
    const before = speculation.before;
    for (const [chain, hashes] of this.hashes) {
      const count = before.counts.get(chain);
      if (count === undefined) this.hashes.delete(chain);
      else hashes.count = count;
    }
    this.entries = before.entries;
    this.redacted = before.redacted;
    this.lineNo = before.lineNo;
    this.checkpoints.length = before.checkpoints;
    this.end = before.end;
    this.header = before.header;
    this.current = before.current;
    this.currentChain = before.currentChain;
    this.currentChainBytes = before.currentChainBytes;
    this.failure = undefined;
    this.carry = Buffer.alloc(0);
    const data = Buffer.from(speculation.shared);
    const done = this.lines(data);
    if (done >= 0) {
      // Cannot happen: the bytes that a worker found mis-hashed are hashed again here.
      throw new Error('audit verify: a hash a worker found wrong verified on replay');
    }
  }

  private state(): VerifierState {
    return {
      counts: new Map([...this.hashes].map(([chain, hashes]) => [chain, hashes.count])),
      entries: this.entries,
      redacted: this.redacted,
      lineNo: this.lineNo,
      checkpoints: this.checkpoints.length,
      end: this.end,
      header: this.header,
      current: this.current,
      currentChain: this.currentChain,
      currentChainBytes: this.currentChainBytes,
    };
  }

  /**
   * Verifies the complete lines of `data` from `start`; returns where the unfinished last line
   * starts (data.length if none), or -1 once verification has failed.
   */
  private lines(data: Buffer, start = 0): number {
    const limit = data.length;
    const scanned = this.scanned;
    let at = start;
    while (at < limit) {
      if (this.end === undefined && this.header !== undefined && scanEntryLine(data, at, limit, scanned)) {
        this.lineNo++;
        if (!this.scannedEntry(data, scanned)) return -1;
        at = scanned.next;
        continue;
      }
      const nl = data.indexOf(NEWLINE, at);
      if (nl === -1) return at;
      const lineEnd = nl > at && data[nl - 1] === CR ? nl - 1 : nl;
      if (!this.parsedLine(data.toString('utf8', at, lineEnd))) return -1;
      at = nl + 1;
    }
    return at;
  }

  /** Feeds one line (without its \n); false once verification has failed. */
  line(text: string): boolean {
    if (this.failure) return false;
    if (/[\n\r]/.test(text)) return this.parsedLine(text);
    const data = Buffer.from(`${text}\n`);
    return this.lines(data) === data.length;
  }

  /** The chain state for the next entry of `chain`, created on its first entry. */
  private chainState(chain: string): ChainHashes {
    let state = this.hashes.get(chain);
    if (state === undefined) {
      state = new ChainHashes(0, undefined);
      this.hashes.set(chain, state);
    }
    return state;
  }

  /** The fast path: the checks of entry(), on the bytes of a scanned line. */
  private scannedEntry(b: Buffer, s: ScannedEntry): boolean {
    let state = this.current;
    if (state === undefined || !sameBytes(this.currentChainBytes, b, s.chainStart, s.chainEnd)) {
      this.currentChain = b.toString('utf8', s.chainStart, s.chainEnd);
      this.currentChainBytes = Buffer.from(b.subarray(s.chainStart, s.chainEnd));
      state = this.chainState(this.currentChain);
      this.current = state;
    }
    const expected = state.lastSeq + 1;
    if (s.seq !== expected) return this.seqMismatch(expected, s.seq);
    if (!state.lastHashEqualsHexBytes(b, s.prevHashAt)) return this.prevHashMismatch(expected);
    const claimedAt = s.claimedAt;
    if (this.deferred !== undefined) {
      this.deferred.push(s.canonicalStart, s.canonicalEnd, claimedAt);
    } else {
      const computed = hash('sha256', b.subarray(s.canonicalStart, s.canonicalEnd), 'hex');
      for (let i = 0; i < 64; i++) {
        if (b[claimedAt + i] !== computed.charCodeAt(i)) return this.hashMismatch(expected);
      }
    }
    state.pushHexBytes(b, claimedAt);
    this.entries++;
    return true;
  }

  /**
   * The slow path's entry checks, in ChainVerifier's order: seq, prevHash, then the hash (computed
   * only once the links are right).
   */
  private entry(
    chain: unknown,
    seq: unknown,
    prevHash: unknown,
    claimed: unknown,
    compute: () => string,
  ): boolean {
    if (this.current === undefined || this.currentChain !== chain) {
      if (typeof chain !== 'string') {
        return this.fail({
          reason: 'malformed',
          chain: this.currentChain,
          firstBadSeq: (this.current?.lastSeq ?? 0) + 1,
          line: this.lineNo,
          message: `entry #${this.lineNo}: chain is not a string`,
        });
      }
      this.currentChain = chain;
      this.currentChainBytes = Buffer.from(chain);
      this.current = this.chainState(chain);
    }
    const state = this.current;
    const expected = state.lastSeq + 1;
    if (seq !== expected) return this.seqMismatch(expected, seq);
    if (prevHash !== state.lastHashHex()) return this.prevHashMismatch(expected);
    let computed: string;
    try {
      computed = compute();
    } catch (err) {
      return this.entryFailure('malformed', expected, `seq ${expected}: ${(err as Error).message}`);
    }
    if (computed !== claimed) return this.hashMismatch(expected);
    state.push(computed);
    this.entries++;
    return true;
  }

  private seqMismatch(expected: number, seq: unknown): false {
    return this.entryFailure(
      'seq-mismatch',
      expected,
      `entry #${this.lineNo}: expected seq ${expected}, found ${String(seq)}`,
    );
  }

  private prevHashMismatch(expected: number): false {
    return this.entryFailure(
      'prev-hash-mismatch',
      expected,
      `seq ${expected}: prevHash does not match the hash of seq ${expected - 1}`,
    );
  }

  private hashMismatch(expected: number): false {
    return this.entryFailure('hash-mismatch', expected, `seq ${expected}: content does not match its hash`);
  }

  private entryFailure(reason: ExportFailureReason, firstBadSeq: number, message: string): false {
    return this.fail({ reason, chain: this.currentChain, firstBadSeq, line: this.lineNo, message });
  }

  /** Any line but a scanned entry line: parsed as JSON. */
  private parsedLine(text: string): boolean {
    if (this.failure) return false;
    const lineNo = ++this.lineNo;
    if (text === '') return true;
    if (this.end)
      return this.fail({ reason: 'malformed', line: lineNo, message: `line ${lineNo} follows the end line` });
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return this.fail({ reason: 'malformed', line: lineNo, message: `line ${lineNo} is not JSON` });
    }
    if (typeof record !== 'object' || record === null) {
      return this.fail({ reason: 'malformed', line: lineNo, message: `line ${lineNo} is not an object` });
    }
    switch (record.type) {
      case 'entry': {
        const e = record.entry as AuditEntry | undefined;
        if (typeof e !== 'object' || e === null || typeof record.hash !== 'string') {
          return this.fail({
            reason: 'malformed',
            line: lineNo,
            message: `line ${lineNo}: entry line without entry or hash`,
          });
        }
        if (!this.header) {
          return this.fail({
            reason: 'malformed',
            line: lineNo,
            message: 'the export does not start with its header',
          });
        }
        return this.entry(e.chain, e.seq, e.prevHash, record.hash, () => entryHash(e));
      }
      case 'redacted':
        return this.redactedEntry(record, lineNo);
      case 'checkpoint': {
        const cp = record.checkpoint;
        if (typeof cp !== 'object' || cp === null) {
          return this.fail({
            reason: 'malformed',
            line: lineNo,
            message: `line ${lineNo}: checkpoint line without a checkpoint`,
          });
        }
        this.checkpoints.push(cp as AuditCheckpoint);
        return true;
      }
      case 'header': {
        const scoped = record.version === 2 && typeof record.scope === 'string' && record.scope !== '';
        if (
          this.header ||
          lineNo !== 1 ||
          record.format !== EXPORT_FORMAT ||
          !(record.version === 1 || scoped)
        ) {
          return this.fail({
            reason: 'malformed',
            line: lineNo,
            message: `line ${lineNo}: not a ${EXPORT_FORMAT} v1 header, nor a v2 header naming its scope`,
          });
        }
        this.header = record as unknown as ExportHeader;
        const anchorHeads = Array.isArray(this.header.anchor?.heads) ? this.header.anchor.heads : [];
        for (const h of anchorHeads) this.hashes.set(h.chain, new ChainHashes(h.seq, h.hash));
        return true;
      }
      case 'end':
        this.end = record as unknown as ExportEnd;
        return true;
      default:
        return this.fail({
          reason: 'malformed',
          line: lineNo,
          message: `line ${lineNo}: unknown type ${JSON.stringify(record.type)}`,
        });
    }
  }

  /**
   * A redacted line: allowed in a scoped export only, and checked as an entry whose hash is the one
   * given (it cannot be recomputed without the content), so its links and the roots over it still hold.
   */
  private redactedEntry(record: Record<string, unknown>, lineNo: number): boolean {
    if (this.header?.version !== 2) {
      return this.fail({
        reason: 'malformed',
        line: lineNo,
        message: this.header
          ? `line ${lineNo}: a redacted entry in an export that is not scoped`
          : 'the export does not start with its header',
      });
    }
    const claimed = record.hash;
    const taken = this.entry(record.chain, record.seq, record.prevHash, claimed, () => {
      if (typeof claimed !== 'string' || !HEX_HASH.test(claimed)) {
        throw new Error('the redacted entry has no hash of 64 lowercase hex digits');
      }
      return claimed;
    });
    if (taken) this.redacted++;
    return taken;
  }

  private fail(failure: ExportFailure): false {
    this.failure = failure;
    return false;
  }

  /** The verdict: entry checks, then checkpoints, trusted heads and Merkle roots, then completeness. */
  finish(): ExportVerification {
    if (this.finished) return this.finished;
    if (this.carry.length > 0 && !this.failure) {
      // The last line has no \n.
      const last = Buffer.concat([this.carry, Buffer.from('\n')]);
      this.carry = Buffer.alloc(0);
      this.lines(last);
    }
    if (!this.failure) this.failure = this.check();
    if (!this.failure && this.checkpoints.length === 0) {
      this.warnings.push('no signed checkpoint in the export: a cut-off chain end cannot be detected');
    }
    this.finished = this.result();
    return this.finished;
  }

  private check(): ExportFailure | undefined {
    if (!this.header) return { reason: 'incomplete', message: 'the export is empty or has no header' };
    const failure = checkCheckpoints(this.header, this.checkpoints, this.hashes, this.options, this.warnings);
    if (failure) return failure;
    if (!this.end) return { reason: 'incomplete', message: 'the export has no end line: it was cut off' };
    if (this.end.entries !== this.entries || this.end.checkpoints !== this.checkpoints.length) {
      return {
        reason: 'incomplete',
        message: `the end line counts ${this.end.entries} entries and ${this.end.checkpoints} checkpoints, the export holds ${this.entries} and ${this.checkpoints.length}`,
      };
    }
    if (this.header.version === 2 && this.end.redacted !== this.redacted) {
      return {
        reason: 'incomplete',
        message: `the end line counts ${String(this.end.redacted)} redacted entries, the export holds ${this.redacted}`,
      };
    }
    return undefined;
  }

  private result(): ExportVerification {
    const heads = [...this.hashes.entries()]
      .filter(([, h]) => h.count > 0)
      .map(([chain, h]) => ({ chain, seq: h.lastSeq, hash: h.hashAt(h.lastSeq)! }))
      .sort((a, b) => (a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : 0));
    const last = this.checkpoints.at(-1);
    let unsignedEntries = 0;
    for (const [chain, h] of this.hashes) {
      const signed = last?.heads?.find((x) => x.chain === chain)?.seq ?? h.base;
      unsignedEntries += Math.max(0, h.lastSeq - Math.max(signed, h.base));
    }
    return {
      ok: this.failure === undefined,
      ...(this.failure ? { failure: this.failure } : {}),
      entries: this.entries,
      checkpoints: this.checkpoints.length,
      heads,
      ...(last ? { lastCheckpoint: { id: last.id, time: last.time, root: last.root } } : {}),
      unsignedEntries,
      ...(this.header?.version === 2 ? { scope: this.header.scope!, redacted: this.redacted } : {}),
      warnings: this.warnings,
    };
  }
}

const PARALLEL_AFTER_BYTES = 8 << 20;

/**
 * Verifies an export read as bytes (a file or stdin stream). With `threads`, past the first few MiB
 * the entry hashes are checked by worker threads while this thread checks the links in order
 * (writeSpeculative): the verdict is the one the sequential check gives, to the failure and line.
 */
export async function verifyExportStream(
  chunks: AsyncIterable<Buffer>,
  options: VerifyExportOptions = {},
): Promise<ExportVerification> {
  const verifier = new ExportVerifier(options);
  const threads = Math.max(0, Math.min(options.threads ?? 0, availableParallelism()));
  const parallelAfter = options.parallelAfterBytes ?? PARALLEL_AFTER_BYTES;
  let pool: HashCheckPool | undefined;
  const inFlight: { speculation: Speculation; ok: Promise<boolean> }[] = [];
  let read = 0;
  try {
    reading: for await (const chunk of chunks) {
      read += chunk.length;
      if (threads === 0 || read <= parallelAfter) {
        if (!verifier.write(chunk)) break;
        continue;
      }
      pool ??= new HashCheckPool(threads);
      const speculation = verifier.writeSpeculative(chunk);
      if (!speculation) break;
      inFlight.push({ speculation, ok: pool.check(speculation.shared, speculation.ranges) });
      if (speculation.failed) break;
      // A few chunks ahead at most: memory stays bounded, and a wrong hash stops the reading.
      while (inFlight.length > 2 * threads) {
        const oldest = inFlight.shift()!;
        if (!(await oldest.ok)) {
          verifier.replay(oldest.speculation);
          inFlight.length = 0;
          break reading;
        }
      }
    }
    for (const { speculation, ok } of inFlight) {
      if (!(await ok)) {
        verifier.replay(speculation);
        break;
      }
    }
  } finally {
    await pool?.close();
  }
  return verifier.finish();
}

/** Verifies an export given as lines (without their \n). */
export async function verifyExport(
  lines: AsyncIterable<string | string[]> | Iterable<string | string[]>,
  options: VerifyExportOptions = {},
): Promise<ExportVerification> {
  const verifier = new ExportVerifier(options);
  outer: for await (const item of lines) {
    if (typeof item === 'string') {
      if (!verifier.line(item)) break;
    } else {
      for (const line of item) if (!verifier.line(line)) break outer;
    }
  }
  return verifier.finish();
}

function sameHeads(a: readonly ChainHead[], b: readonly ChainHead[]): boolean {
  return (
    a.length === b.length &&
    a.every((h, i) => h.chain === b[i]!.chain && h.seq === b[i]!.seq && h.hash === b[i]!.hash)
  );
}

function checkCheckpoints(
  header: ExportHeader,
  checkpoints: AuditCheckpoint[],
  hashes: Map<string, ChainHashes>,
  options: VerifyExportOptions,
  warnings: string[],
): ExportFailure | undefined {
  if (!options.publicKey && checkpoints.length > 0) {
    warnings.push('no audit public key given: checkpoint signatures were not checked');
  }
  const anchorId = header.anchor?.checkpoint ?? null;
  const anchorHeads = header.anchor?.heads ?? [];
  let previous: AuditCheckpoint | undefined;
  for (let i = 0; i < checkpoints.length; i++) {
    const cp = checkpoints[i]!;
    const fail = (reason: ExportFailureReason, message: string, where: Partial<ExportFailure> = {}) => ({
      reason,
      checkpoint: cp.id,
      message: `checkpoint ${cp.id}: ${message}`,
      ...where,
    });
    if (options.publicKey) {
      if (options.keyId && cp.keyId !== options.keyId) return fail('checkpoint-key', 'signed by another key');
      if (!checkpointSignatureValid(cp, options.publicKey))
        return fail('checkpoint-signature', 'signature is invalid');
    }
    if (!Array.isArray(cp.heads) || !Array.isArray(cp.from))
      return fail('malformed', 'heads or from missing');
    const isAnchor = i === 0 && anchorId !== null;
    if (isAnchor) {
      if (cp.id !== anchorId || !sameHeads(cp.heads, anchorHeads)) {
        return fail('anchor-mismatch', 'the export does not start where its anchor checkpoint says');
      }
      previous = cp;
      continue;
    }
    if (previous) {
      if (cp.id !== previous.id + 1 || cp.prev !== checkpointHash(previous)) {
        return fail('checkpoint-sequence', `does not follow checkpoint ${previous.id}`);
      }
      if (!sameHeads(cp.from, previous.heads))
        return fail('checkpoint-sequence', `does not start at checkpoint ${previous.id}'s heads`);
    } else if (
      cp.id !== 1 ||
      cp.prev !== GENESIS_CHECKPOINT_HASH ||
      cp.from.length !== 0 ||
      anchorId !== null
    ) {
      return fail('checkpoint-sequence', 'the first checkpoint of an unanchored export must be number 1');
    }
    // Trusted heads: every chain reaches its signed head, with the signed hash there.
    for (const head of cp.heads) {
      const chainHashes = hashes.get(head.chain);
      const reached = chainHashes?.lastSeq ?? 0;
      if (reached < head.seq) {
        return fail(
          'truncated',
          `chain ${head.chain} ends at seq ${reached}, the signed head is seq ${head.seq}`,
          {
            chain: head.chain,
            firstBadSeq: reached + 1,
          },
        );
      }
      if (chainHashes!.hashAt(head.seq) !== head.hash) {
        return fail('head-mismatch', `chain ${head.chain} seq ${head.seq} differs from the signed head`, {
          chain: head.chain,
          firstBadSeq: head.seq,
        });
      }
    }
    const ranges = rangesOf(cp);
    const parts: Buffer[] = [];
    for (const range of ranges) {
      const part = hashes.get(range.chain)?.range(range.fromSeq, range.toSeq);
      if (!part) {
        return fail('truncated', `entries of chain ${range.chain} after seq ${range.fromSeq} are missing`, {
          chain: range.chain,
          firstBadSeq: range.fromSeq + 1,
        });
      }
      parts.push(part);
    }
    const leaves = Buffer.concat(parts);
    if (leaves.length / 32 !== cp.treeSize || merkleRoot(leaves) !== cp.root) {
      const first = ranges[0];
      return fail('checkpoint-root', 'the Merkle root does not match the entries it covers', {
        ...(first ? { chain: first.chain, firstBadSeq: first.fromSeq + 1 } : {}),
      });
    }
    previous = cp;
  }
  if (anchorId !== null && checkpoints[0]?.id !== anchorId) {
    return {
      reason: 'anchor-mismatch',
      checkpoint: anchorId,
      message: `the anchor checkpoint ${anchorId} is missing from the export`,
    };
  }
  return undefined;
}
