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
 * Streaming: each entry is checked as its line is read; only its 32-byte hash is kept per chain,
 * for the Merkle roots and trusted heads checked once the checkpoints (at the end) are read.
 */
import { hash, type KeyObject } from 'node:crypto';
import type { AuditCheckpoint, AuditEntry, ChainHead } from '../ports/audit-store.ts';
import { checkpointHash, checkpointSignatureValid, GENESIS_CHECKPOINT_HASH, rangesOf } from './checkpoint.ts';
import { EXPORT_FORMAT, type ExportHeader } from './export.ts';
import { ChainVerifier, entryHash, type VerifyFailure } from './hash-chain.ts';
import { merkleRoot } from './merkle.ts';

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
  warnings: string[];
}

/** Hashes of one chain's entries, packed 32 bytes each, starting right after `base`. */
class ChainHashes {
  buffer = Buffer.allocUnsafe(32 * 1024);
  count = 0;
  /** `base`: the seq the export starts after (the anchor's head, whose hash is `baseHash`). */
  constructor(
    readonly base: number,
    readonly baseHash: string | undefined,
  ) {}

  push(hexHash: string): void {
    if ((this.count + 1) * 32 > this.buffer.length) {
      const bigger = Buffer.allocUnsafe(this.buffer.length * 2);
      this.buffer.copy(bigger, 0, 0, this.count * 32);
      this.buffer = bigger;
    }
    this.buffer.write(hexHash, this.count * 32, 32, 'hex');
    this.count++;
  }

  get lastSeq(): number {
    return this.base + this.count;
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
}

const ENTRY_PREFIX = '{"type":"entry","hash":"';
const ENTRY_INFIX = '","entry":';
/** Offset of the canonical entry in a line as export.ts writes it. */
const CANONICAL_AT = ENTRY_PREFIX.length + 64 + ENTRY_INFIX.length;
const HEX64 = /^[0-9a-f]{64}$/;
const SEQ = /^[1-9][0-9]{0,15}$/;

interface LinkFields {
  chain: string;
  seq: number;
  prevHash: string;
}

/**
 * chain, seq and prevHash read straight out of canonical entry JSON, without parsing it: in JCS
 * order `chain` follows `actor`, and `prevHash` and `seq` follow `detail`; the delimiters searched for
 * start with `",` or `,"`, which never occur inside a JSON string (its quotes are escaped), so each
 * is found exactly once where it belongs. Undefined if the text does not have that shape; the
 * caller then parses it in full.
 */
function linkFieldsOf(c: string): LinkFields | undefined {
  if (!c.startsWith('{"actor":"') || !c.endsWith('"}')) return undefined;
  const chainAt = c.indexOf('","chain":"');
  const detailAt = c.indexOf('","detail":', chainAt);
  const prevAt = c.lastIndexOf(',"prevHash":"');
  const seqAt = c.lastIndexOf(',"seq":');
  const timeAt = c.indexOf(',"time":"', seqAt);
  if (chainAt < 0 || detailAt < 0 || prevAt < detailAt || seqAt < prevAt || timeAt < 0) return undefined;
  const chain = c.slice(chainAt + 11, detailAt);
  if (chain.includes('\\')) return undefined; // escapes in a chain name: leave it to JSON.parse
  const prevHash = c.slice(prevAt + 13, prevAt + 77);
  const seqText = c.slice(seqAt + 7, timeAt);
  if (c.charCodeAt(prevAt + 77) !== 34 || !HEX64.test(prevHash) || !SEQ.test(seqText)) return undefined;
  return { chain, seq: Number(seqText), prevHash };
}

const ENTRY_PREFIX_BYTES = Buffer.from(ENTRY_PREFIX);
const ENTRY_INFIX_BYTES = Buffer.from(ENTRY_INFIX);
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const CR = 0x0d;

const ACTOR_OPEN = Buffer.from('{"actor":"');
const CHAIN_KEY = Buffer.from('","chain":"');
const DETAIL_KEY = Buffer.from('","detail":');
const PREV_KEY = Buffer.from(',"prevHash":"');
const SEQ_KEY = Buffer.from(',"seq":');
const TIME_KEY = Buffer.from(',"time":"');

/**
 * linkFieldsOf on bytes: the same delimiters, no UTF-8 decoding of the line. prevHash is not
 * checked to be hex here: it must equal the previous entry's hash, which was hashed and compared.
 */
function linkFieldsOfBytes(c: Buffer): LinkFields | undefined {
  const n = c.length;
  if (n < 20 || c.compare(ACTOR_OPEN, 0, 10, 0, 10) !== 0 || c[n - 2] !== 0x22 || c[n - 1] !== 0x7d) {
    return undefined;
  }
  const chainAt = c.indexOf(CHAIN_KEY);
  const detailAt = c.indexOf(DETAIL_KEY, chainAt);
  const prevAt = c.lastIndexOf(PREV_KEY);
  const seqAt = c.lastIndexOf(SEQ_KEY);
  const timeAt = c.indexOf(TIME_KEY, seqAt);
  if (chainAt < 0 || detailAt < 0 || prevAt < detailAt || seqAt < prevAt || timeAt < 0) return undefined;
  if (c[prevAt + 77] !== 0x22) return undefined;
  for (let i = chainAt + 11; i < detailAt; i++) if (c[i] === BACKSLASH) return undefined;
  let seq = 0;
  const digitsFrom = seqAt + 7;
  if (timeAt - digitsFrom < 1 || timeAt - digitsFrom > 15 || c[digitsFrom] === 0x30) return undefined;
  for (let i = digitsFrom; i < timeAt; i++) {
    const d = c[i]! - 0x30;
    if (d < 0 || d > 9) return undefined;
    seq = seq * 10 + d;
  }
  return {
    chain: c.toString('utf8', chainAt + 11, detailAt),
    seq,
    prevHash: c.toString('latin1', prevAt + 13, prevAt + 77),
  };
}

/**
 * Verifies an export line by line (synchronously: no await per line), then checks the checkpoints
 * in finish(). Entry lines as export.ts writes them take the fast path: the canonical bytes are hashed
 * as they stand. Any other well-formed entry line (re-serialised by a tool) is parsed and
 * re-canonicalised: the verdict is the same, only slower.
 */
export class ExportVerifier {
  private readonly warnings: string[] = [];
  private header: ExportHeader | undefined;
  private chain: ChainVerifier | undefined;
  private readonly hashes = new Map<string, ChainHashes>();
  private current: ChainHashes | undefined;
  private currentChain = '';
  private readonly checkpoints: AuditCheckpoint[] = [];
  private end: { entries: number; checkpoints: number } | undefined;
  private lineNo = 0;
  private failure: ExportFailure | undefined;
  private entries = 0;
  private finished: ExportVerification | undefined;

