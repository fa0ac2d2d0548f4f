/**
 * The console's verifier (gateway/console/assets/verify-proof.js, plain JavaScript for the browser)
 * and the gateway's (gateway/audit/verify-proof.ts) must reach the same verdict on every proof: real
 * proofs cut by a real SQLite audit store over two chains and three checkpoints, and every one of
 * them tampered with in each field. Canonical JSON must agree byte for byte on arbitrary JSON.
 */
import { generateKeyPairSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditKeyIdOf, signerFor } from '../../gateway/audit/audit-key.ts';
import { canonicalJson } from '../../gateway/audit/canonical-json.ts';
import { SqliteAuditStore } from '../../gateway/audit/sqlite-audit-store.ts';
import * as node from '../../gateway/audit/verify-proof.ts';
import { CONSOLE_ASSETS_DIR } from '../../gateway/console/serve.ts';
import type { AuditEntry, AuditEventInput, InclusionProof } from '../../gateway/ports/audit-store.ts';
import { tempDir } from '../support/gateway.ts';

type Verdict = { ok: true } | { ok: false; reason: string };
interface BrowserVerifier {
  canonicalJson(value: unknown): string;
  verifyInclusionProof(proof: unknown, publicKeyPem: string, entry?: unknown): Promise<Verdict>;
}

const keyPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKey, pem: publicKey.export({ type: 'spki', format: 'pem' }) as string };
};

let browser: BrowserVerifier;
let dir: string;
let store: SqliteAuditStore;
const key = keyPair();
const proofs: { entry: AuditEntry; proof: InclusionProof }[] = [];

function event(n: number): AuditEventInput {
  return {
    time: new Date(Date.UTC(2026, 10, 2, 8) + n * 1000).toISOString(),
    kind: n % 3 === 0 ? 'queued' : 'received',
    actor: 'system:sn-melde',
    messageId: `m-${n}`,
    sender: 'ags:14612000',
    receiver: 'ags:15003000',
    senderSystem: 'sn-melde',
    receiverSystem: 'st-melde',
    messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
    digest: n % 2 === 0 ? 'ab'.repeat(32) : null,
    detail: { n, note: 'Grüße aus Görlitz — "quoted" \\ \u2028' },
  };
}

beforeAll(async () => {
  browser = (await import(
    pathToFileURL(path.join(CONSOLE_ASSETS_DIR, 'verify-proof.js')).href
  )) as BrowserVerifier;
  dir = tempDir('twin');
  store = new SqliteAuditStore({ file: path.join(dir, 'audit.sqlite') });
  const signer = signerFor(key.privateKey, auditKeyIdOf(key.publicKey));
  let n = 0;
  // Three checkpoints over two chains of uneven length: trees of odd sizes, leaves of both chains.
  for (const [main, other] of [
    [5, 2],
    [1, 6],
    [7, 0],
  ] as const) {
    await store.append(
      Array.from({ length: main }, () => event(++n)),
      'main',
    );
    if (other > 0)
      await store.append(
        Array.from({ length: other }, () => event(++n)),
        'node-2',
      );
    await store.createCheckpoint(signer);
  }
  for (const chain of ['main', 'node-2']) {
    for (const entry of await store.query({ chain })) {
      const proof = await store.inclusionProof(chain, entry.seq);
      if (!proof) throw new Error(`no proof for ${chain}/${entry.seq}`);
      proofs.push({ entry, proof });
    }
  }
});

