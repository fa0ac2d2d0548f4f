/**
 * The browser's inclusion-proof verifier: the twin of gateway/audit/verify-proof.ts and
 * gateway/audit/canonical-json.ts in plain JavaScript (the console ships no build step), using only
 * WebCrypto. test/console/verify-proof-twin.test.ts runs both on the same real and tampered proofs
 * and requires the same verdicts, so the two cannot drift apart unnoticed.
 *
 * entry fields → entry hash → audit path → Merkle root (RFC 9162 §2.1.3.2) → ECDSA P-256 signature
 * of the checkpoint by the audit key.
 */

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
];

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
];

const encoder = new TextEncoder();

function subtle() {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto (crypto.subtle) is not available');
  return s;
}

/** RFC 8785 canonical JSON (the gateway hashes and signs exactly these bytes). */
export function canonicalJson(value) {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: non-finite number ${value}`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const keys = Object.keys(value).sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON: ${typeof value} is not a JSON value`);
  }
}

export function hexToBytes(hex) {
  if (typeof hex !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(hex)) throw new TypeError('not lowercase hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesToHex(bytes) {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

function base64ToBytes(b64) {
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

async function sha256(data) {
  return new Uint8Array(await subtle().digest('SHA-256', data));
}

function prefixed(prefix, ...parts) {
  const out = new Uint8Array(1 + parts.reduce((n, p) => n + p.length, 0));
  out[0] = prefix;
  let offset = 1;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** The hash an entry must have: SHA-256 of the canonical JSON of its 14 hashed fields. */
export async function entryHashOf(entry) {
  const fields = {};
  for (const f of ENTRY_FIELDS) fields[f] = entry[f];
  return bytesToHex(await sha256(encoder.encode(canonicalJson(fields))));
}

/** The signed bytes of a checkpoint: the canonical JSON of its body (everything but the signature). */
export function checkpointSigningInput(checkpoint) {
  const body = {};
  for (const f of BODY_FIELDS) body[f] = checkpoint[f];
  return canonicalJson(body);
}

/** RFC 9162 §2.1.3.2: does `path` lead from the entry hash at `leafIndex` to `root`? */
export async function verifyInclusion({ entryHash, leafIndex, treeSize, path, root }) {
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize)) return false;
  if (leafIndex < 0 || leafIndex >= treeSize) return false;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = await sha256(prefixed(0x00, hexToBytes(entryHash)));
  for (const hex of path) {
    if (sn === 0) return false;
    const p = hexToBytes(hex);
    if (p.length !== 32) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(prefixed(0x01, p, r));
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await sha256(prefixed(0x01, r, p));
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesToHex(r) === root;
}

function spkiOf(pem) {
  return base64ToBytes(pem.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, ''));
}

/** Hex SHA-256 of the key's SubjectPublicKeyInfo: the keyId every checkpoint names. */
export async function auditKeyId(pem) {
  return bytesToHex(await sha256(spkiOf(pem)));
}

export async function importAuditPublicKey(pem) {
  return subtle().importKey('spki', spkiOf(pem), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
}

export async function verifyCheckpointSignature(checkpoint, key) {
  if (checkpoint.algorithm !== 'ecdsa-p256-sha256' || typeof checkpoint.signature !== 'string') return false;
  let signature;
  try {
    signature = base64ToBytes(checkpoint.signature);
  } catch {
    return false;
  }
  return subtle().verify(
    { name: 'ECDSA', hash: 'SHA-256' },
    key,
    signature,
    encoder.encode(checkpointSigningInput(checkpoint)),
  );
}

/** Position of (chain, seq) among a checkpoint's leaves: chains in `heads` order, then seq. */
export function leafIndexOf(checkpoint, chain, seq) {
  let index = 0;
  for (const head of checkpoint.heads) {
    const from = checkpoint.from.find((h) => h.chain === head.chain)?.seq ?? 0;
    if (head.chain === chain) return index + (seq - from - 1);
    index += head.seq - from;
  }
  return -1;
}

/**
 * The whole check for one entry: its fields hash to the proven hash, the path leads to the
 * checkpoint's root, the checkpoint covers the entry, and the audit key signed the checkpoint.
 * Resolves to { ok: true } or { ok: false, reason } (reasons in English, as the server's).
 */
export async function verifyInclusionProof(proof, publicKeyPem, entry) {
  try {
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
  } catch (error) {
    return {
      ok: false,
      reason: `malformed proof: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}
