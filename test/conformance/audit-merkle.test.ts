/**
 * The Merkle tree of the checkpoints against RFC 6962's recursive definition, and inclusion proofs
 * cut in Node verified by the dependency-free WebCrypto verifier (what the browser runs).
 */
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chainEntry, GENESIS_HASH } from '../../gateway/audit/hash-chain.ts';
import { auditPath, EMPTY_TREE_ROOT, merkleRoot, packHashes } from '../../gateway/audit/merkle.ts';
import { entryHashOf, verifyInclusion } from '../../gateway/audit/verify-proof.ts';
import { auditEvent } from './audit-store.conformance.ts';

const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();

/** RFC 6962 §2.1 MTH, written as the RFC states it. */
function mth(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return sha();
  if (leaves.length === 1) return sha(Buffer.from([0]), leaves[0]!);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha(Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

/** RFC 6962 §2.1.1 PATH(m, D[n]). */
function path(m: number, leaves: Buffer[]): Buffer[] {
  if (leaves.length <= 1) return [];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return m < k
    ? [...path(m, leaves.slice(0, k)), mth(leaves.slice(k))]
    : [...path(m - k, leaves.slice(k)), mth(leaves.slice(0, k))];
}

const leavesOf = (n: number) => Array.from({ length: n }, () => randomBytes(32));

describe('Merkle tree (RFC 6962)', () => {
  it('has the empty root of SHA-256("") and equals MTH for every size up to 70', () => {
    expect(EMPTY_TREE_ROOT).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(merkleRoot(Buffer.alloc(0))).toBe(EMPTY_TREE_ROOT);
    for (let n = 1; n <= 70; n++) {
      const leaves = leavesOf(n);
      expect(merkleRoot(Buffer.concat(leaves)), `n=${n}`).toBe(mth(leaves).toString('hex'));
    }
  });

  it('cuts the audit path of RFC 6962 PATH for every leaf', () => {
    for (const n of [1, 2, 3, 5, 7, 8, 9, 16, 17, 31]) {
      const leaves = leavesOf(n);
      for (let m = 0; m < n; m++) {
        expect(auditPath(Buffer.concat(leaves), m)).toEqual(path(m, leaves).map((b) => b.toString('hex')));
      }
    }
    expect(() => auditPath(Buffer.concat(leavesOf(3)), 3)).toThrow(RangeError);
  });

  it('verifies every proof with WebCrypto, and no proof for another leaf, size or root', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.nat(), async (n, pick) => {
        const leaves = leavesOf(n);
        const packed = Buffer.concat(leaves);
        const root = merkleRoot(packed);
        const m = pick % n;
        const proof = {
          entryHash: leaves[m]!.toString('hex'),
          leafIndex: m,
          treeSize: n,
          path: auditPath(packed, m),
          root,
        };
        expect(await verifyInclusion(proof)).toBe(true);
        if (n > 1) {
          expect(await verifyInclusion({ ...proof, leafIndex: (m + 1) % n })).toBe(false);
          expect(await verifyInclusion({ ...proof, entryHash: leaves[(m + 1) % n]!.toString('hex') })).toBe(
            false,
          );
        }
        expect(await verifyInclusion({ ...proof, root: randomBytes(32).toString('hex') })).toBe(false);
        expect(await verifyInclusion({ ...proof, path: [...proof.path, root] })).toBe(false);
        expect(await verifyInclusion({ ...proof, leafIndex: n })).toBe(false);
      }),
      { numRuns: 150 },
    );
  });

  it('hashes entries in the browser exactly as the gateway does', async () => {
    let head = { seq: 0, hash: GENESIS_HASH };
    for (let i = 0; i < 20; i++) {
      const entry = chainEntry(
        auditEvent({ detail: { i, text: 'Grüße 𝄞 "x" \\ \n', nested: { b: [1, null], a: true } } }),
        'main',
        head,
      );
      expect(await entryHashOf(entry)).toBe(entry.hash);
      head = entry;
    }
    expect(packHashes(['ab'.repeat(32)]).toString('hex')).toBe('ab'.repeat(32));
    expect(() => packHashes(['xyz'])).toThrow(TypeError);
  });
});
