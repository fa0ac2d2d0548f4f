/**
 * `gw audit export`: the audit log as JSON lines, streamed, self-contained for offline verification
 * (verify-export.ts needs nothing else but the audit public key):
 *
 *   {"type":"header","format":"gw-audit-export","version":1,…,"anchor":{"checkpoint":7,"heads":[…]}}
 *   {"type":"entry","hash":"…","entry":{…}}         per chain, ascending seq; `entry` is the entry's
 *                                                   canonical JSON exactly as hashed (hash-chain.ts)
 *   {"type":"checkpoint","checkpoint":{…}}           ascending id, the anchor first
 *   {"type":"end","entries":N,"checkpoints":M}
 *
 * A time range is widened outwards to checkpoint boundaries, because only there can a slice be
 * verified: it starts right after the last checkpoint at or before `from` (the anchor, whose signed
 * heads are where every chain must continue) and ends at the first checkpoint at or after `to`
 * (whose signed heads every chain must reach). Without `to` it ends at the current heads; entries after
 * the newest checkpoint are then exported too, hash-chained but not yet signed.
 *
 * A scoped export (an auditor whose token covers one Land or one system) has the same lines, but every
 * entry outside the scope is written as a redacted line carrying only what the chain and the
 * checkpoints need of it — where it stands and its hash, never what it says:
 *
 *   {"type":"header","format":"gw-audit-export","version":2,"scope":"land:SN",…}
 *   {"type":"redacted","chain":"main","seq":8,"prevHash":"…","hash":"…"}
 *   {"type":"end","entries":N,"checkpoints":M,"redacted":R}       N counts the redacted lines too
 *
 * The verifier cannot recompute a redacted entry's hash, so it takes the given one: it still checks
 * the seq, the link to the entry before and after, and every Merkle root and signed head, so a
 * deleted, inserted or reordered line, redacted or not, is found as in a full export. A hash gives
 * nothing of the entry away: it is SHA-256 over all fields, a random message id and the millisecond
 * time among them. Version 2, so that a verifier that knows no redacted lines refuses the export
 * by its header instead of tripping over the first redacted line.
 */
import type { AuditCheckpoint, AuditEntry, AuditStore, ChainHead } from '../ports/audit-store.ts';
import { quoteJson } from './canonical-json.ts';
import { canonicalEntryString } from './hash-chain.ts';

export const EXPORT_FORMAT = 'gw-audit-export';
const PAGE = 5000;

export interface ExportOptions {
  /** ISO 8601; entries from the checkpoint interval containing this time. */
  from?: string | undefined;
  /** ISO 8601; entries up to the checkpoint interval containing this time. */
  to?: string | undefined;
  now?: () => Date;
  /** Absent: the whole log (scope `*`). Present: entries outside it are redacted. */
  scope?: ExportScope | undefined;
}

/** Which entries an export shows in full (export-scope.ts decides it as the auditor API does). */
export interface ExportScope {
  /** The scope as a token carries it (`land:SN`), named in the header. */
  name: string;
  /**
   * For each entry of a page (one chain, ascending seq), whether it is in scope. Anything but true
   * redacts the entry: what cannot be decided is not disclosed.
   */
  inScope(entries: readonly AuditEntry[]): Promise<readonly boolean[]>;
}

export interface ExportHeader {
  type: 'header';
  format: typeof EXPORT_FORMAT;
  /** 1: every entry in full; 2: scoped, entries outside `scope` redacted. */
  version: 1 | 2;
  exportedAt: string;
  from: string | null;
  to: string | null;
  /** Version 2 only. */
  scope?: string;
  anchor: { checkpoint: number | null; heads: ChainHead[] };
}

export interface ExportSummary {
  /** Entry lines, redacted ones included. */
  entries: number;
  checkpoints: number;
  /** Scoped exports only: how many of the entry lines are redacted. */
  redacted?: number;
}