  private carry: Buffer = Buffer.alloc(0);

  constructor(private readonly options: VerifyExportOptions = {}) {}

  /** Feeds raw bytes of the export (any chunking); false once verification has failed. */
  write(chunk: Buffer): boolean {
    if (this.failure) return false;
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    let start = 0;
    for (let nl = data.indexOf(NEWLINE); nl !== -1; nl = data.indexOf(NEWLINE, start)) {
      const end = nl > start && data[nl - 1] === CR ? nl - 1 : nl;
      if (!this.lineBytes(data, start, end)) return false;
      start = nl + 1;
    }
    // A copy: keeping a view would pin the whole chunk.
    this.carry = Buffer.from(data.subarray(start));
    return true;
  }

  /** Entry lines as export.ts writes them are hashed as bytes; everything else goes through line(). */
  private lineBytes(data: Buffer, start: number, end: number): boolean {
    if (
      end - start > CANONICAL_AT + 2 &&
      data.compare(
        ENTRY_PREFIX_BYTES,
        0,
        ENTRY_PREFIX_BYTES.length,
        start,
        start + ENTRY_PREFIX_BYTES.length,
      ) === 0 &&
      data.compare(
        ENTRY_INFIX_BYTES,
        0,
        ENTRY_INFIX_BYTES.length,
        start + CANONICAL_AT - ENTRY_INFIX_BYTES.length,
        start + CANONICAL_AT,
      ) === 0 &&
      data[end - 1] === 0x7d
    ) {
      const canonical = data.subarray(start + CANONICAL_AT, end - 1);
      const link = linkFieldsOfBytes(canonical);
      if (link) {
        if (this.end) return this.line(data.toString('utf8', start, end));
        this.lineNo++;
        const claimed = data.toString(
          'latin1',
          start + ENTRY_PREFIX.length,
          start + ENTRY_PREFIX.length + 64,
        );
        return this.entry(link.chain, link.seq, link.prevHash, claimed, () =>
          hash('sha256', canonical, 'hex'),
        );
      }
    }
    return this.line(data.toString('utf8', start, end));
  }

