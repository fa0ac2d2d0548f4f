/**
 * Tamper evidence end to end, for every AuditStore: fill a store (two chains, signed checkpoints,
 * an unsigned tail), export it (gateway/audit/export.ts), then tamper with the export the ways an
 * insider would, and expect verifyExport to name the first bad entry — with nothing but the export
 * and audit.pub. Each store's own test adds tampering inside the database itself.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entryLine, exportLines } from '../../gateway/audit/export.ts';
import { chainEntry, entryHash } from '../../gateway/audit/hash-chain.ts';
import {
  type ExportVerification,
  verifyExport,
  verifyExportStream,
} from '../../gateway/audit/verify-export.ts';
import { checkpointSigningInput } from '../../gateway/audit/verify-proof.ts';
import type { AuditCheckpoint, AuditEntry, AuditStore } from '../../gateway/ports/audit-store.ts';
import { auditEvent, testAuditKey } from './audit-store.conformance.ts';

export interface TamperFixture {
  store: AuditStore;
  cleanup: () => Promise<void>;
}

type Line =
  | { type: 'header'; [k: string]: unknown }
  | { type: 'entry'; hash: string; entry: Omit<AuditEntry, 'hash'> }
  | { type: 'checkpoint'; checkpoint: AuditCheckpoint }
  | { type: 'end'; entries: number; checkpoints: number };

export async function collect(
  store: AuditStore,
  options: { from?: string; to?: string } = {},
): Promise<string[]> {
  let text = '';
  for await (const chunk of exportLines(store, options)) text += chunk;
  return text.split('\n').filter((l) => l !== '');
}

const parse = (lines: string[]) => lines.map((l) => JSON.parse(l) as Line);
const render = (line: Line): string =>
  line.type === 'entry' ? entryLine({ ...line.entry, hash: line.hash }).slice(0, -1) : JSON.stringify(line);

export function runAuditTamperSuite(name: string, factory: () => Promise<TamperFixture>): void {
  describe(`audit export tamper evidence: ${name}`, () => {
    const key = testAuditKey();
    /**
     * The verdict on lines, checked to be the same when the export is read as a byte stream in
     * chunks that split lines (and UTF-8) anywhere: the CLI's path, with the carry between chunks,
     * hashing on this thread and in a worker.
     */
    const verify = async (lines: string[]) => {
      const options = { publicKey: key.publicKey, keyId: key.signer.keyId };
      const verdict = await verifyExport(lines, options);
      const bytes = Buffer.from(`${lines.join('\n')}\n`);
      for (const size of [bytes.length, 61, 997]) {
        async function* chunks() {
          for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
        }
        expect(await verifyExportStream(chunks(), options)).toEqual(verdict);
        // Hashes checked by a worker thread from the first byte: links ahead, replay on a bad hash.
        expect(await verifyExportStream(chunks(), { ...options, threads: 1, parallelAfterBytes: 0 })).toEqual(
          verdict,
        );
      }
      return verdict;
    };
    let fixture: TamperFixture;
    let store: AuditStore;
    let lines: string[];
    let checkpoints: AuditCheckpoint[];

    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
      // main: 1..12 signed by #1 (1..5) and #2 (6..12); side: 1..6 signed by #1 (1..2), #3 (3..6); main 13..15 unsigned.
      await store.append(Array.from({ length: 5 }, () => auditEvent()));
      await store.append(
        Array.from({ length: 2 }, () => auditEvent()),
        'side',
      );
      await store.createCheckpoint(key.signer, '2025-01-01T10:00:00.000Z');
      await store.append(Array.from({ length: 7 }, () => auditEvent()));
      await store.createCheckpoint(key.signer, '2025-01-01T11:00:00.000Z');
      await store.append(
        Array.from({ length: 4 }, () => auditEvent()),
        'side',
      );
      await store.createCheckpoint(key.signer, '2025-01-01T12:00:00.000Z');
      await store.append(Array.from({ length: 3 }, () => auditEvent()));
      checkpoints = await store.checkpoints();
      lines = await collect(store);
    });

    afterEach(async () => {
      await store.close();
      await fixture.cleanup();
    });

    const entryIndex = (chain: string, seq: number) =>
      lines.findIndex((l) => {
        const p = JSON.parse(l) as Line;
        return p.type === 'entry' && p.entry.chain === chain && p.entry.seq === seq;
      });
    const expectFailure = (result: ExportVerification, failure: Record<string, unknown>) => {
      expect(result.ok).toBe(false);
      expect(result.failure).toMatchObject(failure);
    };

    it('exports entries, then checkpoints, typed lines, and verifies them with audit.pub alone', async () => {
      const parsed = parse(lines);
      expect(parsed.map((l) => l.type)).toEqual([
        'header',
        ...Array<string>(21).fill('entry'),
        'checkpoint',
        'checkpoint',
        'checkpoint',
        'end',
      ]);
      expect(parsed.at(-1)).toEqual({ type: 'end', entries: 21, checkpoints: 3 });
      const result = await verify(lines);
      expect(result).toMatchObject({
        ok: true,
        entries: 21,
        checkpoints: 3,
        unsignedEntries: 3,
        warnings: [],
      });
      expect(result.heads).toEqual(await store.heads());
      expect(result.lastCheckpoint).toEqual({
        id: 3,
        time: checkpoints[2]!.time,
        root: checkpoints[2]!.root,
      });
      // The bytes in an entry line are the hashed bytes.
      const first = parsed[1] as Extract<Line, { type: 'entry' }>;
      expect(entryHash(first.entry)).toBe(first.hash);
      // Read as a byte stream in awkward chunks (UTF-8 split across them), the verdict is the same.
      const bytes = Buffer.from(`${lines.join('\n')}\n`);
      async function* chunks() {
        for (let i = 0; i < bytes.length; i += 7) yield bytes.subarray(i, i + 7);
      }
      expect(await verifyExportStream(chunks(), { publicKey: key.publicKey })).toMatchObject({
        ok: true,
        entries: 21,
      });
    });

    it('verifies an export that a tool re-serialised (keys reordered, spaces), the slow path', async () => {
      const reformatted = lines.map((l) => {
        const p = JSON.parse(l) as Record<string, unknown>;
        return JSON.stringify(Object.fromEntries(Object.entries(p).reverse()), null, 0).replace(/,"/g, ', "');
      });
      expect(await verify(reformatted)).toMatchObject({ ok: true, entries: 21, checkpoints: 3 });
    });

    it('names the seq of an edited field, in either serialisation', async () => {
      for (const [field, value] of [
        ['actor', 'token:intruder'],
        ['time', '2020-01-01T00:00:00.000Z'],
        ['receiver', 'ags:16051000'],
        ['digest', null],
        ['detail', { n: -1 }],
      ] as const) {
        const i = entryIndex('main', 7);
        const p = JSON.parse(lines[i]!) as Extract<Line, { type: 'entry' }>;
        const edited = { ...p, entry: { ...p.entry, [field]: value } };
        const tampered = lines.map((l, j) => (j === i ? render(edited) : l));
        expectFailure(await verify(tampered), { reason: 'hash-mismatch', chain: 'main', firstBadSeq: 7 });
        const loose = lines.map((l, j) => (j === i ? JSON.stringify(edited) : l));
        expectFailure(await verify(loose), { reason: 'hash-mismatch', chain: 'main', firstBadSeq: 7 });
      }
      // A raw byte edit inside the canonical JSON, leaving everything else alone.
      const i = entryIndex('side', 4);
      const raw = lines.map((l, j) => (j === i ? l.replace('"kind":"received"', '"kind":"rejected"') : l));
      expectFailure(await verify(raw), { reason: 'hash-mismatch', chain: 'side', firstBadSeq: 4 });
    });

    it('names the seq of a deleted, inserted, duplicated or reordered entry', async () => {
      const k = entryIndex('main', 7);
      expectFailure(await verify(lines.filter((_, j) => j !== k)), {
        reason: 'seq-mismatch',
        chain: 'main',
        firstBadSeq: 7,
      });
      const duplicated = [...lines.slice(0, k + 1), lines[k]!, ...lines.slice(k + 1)];
      expectFailure(await verify(duplicated), { reason: 'seq-mismatch', chain: 'main', firstBadSeq: 8 });
      const swapped = [...lines];
      [swapped[k], swapped[k + 1]] = [swapped[k + 1]!, swapped[k]!];
      expectFailure(await verify(swapped), { reason: 'seq-mismatch', chain: 'main', firstBadSeq: 7 });
      // A forgery correctly linked and hashed as main 7: the displaced original breaks.
      const six = JSON.parse(lines[k - 1]!) as Extract<Line, { type: 'entry' }>;
      const forged = chainEntry(auditEvent({ kind: 'delivered' }), 'main', { seq: 6, hash: six.hash });
      const inserted = [...lines.slice(0, k), entryLine(forged).slice(0, -1), ...lines.slice(k)];
      expectFailure(await verify(inserted), { reason: 'seq-mismatch', chain: 'main', firstBadSeq: 8 });
      // Interleaving chains differently is no tampering: only the order within a chain counts.
      const entries = lines.slice(1, 22);
      const interleaved = [
        lines[0]!,
        ...entries.filter((l) => l.includes('"chain":"side"')),
        ...entries.filter((l) => !l.includes('"chain":"side"')),
        ...lines.slice(22),
      ];
      expect((await verify(interleaved)).ok).toBe(true);
    });

    it('detects a consistently rewritten chain against the signed heads and roots', async () => {
      // Re-hash main from seq 7 on, as someone with database access and no audit key could.
      const k = entryIndex('main', 7);
      const rewritten = [...lines];
      let prev = JSON.parse(lines[k - 1]!) as Extract<Line, { type: 'entry' }>;
      let head = { seq: prev.entry.seq, hash: prev.hash };
      for (let j = k; j < k + 9; j++) {
        const p = JSON.parse(lines[j]!) as Extract<Line, { type: 'entry' }>;
        const e = chainEntry({ ...p.entry, actor: j === k ? 'token:intruder' : p.entry.actor }, 'main', head);
        rewritten[j] = entryLine(e).slice(0, -1);
        head = e;
        prev = p;
      }
      expectFailure(await verify(rewritten), {
        reason: 'head-mismatch',
        chain: 'main',
        firstBadSeq: 12,
        checkpoint: 2,
      });
    });

    it('detects a cut-off chain end through the signed heads', async () => {
      // Drop side 5..6 (signed by checkpoint 3) and fix the end line's count.
      const cut = lines.filter((_, j) => j !== entryIndex('side', 5) && j !== entryIndex('side', 6));
      cut[cut.length - 1] = JSON.stringify({ type: 'end', entries: 19, checkpoints: 3 });
      expectFailure(await verify(cut), { reason: 'truncated', chain: 'side', firstBadSeq: 5, checkpoint: 3 });
      // Dropping unsigned entries at the end is not detectable by design, and reported as unsigned.
      const unsigned = lines.filter((_, j) => j !== entryIndex('main', 15));
      unsigned[unsigned.length - 1] = JSON.stringify({ type: 'end', entries: 20, checkpoints: 3 });
      expect(await verify(unsigned)).toMatchObject({ ok: true, unsignedEntries: 2 });
      // A file cut off mid-way loses its end line.
      expectFailure(await verify(lines.slice(0, 15)), { reason: 'incomplete' });
    });

    it('detects forged, edited, removed and re-ordered checkpoints', async () => {
      const at = lines.findIndex((l) => l.startsWith('{"type":"checkpoint"'));
      const cp = (i: number) =>
        (JSON.parse(lines[at + i]!) as Extract<Line, { type: 'checkpoint' }>).checkpoint;
      const withCheckpoint = (i: number, checkpoint: AuditCheckpoint) =>
        lines.map((l, j) => (j === at + i ? JSON.stringify({ type: 'checkpoint', checkpoint }) : l));

      // Edited without the key: the signature breaks.
      expectFailure(await verify(withCheckpoint(1, { ...cp(1), treeSize: 6 })), {
        reason: 'checkpoint-signature',
        checkpoint: 2,
      });
      // Re-signed with another key (a forger's): refused, the key id is not audit.pub's.
      const forger = testAuditKey();
      const forgedBody = { ...cp(1), root: '00'.repeat(32), keyId: forger.signer.keyId };
      const forged = {
        ...forgedBody,
        signature: forger.signer.sign(Buffer.from(checkpointSigningInput(forgedBody))),
      };
      expectFailure(await verify(withCheckpoint(1, forged)), { reason: 'checkpoint-key', checkpoint: 2 });
      // Same forgery, but the verifier only has the public key (no key id): the signature fails.
      expectFailure(await verifyExport(withCheckpoint(1, forged), { publicKey: key.publicKey }), {
        reason: 'checkpoint-signature',
      });
      // A forger who had the key could sign a wrong root; the Merkle check still catches it.
      const wrongRoot = { ...cp(1), root: '00'.repeat(32) };
      const signedWrong = {
        ...wrongRoot,
        signature: key.signer.sign(Buffer.from(checkpointSigningInput(wrongRoot))),
      };
      expectFailure(await verify(withCheckpoint(1, signedWrong)), {
        reason: 'checkpoint-root',
        checkpoint: 2,
        chain: 'main',
        firstBadSeq: 6,
      });
      // A checkpoint removed from the middle, or two swapped: the chain of checkpoints breaks.
      const removed = lines.filter((_, j) => j !== at + 1);
      removed[removed.length - 1] = JSON.stringify({ type: 'end', entries: 21, checkpoints: 2 });
      expectFailure(await verify(removed), { reason: 'checkpoint-sequence', checkpoint: 3 });
      const swapped = [...lines];
      [swapped[at], swapped[at + 1]] = [swapped[at + 1]!, swapped[at]!];
      expectFailure(await verify(swapped), { reason: 'checkpoint-sequence', checkpoint: 2 });
      // Without audit.pub the signatures are not checked, and the verdict says so.
      const unkeyed = await verifyExport(withCheckpoint(1, { ...cp(1), signature: 'AAAA' }));
      expect(unkeyed.ok).toBe(true);
      expect(unkeyed.warnings.join(' ')).toMatch(/signatures were not checked/);
    });

    it('exports a time range from checkpoint to checkpoint, verifiable on its own', async () => {
      const slice = await collect(store, {
        from: '2025-01-01T10:30:00.000Z',
        to: '2025-01-01T11:30:00.000Z',
      });
      const parsed = parse(slice);
      expect(parsed[0]).toMatchObject({
        type: 'header',
        anchor: { checkpoint: 1, heads: checkpoints[0]!.heads },
      });
      const entries = parsed.filter((l): l is Extract<Line, { type: 'entry' }> => l.type === 'entry');
      // Checkpoint 2 covers main 6..12; the export runs up to checkpoint 3 (the first at or after `to`): side 3..6.
      expect(entries.map((e) => `${e.entry.chain}:${e.entry.seq}`)).toEqual([
        ...[6, 7, 8, 9, 10, 11, 12].map((s) => `main:${s}`),
        ...[3, 4, 5, 6].map((s) => `side:${s}`),
      ]);
      expect(
        parsed
          .filter((l) => l.type === 'checkpoint')
          .map((l) => (l as { checkpoint: AuditCheckpoint }).checkpoint.id),
      ).toEqual([1, 2, 3]);
      expect(await verify(slice)).toMatchObject({
        ok: true,
        entries: 11,
        checkpoints: 3,
        unsignedEntries: 0,
      });

      // The slice's anchor is signed: claiming another start is caught.
      const header = JSON.parse(slice[0]!) as { anchor: { heads: unknown[] } };
      const lied = [
        JSON.stringify({ ...header, anchor: { checkpoint: 1, heads: checkpoints[1]!.heads } }),
        ...slice.slice(1),
      ];
      expect((await verify(lied)).ok).toBe(false);
      const noAnchor = slice.filter((l) => {
        const p = JSON.parse(l) as Line;
        return p.type !== 'checkpoint' || p.checkpoint.id !== 1;
      });
      noAnchor[noAnchor.length - 1] = JSON.stringify({ type: 'end', entries: 11, checkpoints: 2 });
      expectFailure(await verify(noAnchor), { reason: 'anchor-mismatch' });
      // Only from: everything after checkpoint 1, including the unsigned tail.
      expect(await verify(await collect(store, { from: '2025-01-01T10:30:00.000Z' }))).toMatchObject({
        ok: true,
        entries: 14,
        unsignedEntries: 3,
      });
    });
  });
}