async function selectCheckpoints(
  store: AuditStore,
  from: string | undefined,
  to: string | undefined,
): Promise<{ anchor: AuditCheckpoint | null; covered: AuditCheckpoint[]; end: AuditCheckpoint | null }> {
  let anchor: AuditCheckpoint | null = null;
  let end: AuditCheckpoint | null = null;
  let covered: AuditCheckpoint[] = [];
  let afterId = 0;
  for (;;) {
    const page = await store.checkpoints({ afterId, limit: 1000 });
    for (const cp of page) {
      if (end) break;
      if (from !== undefined && cp.time <= from) {
        anchor = cp;
        covered = [];
        continue;
      }
      covered.push(cp);
      if (to !== undefined && cp.time >= to) end = cp;
    }
    if (end || page.length < 1000) break;
    afterId = page.at(-1)!.id;
  }
  return { anchor, covered, end };
}

/** One entry line: the hashed bytes verbatim, so a verifier hashes them without re-serialising. */
export function entryLine(entry: AuditEntry): string {
  return `{"type":"entry","hash":"${entry.hash}","entry":${canonicalEntryString(entry)}}\n`;
}

/**
 * One redacted entry line: where the entry stands in its chain and its hash, nothing of its content.
 * The member order is fixed (and the verifier's fast path relies on it): type, chain, seq, prevHash, hash.
 */
export function redactedLine(entry: AuditEntry): string {
  return `{"type":"redacted","chain":${quoteJson(entry.chain)},"seq":${entry.seq},"prevHash":"${entry.prevHash}","hash":"${entry.hash}"}\n`;
}

/** The export as lines (each ending in \n); the summary is the generator's return value. */
export async function* exportLines(
  store: AuditStore,
  options: ExportOptions = {},
): AsyncGenerator<string, ExportSummary> {
  const from = options.from === undefined ? undefined : new Date(options.from).toISOString();
  const to = options.to === undefined ? undefined : new Date(options.to).toISOString();
  const { anchor, covered, end } = await selectCheckpoints(store, from, to);
  const endHeads = end ? end.heads : await store.heads();
  const anchorHeads = anchor ? anchor.heads : [];
  const scope = options.scope;
  const header: ExportHeader = {
    type: 'header',
    format: EXPORT_FORMAT,
    version: scope ? 2 : 1,
    exportedAt: (options.now?.() ?? new Date()).toISOString(),
    from: from ?? null,
    to: to ?? null,
    ...(scope ? { scope: scope.name } : {}),
    anchor: { checkpoint: anchor?.id ?? null, heads: anchorHeads },
  };
  yield `${JSON.stringify(header)}\n`;

  let entries = 0;
  let redacted = 0;
  const startOf = new Map(anchorHeads.map((h) => [h.chain, h.seq]));
  for (const head of endHeads) {
    let next = (startOf.get(head.chain) ?? 0) + 1;
    while (next <= head.seq) {
      const page = await store.query({ chain: head.chain, fromSeq: next, toSeq: head.seq, limit: PAGE });
      if (page.length === 0) break; // the store lost entries: the verifier will say where
      let chunk = '';
      if (scope) {
        const shown = await scope.inScope(page);
        for (let i = 0; i < page.length; i++) {
          if (shown[i] === true) chunk += entryLine(page[i]!);
          else {
            chunk += redactedLine(page[i]!);
            redacted++;
          }
        }
      } else {
        for (const entry of page) chunk += entryLine(entry);
      }
      yield chunk;
      entries += page.length;
      next = page.at(-1)!.seq + 1;
    }
  }
  const checkpoints = [...(anchor ? [anchor] : []), ...covered];
  for (const cp of checkpoints) yield `${JSON.stringify({ type: 'checkpoint', checkpoint: cp })}\n`;
  if (!scope) {
    yield `${JSON.stringify({ type: 'end', entries, checkpoints: checkpoints.length })}\n`;
    return { entries, checkpoints: checkpoints.length };
  }
  yield `${JSON.stringify({ type: 'end', entries, checkpoints: checkpoints.length, redacted })}\n`;
  return { entries, checkpoints: checkpoints.length, redacted };
}