afterAll(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The gateway's verdict; a throw (malformed input) counts as a refusal. */
async function nodeVerdict(
  proof: InclusionProof,
  pem: string,
  entry?: AuditEntry,
): Promise<Verdict | 'refused'> {
  try {
    return await node.verifyInclusionProof(proof, pem, entry);
  } catch {
    return 'refused';
  }
}

async function expectSameVerdict(
  proof: InclusionProof,
  pem: string,
  entry: AuditEntry | undefined,
  label: string,
) {
  const fromNode = await nodeVerdict(proof, pem, entry);
  const fromBrowser = await browser.verifyInclusionProof(
    structuredClone(proof),
    pem,
    entry && structuredClone(entry),
  );
  if (fromNode === 'refused') expect(fromBrowser.ok, label).toBe(false);
  else expect(fromBrowser, label).toEqual(fromNode);
  return fromBrowser;
}

const flipHex = (hex: string) => (hex[0] === '0' ? '1' : '0') + hex.slice(1);

describe('the browser verifier and the gateway verifier', () => {
  it('accept every real proof of two chains over three checkpoints', async () => {
    expect(proofs.length).toBe(21);
    expect(new Set(proofs.map((p) => p.proof.checkpoint.id))).toEqual(new Set([1, 2, 3]));
    for (const { entry, proof } of proofs) {
      const label = `${entry.chain}/${entry.seq}`;
      expect(await expectSameVerdict(proof, key.pem, entry, label), label).toEqual({ ok: true });
      expect(await expectSameVerdict(proof, key.pem, undefined, label), label).toEqual({ ok: true });
    }
  });

  it('refuse the same tampered proofs for the same reasons', async () => {
    const other = keyPair();
    let refusals = 0;
    for (const { entry, proof } of proofs) {
      const cp = proof.checkpoint;
      const tampered: [string, InclusionProof, AuditEntry | undefined, string][] = [
        ['edited entry field', proof, { ...entry, receiver: 'ags:16051000' }, key.pem],
        ['edited entry detail', proof, { ...entry, detail: { ...entry.detail, n: -1 } }, key.pem],
        ['edited entry hash', proof, { ...entry, hash: flipHex(entry.hash) }, key.pem],
        ['other entry', proof, { ...entry, seq: entry.seq + 1 }, key.pem],
        ['entry hash in proof', { ...proof, entryHash: flipHex(proof.entryHash) }, undefined, key.pem],
        ['leaf index', { ...proof, leafIndex: proof.leafIndex + 1 }, undefined, key.pem],
        ['tree size', { ...proof, treeSize: proof.treeSize + 1 }, undefined, key.pem],
        [
          'seq outside checkpoint',
          { ...proof, seq: cp.heads.find((h) => h.chain === proof.chain)!.seq + 1 },
          undefined,
          key.pem,
        ],
        ['path extended', { ...proof, path: [...proof.path, proof.entryHash] }, undefined, key.pem],
        ['root', { ...proof, checkpoint: { ...cp, root: flipHex(cp.root) } }, undefined, key.pem],
        [
          'checkpoint time',
          { ...proof, checkpoint: { ...cp, time: '2030-01-01T00:00:00.000Z' } },
          undefined,
          key.pem,
        ],
        [
          'signature',
          // Another first character: one in 64 signatures starts with `A` already.
          {
            ...proof,
            checkpoint: {
              ...cp,
              signature: `${cp.signature.startsWith('A') ? 'B' : 'A'}${cp.signature.slice(1)}`,
            },
          },
          undefined,
          key.pem,
        ],
        ['signature not base64', { ...proof, checkpoint: { ...cp, signature: '***' } }, undefined, key.pem],
        ['key id', { ...proof, checkpoint: { ...cp, keyId: flipHex(cp.keyId) } }, undefined, key.pem],
        ['another key', proof, undefined, other.pem],
        ['malformed path', { ...proof, path: ['zz', ...proof.path.slice(1)] }, undefined, key.pem],
      ];
      if (proof.path.length > 0) {
        tampered.push([
          'path element',
          { ...proof, path: [flipHex(proof.path[0]!), ...proof.path.slice(1)] },
          undefined,
          key.pem,
        ]);
        tampered.push(['path shortened', { ...proof, path: proof.path.slice(1) }, undefined, key.pem]);
      }
      for (const [what, p, e, pem] of tampered) {
        const verdict = await expectSameVerdict(p, pem, e, `${what} at ${entry.chain}/${entry.seq}`);
        expect(verdict.ok, `${what} at ${entry.chain}/${entry.seq}`).toBe(false);
        refusals += 1;
      }
    }
    expect(refusals).toBeGreaterThan(proofs.length * 16);
  });

  it('write the same canonical JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(browser.canonicalJson(value)).toBe(canonicalJson(value));
      }),
      { numRuns: 500 },
    );
    const awkward = { b: [1, 2.5, -0, 1e21, 'a\u0000\ud800'], a: { ä: null, Z: true }, '': 'x' };
    expect(browser.canonicalJson(awkward)).toBe(canonicalJson(awkward));
  });
});
