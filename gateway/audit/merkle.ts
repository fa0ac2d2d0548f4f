/**
 * RFC 6962 / RFC 9162 Merkle trees over audit entry hashes, in Node for speed (the checkpointer and
 * the offline verifier hash millions of leaves). The browser-side twin is verify-proof.ts.
 *
 *   leaf hash  = SHA-256(0x00 ‖ entry hash (32 bytes))
 *   node hash  = SHA-256(0x01 ‖ left ‖ right)
 *   empty tree = SHA-256("")
 *
 * The tree over n leaves splits at the largest power of two below n (RFC 6962 §2.1); pairing
 * bottom-up and promoting an odd last node unhashed builds exactly that tree.
 */
import { hash } from 'node:crypto';

const HASH_BYTES = 32;
export const EMPTY_TREE_ROOT = hash('sha256', '', 'hex');

/** Concatenated 32-byte entry hashes from hex strings. */
export function packHashes(hexHashes: readonly string[]): Buffer {
  const packed = Buffer.allocUnsafe(hexHashes.length * HASH_BYTES);
  for (let i = 0; i < hexHashes.length; i++) {
    if (packed.write(hexHashes[i]!, i * HASH_BYTES, HASH_BYTES, 'hex') !== HASH_BYTES) {
      throw new TypeError(`merkle: leaf ${i} is not a 64-digit hex hash`);
    }
  }
  return packed;
}

/**
 * SHA-256 of `input` written into `out` at `offset`. The digest comes back as a 'binary' (latin1) string (one
 * char per byte) rather than a Buffer: for 33- and 65-byte inputs the Buffer allocation costs more
 * than the hash itself, and a verifier hashes two nodes per entry.
 */
function hashInto(input: Buffer, out: Buffer, offset: number): void {
  out.write(hash('sha256', input, 'binary'), offset, HASH_BYTES, 'latin1');
}

/** Leaf hashes of packed entry hashes, packed the same way. */
function leafLevel(entryHashes: Buffer): Buffer {
  const n = entryHashes.length / HASH_BYTES;
  const out = Buffer.allocUnsafe(entryHashes.length);
  const scratch = Buffer.allocUnsafe(1 + HASH_BYTES);
  scratch[0] = 0x00;
  for (let i = 0; i < n; i++) {
    entryHashes.copy(scratch, 1, i * HASH_BYTES, (i + 1) * HASH_BYTES);
    hashInto(scratch, out, i * HASH_BYTES);
  }
  return out;
}

/** Reduces a packed level in place to its root (the buffer is overwritten). */
function reduce(level: Buffer, count: number): Buffer {
  const scratch = Buffer.allocUnsafe(1 + 2 * HASH_BYTES);
  scratch[0] = 0x01;
  let n = count;
  while (n > 1) {
    const pairs = n >>> 1;
    for (let i = 0; i < pairs; i++) {
      level.copy(scratch, 1, 2 * i * HASH_BYTES, (2 * i + 2) * HASH_BYTES);
      hashInto(scratch, level, i * HASH_BYTES);
    }
    if (n & 1) level.copy(level, pairs * HASH_BYTES, (n - 1) * HASH_BYTES, n * HASH_BYTES);
    n = pairs + (n & 1);
  }
  return level.subarray(0, HASH_BYTES);
}

/** Hex Merkle root over packed 32-byte entry hashes. */
export function merkleRoot(entryHashes: Buffer): string {
  const n = entryHashes.length / HASH_BYTES;
  if (!Number.isInteger(n)) throw new TypeError('merkle: packed hashes must be a multiple of 32 bytes');
  if (n === 0) return EMPTY_TREE_ROOT;
  return Buffer.from(reduce(leafLevel(entryHashes), n)).toString('hex');
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Root of leaves [from, to) of an already leaf-hashed level (a copy is reduced). */
function subtreeRoot(leaves: Buffer, from: number, to: number): Buffer {
  return Buffer.from(reduce(Buffer.from(leaves.subarray(from * HASH_BYTES, to * HASH_BYTES)), to - from));
}

/** RFC 6962 PATH(m, D[n]): hex sibling hashes from leaf `index` up to the root. */
export function auditPath(entryHashes: Buffer, index: number): string[] {
  const n = entryHashes.length / HASH_BYTES;
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new RangeError(`merkle: leaf index ${index} outside a tree of ${n}`);
  }
  const leaves = leafLevel(entryHashes);
  const path: string[] = [];
  // Walk down from the root, remembering the sibling subtree at each split; emit bottom-up.
  let from = 0;
  let to = n;
  let m = index;
  const siblings: Buffer[] = [];
  while (to - from > 1) {
    const k = largestPowerOfTwoBelow(to - from);
    if (m < k) {
      siblings.push(subtreeRoot(leaves, from + k, to));
      to = from + k;
    } else {
      siblings.push(subtreeRoot(leaves, from, from + k));
      from += k;
      m -= k;
    }
  }
  for (let i = siblings.length - 1; i >= 0; i--) path.push(siblings[i]!.toString('hex'));
  return path;
}
