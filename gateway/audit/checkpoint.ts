/**
 * Signed checkpoints: what a checkpoint commits to, how it is built and signed, and how a proof is cut
 * from it. Stores call planCheckpoint → read the leaves of the planned ranges → signCheckpoint
 * inside their own lock; the offline verifier and the browser check the same bytes
 * (verify-proof.ts: checkpointSigningInput).
 *
 * A checkpoint covers, for every chain whose head moved since the previous checkpoint, the entries
 * `from.seq < seq <= heads.seq`; its leaves are their entry hashes, chains in `heads` order (sorted by
 * chain name as JavaScript sorts strings), then by seq. `prev` chains the checkpoints, so a deleted or
 * replaced checkpoint breaks the next one.
 */
import { hash, type KeyObject, verify } from 'node:crypto';
import type {
  AuditCheckpoint,
  AuditCheckpointBody,
  ChainHead,
  CheckpointSigner,
  InclusionProof,
} from '../ports/audit-store.ts';
import { auditPath, merkleRoot, packHashes } from './merkle.ts';
import { checkpointSigningInput, leafIndexOf } from './verify-proof.ts';

export const GENESIS_CHECKPOINT_HASH = '0'.repeat(64);

/** What the next checkpoint's `prev` must be: hex SHA-256 of this checkpoint's signed bytes. */
export function checkpointHash(checkpoint: AuditCheckpointBody): string {
  return hash('sha256', checkpointSigningInput(checkpoint), 'hex');
}

export interface CheckpointRange {
  chain: string;
  /** Exclusive. */
  fromSeq: number;
  /** Inclusive. */
  toSeq: number;
}

export function sortHeads(heads: readonly ChainHead[]): ChainHead[] {
  return heads
    .map((h) => ({ chain: h.chain, seq: h.seq, hash: h.hash }))
    .sort((a, b) => (a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : 0));
}

/** The chains a checkpoint covers and their seq ranges, in leaf order. */
export function rangesOf(checkpoint: Pick<AuditCheckpointBody, 'from' | 'heads'>): CheckpointRange[] {
  const from = new Map(checkpoint.from.map((h) => [h.chain, h.seq]));
  const ranges: CheckpointRange[] = [];
  for (const head of checkpoint.heads) {
    const fromSeq = from.get(head.chain) ?? 0;
    if (head.seq > fromSeq) ranges.push({ chain: head.chain, fromSeq, toSeq: head.seq });
  }
  return ranges;
}

export interface CheckpointPlan {
  previous: AuditCheckpoint | null;
  from: ChainHead[];
  heads: ChainHead[];
  ranges: CheckpointRange[];
}

/** Null when no chain moved since `previous`. Throws if a chain went backwards (the store is damaged). */
export function planCheckpoint(
  previous: AuditCheckpoint | null,
  currentHeads: ChainHead[],
): CheckpointPlan | null {
  const heads = sortHeads(currentHeads);
  const from = previous ? previous.heads : [];
  const now = new Map(heads.map((h) => [h.chain, h.seq]));
  for (const h of from) {
    const seq = now.get(h.chain);
    if (seq === undefined || seq < h.seq) {
      throw new Error(`audit checkpoint: chain ${h.chain} is behind checkpoint ${previous!.id}`);
    }
  }
  const ranges = rangesOf({ from, heads });
  if (ranges.length === 0) return null;
  return { previous, from, heads, ranges };
}

/** Leaf hashes of a checkpoint in leaf order, checked to be complete. */
export function packLeaves(ranges: CheckpointRange[], leavesByChain: Map<string, string[]>): Buffer {
  const all: string[] = [];
  for (const range of ranges) {
    const leaves = leavesByChain.get(range.chain) ?? [];
    if (leaves.length !== range.toSeq - range.fromSeq) {
      throw new Error(
        `audit checkpoint: chain ${range.chain} has ${leaves.length} entries in (${range.fromSeq}, ${range.toSeq}]`,
      );
    }
    for (const leaf of leaves) all.push(leaf);
  }
  return packHashes(all);
}

export function signCheckpoint(
  plan: CheckpointPlan,
  leavesByChain: Map<string, string[]>,
  signer: CheckpointSigner,
  time: string,
): AuditCheckpoint {
  const leaves = packLeaves(plan.ranges, leavesByChain);
  const body: AuditCheckpointBody = {
    type: 'gw-audit-checkpoint',
    version: 1,
    id: (plan.previous?.id ?? 0) + 1,
    time,
    prev: plan.previous ? checkpointHash(plan.previous) : GENESIS_CHECKPOINT_HASH,
    from: plan.from,
    heads: plan.heads,
    treeSize: leaves.length / 32,
    root: merkleRoot(leaves),
    keyId: signer.keyId,
    algorithm: signer.algorithm,
  };
  const signature = signer.sign(Buffer.from(checkpointSigningInput(body), 'utf8'));
  return { ...body, signature };
}

/** Node-side signature check (the offline verifier's fast path; verify-proof.ts has the WebCrypto one). */
export function checkpointSignatureValid(checkpoint: AuditCheckpoint, publicKey: KeyObject): boolean {
  if (checkpoint.algorithm !== 'ecdsa-p256-sha256' || typeof checkpoint.signature !== 'string') return false;
  try {
    return verify(
      'sha256',
      Buffer.from(checkpointSigningInput(checkpoint), 'utf8'),
      { key: publicKey, dsaEncoding: 'ieee-p1363' },
      Buffer.from(checkpoint.signature, 'base64'),
    );
  } catch {
    return false;
  }
}

/** The proof for (chain, seq) from the checkpoint that covers it and its leaves. */
export function proofFrom(
  checkpoint: AuditCheckpoint,
  leavesByChain: Map<string, string[]>,
  chain: string,
  seq: number,
): InclusionProof {
  const ranges = rangesOf(checkpoint);
  const leaves = packLeaves(ranges, leavesByChain);
  const leafIndex = leafIndexOf(checkpoint, chain, seq);
  const range = ranges.find((r) => r.chain === chain);
  if (!range || seq <= range.fromSeq || seq > range.toSeq || leafIndex < 0) {
    throw new RangeError(`checkpoint ${checkpoint.id} does not cover ${chain} seq ${seq}`);
  }
  return {
    chain,
    seq,
    entryHash: leaves.subarray(leafIndex * 32, leafIndex * 32 + 32).toString('hex'),
    leafIndex,
    treeSize: checkpoint.treeSize,
    path: auditPath(leaves, leafIndex),
    checkpoint,
  };
}

/** Parses a stored checkpoint (body JSON + signature), keeping exactly the signed members. */
export function checkpointFromStored(body: string, signature: string): AuditCheckpoint {
  return { ...(JSON.parse(body) as AuditCheckpointBody), signature };
}
