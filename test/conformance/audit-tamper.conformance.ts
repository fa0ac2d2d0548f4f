/**
 * Tamper evidence end to end, for every AuditStore: fill a store (two chains, signed checkpoints,
 * an unsigned tail), export it (gateway/audit/export.ts), then tamper with the export the ways an
 * insider would, and expect verifyExport to name the first bad entry — with nothing but the export
 * and audit.pub. Each store's own test adds tampering inside the database itself.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ExportScope, entryLine, exportLines } from '../../gateway/audit/export.ts';
import { messageScope } from '../../gateway/audit/export-scope.ts';
import { chainEntry, entryHash } from '../../gateway/audit/hash-chain.ts';
import {
  type ExportVerification,
  verifyExport,
  verifyExportStream,
} from '../../gateway/audit/verify-export.ts';
import { checkpointSigningInput } from '../../gateway/audit/verify-proof.ts';
import { canSee } from '../../gateway/http/routes/audit/visibility.ts';
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
  options: { from?: string; to?: string; scope?: ExportScope } = {},
): Promise<string[]> {
  let text = '';
  for await (const chunk of exportLines(store, options)) text += chunk;
  return text.split('\n').filter((l) => l !== '');
}

const parse = (lines: string[]) => lines.map((l) => JSON.parse(l) as Line);
const render = (line: Line): string =>
  line.type === 'entry' ? entryLine({ ...line.entry, hash: line.hash }).slice(0, -1) : JSON.stringify(line);

/**
 * The verdict on lines, checked to be the same when the export is read as a byte stream in
 * chunks that split lines (and UTF-8) anywhere: the CLI's path, with the carry between chunks,
 * hashing on this thread and in a worker.
 */
async function verifyEveryWay(lines: string[], key: ReturnType<typeof testAuditKey>) {
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
}

