/**
 * Inclusion-proof and checkpoint verification with nothing but WebCrypto (`crypto.subtle`), so the
 * auditors' console can run this very file in the browser. No Node APIs, no dependencies besides the
 * equally dependency-free canonical-json.ts.
 *
 * A proof convinces a sender that its message was logged: entry fields → entry hash (hash-chain.ts
 * rules) → audit path → Merkle root (RFC 9162 §2.1.3.2) → the checkpoint's ECDSA P-256 signature
 * by the audit key (`audit.pub`).
 */
import type {
  AuditCheckpoint,
  AuditCheckpointBody,
  AuditEntry,
  InclusionProof,
} from '../ports/audit-store.ts';
import { canonicalJson } from './canonical-json.ts';

const ENTRY_FIELDS = [
  'chain',
  'seq',
  'time',
  'kind',
  'actor',
  'messageId',
  'sender',
  'receiver',
  'senderSystem',
  'receiverSystem',
  'messageType',
  'digest',
  'detail',
  'prevHash',
] as const;

const BODY_FIELDS = [
  'type',
  'version',
  'id',
  'time',
  'prev',
  'from',
  'heads',
  'treeSize',
  'root',
  'keyId',
  'algorithm',
] as const;

const encoder = new TextEncoder();

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto (crypto.subtle) is not available');
  return s;
}

export function hexToBytes(hex: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/.test(hex)) throw new TypeError('not lowercase hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesToHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

function base64ToBytes(b64: string): Uint8Array {
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', data as Uint8Array<ArrayBuffer>));
}

function concat(prefix: number, ...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(1 + parts.reduce((n, p) => n + p.length, 0));
  out[0] = prefix;
  let offset = 1;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** The hash an entry must have (hash-chain.ts): SHA-256 of the canonical JSON of its 14 fields. */
export async function entryHashOf(entry: Omit<AuditEntry, 'hash'>): Promise<string> {
  const fields: Record<string, unknown> = {};
  for (const f of ENTRY_FIELDS) fields[f] = entry[f];
  return bytesToHex(await sha256(encoder.encode(canonicalJson(fields))));
}

/** The checkpoint without its signature: exactly the members that are signed. */
export function checkpointBody(checkpoint: AuditCheckpointBody): AuditCheckpointBody {
  const body: Record<string, unknown> = {};
  for (const f of BODY_FIELDS) body[f] = checkpoint[f];
  return body as unknown as AuditCheckpointBody;
}

/** The signed bytes of a checkpoint: canonical JSON (RFC 8785) of its body. */
export function checkpointSigningInput(checkpoint: AuditCheckpointBody): string {
  return canonicalJson(checkpointBody(checkpoint));
}

/** RFC 9162 §2.1.3.2: does `path` lead from the entry hash at `leafIndex` to `root`? */
export async function verifyInclusion(input: {
  entryHash: string;
  leafIndex: number;
  treeSize: number;
  path: readonly string[];
  root: string;
}): Promise<boolean> {
  const { leafIndex, treeSize } = input;
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize)) return false;
  if (leafIndex < 0 || leafIndex >= treeSize) return false;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = await sha256(concat(0x00, hexToBytes(input.entryHash)));
  for (const hex of input.path) {
    if (sn === 0) return false;
    const p = hexToBytes(hex);
    if (p.length !== 32) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(concat(0x01, p, r));
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await sha256(concat(0x01, r, p));
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesToHex(r) === input.root;
}

/** Imports `audit.pub` (SPKI PEM) for verifyCheckpointSignature. */
export async function importAuditPublicKey(pem: string): Promise<CryptoKey> {
  const b64 = pem.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '');
  return subtle().importKey(
    'spki',
    base64ToBytes(b64) as Uint8Array<ArrayBuffer>,
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['verify'],
  );
}

/** Hex SHA-256 of a public key's SPKI DER: the checkpoint's keyId. */
export async function auditKeyId(pem: string): Promise<string> {
  const b64 = pem.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '');
  return bytesToHex(await sha256(base64ToBytes(b64)));
}

export async function verifyCheckpointSignature(
  checkpoint: AuditCheckpoint,
  key: CryptoKey,
): Promise<boolean> {
  if (checkpoint.algorithm !== 'ecdsa-p256-sha256') return false;
  let signature: Uint8Array;
  try {
    signature = base64ToBytes(checkpoint.signature);
  } catch {
    return false;
  }
  return subtle().verify(
    { name: 'ECDSA', hash: 'SHA-256' },
    key,
    signature as Uint8Array<ArrayBuffer>,
    encoder.encode(checkpointSigningInput(checkpoint)) as Uint8Array<ArrayBuffer>,
  );
}

/** Position of (chain, seq) among a checkpoint's leaves: chains in `heads` order, then seq. */
export function leafIndexOf(cp: AuditCheckpointBody, chain: string, seq: number): number {
  let index = 0;
  for (const head of cp.heads) {
    const from = cp.from.find((h) => h.chain === head.chain)?.seq ?? 0;
    if (head.chain === chain) return index + (seq - from - 1);
    index += head.seq - from;
  }
  return -1;
}

export type ProofVerdict = { ok: true } | { ok: false; reason: string };

/**
 * Everything a sender needs to check: the entry (if given) hashes to the proven hash, the path
 * leads to the checkpoint's root, the checkpoint covers the entry's chain and seq, and the audit key
 * signed the checkpoint.
 */
export async function verifyInclusionProof(
  proof: InclusionProof,
  publicKeyPem: string,
  entry?: AuditEntry,
): Promise<ProofVerdict> {
  if (entry) {
    if (entry.chain !== proof.chain || entry.seq !== proof.seq) {
      return { ok: false, reason: 'the proof is for another entry' };
    }
    if ((await entryHashOf(entry)) !== proof.entryHash || entry.hash !== proof.entryHash) {
      return { ok: false, reason: 'the entry does not hash to the proven hash' };
    }
  }
  const cp = proof.checkpoint;
  const head = cp.heads.find((h) => h.chain === proof.chain);
  const from = cp.from.find((h) => h.chain === proof.chain)?.seq ?? 0;
  if (!head || proof.seq <= from || proof.seq > head.seq) {
    return { ok: false, reason: `checkpoint ${cp.id} does not cover ${proof.chain} seq ${proof.seq}` };
  }
  if (proof.treeSize !== cp.treeSize) return { ok: false, reason: 'tree size differs from the checkpoint' };
  if (proof.leafIndex !== leafIndexOf(cp, proof.chain, proof.seq)) {
    return { ok: false, reason: 'the leaf index is not the position of this entry in the checkpoint' };
  }
  const included = await verifyInclusion({
    entryHash: proof.entryHash,
    leafIndex: proof.leafIndex,
    treeSize: proof.treeSize,
    path: proof.path,
    root: cp.root,
  });
  if (!included) return { ok: false, reason: 'the audit path does not lead to the checkpoint root' };
  if (cp.keyId !== (await auditKeyId(publicKeyPem))) {
    return { ok: false, reason: 'the checkpoint was signed by another key' };
  }
  const key = await importAuditPublicKey(publicKeyPem);
  if (!(await verifyCheckpointSignature(cp, key))) {
    return { ok: false, reason: 'the checkpoint signature is invalid' };
  }
  return { ok: true };
}