  /** Feeds one line (without its \n); false once verification has failed. */
  line(text: string): boolean {
    if (this.failure) return false;
    const lineNo = ++this.lineNo;
    if (text === '') return true;
    if (this.end)
      return this.fail({ reason: 'malformed', line: lineNo, message: `line ${lineNo} follows the end line` });
    if (text.startsWith(ENTRY_PREFIX) && text.startsWith(ENTRY_INFIX, CANONICAL_AT - ENTRY_INFIX.length)) {
      const canonical = text.slice(CANONICAL_AT, -1);
      const link = text.endsWith('}') ? linkFieldsOf(canonical) : undefined;
      if (link) {
        const claimed = text.slice(ENTRY_PREFIX.length, ENTRY_PREFIX.length + 64);
        return this.entry(link.chain, link.seq, link.prevHash, claimed, () =>
          hash('sha256', canonical, 'hex'),
        );
      }
    }
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
        return this.entry(e.chain, e.seq, e.prevHash, record.hash, () => entryHash(e));
      }
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
        if (this.header || lineNo !== 1 || record.format !== EXPORT_FORMAT || record.version !== 1) {
          return this.fail({
            reason: 'malformed',
            line: lineNo,
            message: `line ${lineNo}: not a ${EXPORT_FORMAT} v1 header`,
          });
        }
        this.header = record as unknown as ExportHeader;
        const anchorHeads = Array.isArray(this.header.anchor?.heads) ? this.header.anchor.heads : [];
        this.chain = new ChainVerifier({ from: anchorHeads });
        for (const h of anchorHeads) this.hashes.set(h.chain, new ChainHashes(h.seq, h.hash));
        return true;
      }
      case 'end':
        this.end = record as unknown as { entries: number; checkpoints: number };
        return true;
      default:
        return this.fail({
          reason: 'malformed',
          line: lineNo,
          message: `line ${lineNo}: unknown type ${JSON.stringify(record.type)}`,
        });
    }
  }

  private entry(
    chain: string,
    seq: number,
    prevHash: string,
    claimed: string,
    compute: () => string,
  ): boolean {
    const lineNo = this.lineNo;
    if (!this.chain) {
      return this.fail({
        reason: 'malformed',
        line: lineNo,
        message: 'the export does not start with its header',
      });
    }
    if (!this.chain.addLinked(chain, seq, prevHash, claimed, compute, lineNo)) {
      const f = this.chain.finish() as VerifyFailure;
      return this.fail({
        reason: f.reason,
        chain: f.chain,
        firstBadSeq: f.firstBadSeq,
        line: lineNo,
        message: f.message,
      });
    }
    if (this.current === undefined || this.currentChain !== chain) {
      let chainHashes = this.hashes.get(chain);
      if (!chainHashes) {
        chainHashes = new ChainHashes(seq - 1, undefined);
        this.hashes.set(chain, chainHashes);
      }
      this.current = chainHashes;
      this.currentChain = chain;
    }
    this.current.push(claimed);
    this.entries++;
    return true;
  }

  private fail(failure: ExportFailure): false {
    this.failure = failure;
    return false;
  }

  /** The verdict: entry checks, then checkpoints, trusted heads and Merkle roots, then completeness. */
  finish(): ExportVerification {
    if (this.finished) return this.finished;
    if (this.carry.length > 0 && !this.failure) {
      const last = this.carry;
      this.carry = Buffer.alloc(0);
      this.lineBytes(last, 0, last[last.length - 1] === CR ? last.length - 1 : last.length);
    }
    if (!this.failure) this.failure = this.check();
    if (!this.failure && this.checkpoints.length === 0) {
      this.warnings.push('no signed checkpoint in the export: a cut-off chain end cannot be detected');
    }
    this.finished = this.result();
    return this.finished;
  }

  private check(): ExportFailure | undefined {
    if (!this.header || !this.chain)
      return { reason: 'incomplete', message: 'the export is empty or has no header' };
    const chainResult = this.chain.finish();
    if (!chainResult.ok) {
      return {
        reason: chainResult.reason,
        chain: chainResult.chain,
        firstBadSeq: chainResult.firstBadSeq,
        message: chainResult.message,
      };
    }
    const failure = checkCheckpoints(this.header, this.checkpoints, this.hashes, this.options, this.warnings);
    if (failure) return failure;
    if (!this.end) return { reason: 'incomplete', message: 'the export has no end line: it was cut off' };
    if (this.end.entries !== this.entries || this.end.checkpoints !== this.checkpoints.length) {
      return {
        reason: 'incomplete',
        message: `the end line counts ${this.end.entries} entries and ${this.end.checkpoints} checkpoints, the export holds ${this.entries} and ${this.checkpoints.length}`,
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
      warnings: this.warnings,
    };
  }
}

/** Verifies an export read as bytes (a file or stdin stream). */
export async function verifyExportStream(
  chunks: AsyncIterable<Buffer>,
  options: VerifyExportOptions = {},
): Promise<ExportVerification> {
  const verifier = new ExportVerifier(options);
  for await (const chunk of chunks) if (!verifier.write(chunk)) break;
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