export function runAuditTamperSuite(name: string, factory: () => Promise<TamperFixture>): void {
  runScopedExportSuite(name, factory);
  describe(`audit export tamper evidence: ${name}`, () => {
    const key = testAuditKey();
    const verify = (lines: string[]) => verifyEveryWay(lines, key);
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

/** The Saxon systems, as a `land:SN` token sees them (visibility.ts, from the directory). */
const SAXON_SYSTEMS = new Set(['sn-melde', 'sn-kfz']);
const saxon = (store: AuditStore) =>
  messageScope('land:SN', store, (m) => canSee({ all: false, systems: SAXON_SYSTEMS }, m));

/** A Thüringen message's fields, none of which a Saxon auditor's export may carry. */
const THURINGIA = {
  actor: 'system:th-melde',
  sender: 'ags:16051000',
  receiver: 'ags:16055000',
  senderSystem: 'th-melde',
  receiverSystem: 'th-kfz',
  messageType: 'xmeld:25.11:rueckmeldung.thueringen-only.0201',
  digest: 'cd'.repeat(32),
};

/**
 * Scoped exports (an auditor of one Land): entries outside the scope are redacted lines, and the
 * export still proves that nothing — redacted or not — was deleted, inserted, reordered or edited.
 */
function runScopedExportSuite(name: string, factory: () => Promise<TamperFixture>): void {
  describe(`scoped audit export: ${name}`, () => {
    const key = testAuditKey();
    const verify = (lines: string[]) => verifyEveryWay(lines, key);
    let fixture: TamperFixture;
    let store: AuditStore;
    let lines: string[];
    const th = (messageId: string, kind: 'received' | 'dead-lettered' | 'rejected') =>
      auditEvent({ ...THURINGIA, messageId, kind, detail: { reason: 'th-secret-detail' } });
    const sn = (messageId: string, kind: 'received' | 'rejected' | 'delivered') =>
      auditEvent({ messageId, kind });

    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
      // main: SN and TH messages interleaved, an entry of no message, signed by #1 (1..6) and #2 (7..10);
      // side: Thüringen only (wholly redacted), signed by #2; main 11..12 unsigned.
      await store.append([
        sn('sn-msg-1', 'received'),
        th('th-msg-1', 'received'),
        th('th-msg-1', 'dead-lettered'),
        sn('sn-msg-1', 'rejected'),
        auditEvent({ kind: 'certificate-issued', messageId: null, actor: 'cli', detail: { serial: '0a' } }),
        sn('sn-msg-2', 'received'),
      ]);
      await store.createCheckpoint(key.signer, '2025-01-01T10:00:00.000Z');
      await store.append([
        th('th-msg-2', 'rejected'),
        sn('sn-msg-2', 'delivered'),
        th('th-msg-3', 'received'),
        sn('sn-msg-3', 'received'),
      ]);
      await store.append([th('th-msg-4', 'received'), th('th-msg-4', 'dead-lettered')], 'side');
      await store.createCheckpoint(key.signer, '2025-01-01T11:00:00.000Z');
      await store.append([th('th-msg-5', 'received'), sn('sn-msg-4', 'received')]);
      lines = await collect(store, { scope: saxon(store) });
    });

    afterEach(async () => {
      await store.close();
      await fixture.cleanup();
    });

    const indexOf = (chain: string, seq: number) =>
      lines.findIndex((l) => {
        const p = JSON.parse(l) as { type: string; chain?: string; seq?: number; entry?: AuditEntry };
        return (p.entry?.chain ?? p.chain) === chain && (p.entry?.seq ?? p.seq) === seq;
      });
    const expectFailure = (result: ExportVerification, failure: Record<string, unknown>) => {
      expect(result.ok).toBe(false);
      expect(result.failure).toMatchObject(failure);
    };

    it('shows the scope in full, redacts the rest to position and hash, and verifies', async () => {
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(parsed[0]).toMatchObject({
        type: 'header',
        format: 'gw-audit-export',
        version: 2,
        scope: 'land:SN',
      });
      const shown = parsed.filter((l) => l.type === 'entry').map((l) => (l.entry as AuditEntry).messageId);
      expect(shown).toEqual(['sn-msg-1', 'sn-msg-1', 'sn-msg-2', 'sn-msg-2', 'sn-msg-3', 'sn-msg-4']);
      const redacted = parsed.filter((l) => l.type === 'redacted');
      expect(redacted.map((l) => `${l.chain}:${l.seq}`)).toEqual([
        'main:2',
        'main:3',
        'main:5',
        'main:7',
        'main:9',
        'main:11',
        'side:1',
        'side:2',
      ]);
      for (const l of redacted) expect(Object.keys(l)).toEqual(['type', 'chain', 'seq', 'prevHash', 'hash']);
      // The hashes are the stored ones: the same entries as in the full export.
      const full = await store.query({ chain: 'main', fromSeq: 2, toSeq: 2 });
      expect(redacted[0]).toMatchObject({ hash: full[0]!.hash, prevHash: full[0]!.prevHash });
      expect(parsed.at(-1)).toEqual({ type: 'end', entries: 14, checkpoints: 2, redacted: 8 });
      const text = lines.join('\n');
      for (const secret of [
        'th-msg',
        'th-melde',
        'th-kfz',
        'ags:16051000',
        'ags:16055000',
        'thueringen-only',
      ]) {
        expect(text).not.toContain(secret);
      }
      for (const secret of ['cd'.repeat(32), 'th-secret-detail', 'certificate-issued', '"serial"']) {
        expect(text).not.toContain(secret);
      }
      const result = await verify(lines);
      expect(result).toMatchObject({
        ok: true,
        entries: 14,
        checkpoints: 2,
        unsignedEntries: 2,
        scope: 'land:SN',
        redacted: 8,
        warnings: [],
      });
      expect(result.heads).toEqual(await store.heads());
      // The unscoped export stays version 1, with no redacted line and no count of them.
      const whole = await collect(store);
      expect(JSON.parse(whole[0]!)).toMatchObject({ version: 1 });
      expect(whole.some((l) => l.includes('"redacted"'))).toBe(false);
      expect(await verify(whole)).not.toHaveProperty('redacted');
    });

    it('verifies an export of nothing but redacted lines', async () => {
      const nobody = messageScope('system:by-nothing', store, () => false);
      const blind = await collect(store, { scope: nobody });
      expect(blind.filter((l) => l.startsWith('{"type":"entry"'))).toEqual([]);
      expect(await verify(blind)).toMatchObject({
        ok: true,
        entries: 14,
        redacted: 14,
        scope: 'system:by-nothing',
      });
    });

    it('names the chain and seq of a deleted redacted line', async () => {
      for (const [chain, seq] of [
        ['main', 3],
        ['main', 5],
        ['side', 1],
      ] as const) {
        const k = indexOf(chain, seq);
        expect(JSON.parse(lines[k]!)).toMatchObject({ type: 'redacted' });
        const deleted = lines.filter((_, j) => j !== k);
        // Even with the end line's counts made to fit.
        deleted[deleted.length - 1] = JSON.stringify({
          type: 'end',
          entries: 13,
          checkpoints: 2,
          redacted: 7,
        });
        expectFailure(await verify(deleted), { reason: 'seq-mismatch', chain, firstBadSeq: seq });
      }
      // The last entry of a signed chain: its signed head is missing.
      const last = lines.filter((_, j) => j !== indexOf('side', 2));
      last[last.length - 1] = JSON.stringify({ type: 'end', entries: 13, checkpoints: 2, redacted: 7 });
      expectFailure(await verify(last), {
        reason: 'truncated',
        chain: 'side',
        firstBadSeq: 2,
        checkpoint: 2,
      });
    });

    it('detects redacted and full lines reordered', async () => {
      const k = indexOf('main', 2);
      const swapped = [...lines];
      [swapped[k], swapped[k + 1]] = [swapped[k + 1]!, swapped[k]!];
      expectFailure(await verify(swapped), { reason: 'seq-mismatch', chain: 'main', firstBadSeq: 2 });
      const m = indexOf('main', 3);
      const around = [...lines];
      [around[m], around[m + 1]] = [around[m + 1]!, around[m]!];
      expectFailure(await verify(around), { reason: 'seq-mismatch', chain: 'main', firstBadSeq: 3 });
      // Redacted main 3 and full main 4 swapped and renumbered to hide it: the links break instead.
      const renumbered = [...lines];
      const a = JSON.parse(lines[m]!) as { type: string; seq: number };
      const b = JSON.parse(lines[m + 1]!) as { hash: string; entry: AuditEntry };
      expect([a.type, b.entry.seq]).toEqual(['redacted', 4]);
      renumbered[m] = render({ type: 'entry', hash: b.hash, entry: { ...b.entry, seq: 3 } });
      renumbered[m + 1] = JSON.stringify({ ...a, seq: 4 });
      expectFailure(await verify(renumbered), {
        reason: 'prev-hash-mismatch',
        chain: 'main',
        firstBadSeq: 3,
      });
    });

    it('names the seq of an edited in-scope field', async () => {
      const k = indexOf('main', 4);
      const p = JSON.parse(lines[k]!) as Extract<Line, { type: 'entry' }>;
      expect(p.entry).toMatchObject({ messageId: 'sn-msg-1', kind: 'rejected' });
      for (const edited of [
        { ...p.entry, kind: 'delivered' as const },
        { ...p.entry, receiver: 'ags:16051000' },
        { ...p.entry, detail: {} },
      ]) {
        const tampered = lines.map((l, j) =>
          j === k ? render({ type: 'entry', hash: p.hash, entry: edited }) : l,
        );
        expectFailure(await verify(tampered), { reason: 'hash-mismatch', chain: 'main', firstBadSeq: 4 });
      }
      // Swapping a full entry for a redacted line of the same hash hides it, but cannot alter it:
      // what the line says is still the stored entry's position and hash.
      const hidden = lines.map((l, j) =>
        j === k
          ? JSON.stringify({
              type: 'redacted',
              chain: 'main',
              seq: 4,
              prevHash: p.entry.prevHash,
              hash: p.hash,
            })
          : l,
      );
      hidden[hidden.length - 1] = JSON.stringify({ type: 'end', entries: 14, checkpoints: 2, redacted: 9 });
      expect(await verify(hidden)).toMatchObject({ ok: true, redacted: 9 });
    });

    it('detects a redacted line whose hash was changed', async () => {
      const other = 'ab'.repeat(32);
      const withHash = (chain: string, seq: number, hash: string, source = lines) => {
        const k = indexOf(chain, seq);
        return source.map((l, j) => (j === k ? JSON.stringify({ ...JSON.parse(l), hash }) : l));
      };
      // The next entry's link breaks.
      expectFailure(await verify(withHash('main', 2, other)), {
        reason: 'prev-hash-mismatch',
        chain: 'main',
        firstBadSeq: 3,
      });
      // The next line re-linked too (both redacted): the signed Merkle root breaks.
      const k3 = indexOf('main', 3);
      const relinked = withHash('main', 2, other).map((l, j) =>
        j === k3 ? JSON.stringify({ ...JSON.parse(l), prevHash: other }) : l,
      );
      expectFailure(await verify(relinked), { reason: 'checkpoint-root', checkpoint: 1 });
      // The last entry of a chain: the signed head breaks.
      expectFailure(await verify(withHash('side', 2, other)), {
        reason: 'head-mismatch',
        chain: 'side',
        firstBadSeq: 2,
        checkpoint: 2,
      });
      // Not a hash at all.
      expectFailure(await verify(withHash('main', 9, 'AB'.repeat(32))), {
        reason: 'malformed',
        chain: 'main',
        firstBadSeq: 9,
      });
    });

    it('refuses redacted lines outside a scoped export, and a wrong count of them', async () => {
      const header = JSON.parse(lines[0]!) as Record<string, unknown>;
      const { scope: _scope, ...unscoped } = header;
      const asV1 = [JSON.stringify({ ...unscoped, version: 1 }), ...lines.slice(1)];
      expectFailure(await verify(asV1), { reason: 'malformed', line: indexOf('main', 2) + 1 });
      const noScope = [JSON.stringify(unscoped), ...lines.slice(1)];
      expectFailure(await verify(noScope), { reason: 'malformed', line: 1 });
      const miscounted = [...lines];
      miscounted[miscounted.length - 1] = JSON.stringify({
        type: 'end',
        entries: 14,
        checkpoints: 2,
        redacted: 7,
      });
      expectFailure(await verify(miscounted), { reason: 'incomplete' });
      const uncounted = [...lines];
      uncounted[uncounted.length - 1] = JSON.stringify({ type: 'end', entries: 14, checkpoints: 2 });
      expectFailure(await verify(uncounted), { reason: 'incomplete' });
    });
  });
}
