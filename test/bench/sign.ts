/**
 * Signing and verification speed against the physical ceiling, in one run with one key:
 *
 *   one core   gateway signer (DocumentSigner.signCanonical)  vs  raw crypto.sign of the same document
 *              gateway verifier (verifyDocument, pinned)       vs  raw crypto.verify of the same document
 *              own-seal verifier (delivery's path, no DOM)     vs  raw crypto.verify of the same document
 *              xmldsigjs reference signer                      (context: what a DOM signer reaches)
 *   all cores  SignerPool (the server's sealer), 64 in flight  vs  raw crypto.sign in one thread per core
 *
 * Method: the one-core pairs are measured in alternating rounds (raw, gateway, raw, gateway, …) so
 * that load from other processes on the machine hits both sides alike; the ratio is taken over the
 * summed rounds. The document is a canonical XÖV-style message of about 3 KB.
 *
 * Output: a table on stdout and bench/sign-results.json (--out) with sign_ratio_vs_raw,
 * verify_ratio_vs_raw, sign_ceiling_msgs_per_s — raw crypto.sign on every core, the physical
 * ceiling for sealed messages (as in bench/results.json) — and pool_msgs_per_s, the SignerPool's
 * sealing rate on all cores, i.e. the most messages per second the server can seal.
 * Options: --algorithm rsa-sha256|ecdsa-p256-sha256 (default rsa-sha256), --rounds N (default 5),
 * --round-ms MS (default 400), --out FILE.
 */
import { createPrivateKey, sign, verify, X509Certificate } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { createCa, issueCertificate } from '../../gateway/pki/ca.ts';
import { verifyOwnSealFast } from '../../gateway/signing/own-seal.ts';
import { DocumentSigner, type SigningKey, signWithXmldsigjs } from '../../gateway/signing/signer.ts';
import { SignerPool } from '../../gateway/signing/signer-pool.ts';
import { verifyDocument } from '../../gateway/signing/verifier.ts';
import { canonicalDocument, paired, rateSync, rawSignThreads } from './sign-rates.ts';

const { values } = parseArgs({
  options: {
    algorithm: { type: 'string', default: 'rsa-sha256' },
    rounds: { type: 'string', default: '5' },
    'round-ms': { type: 'string', default: '400' },
    out: { type: 'string', default: path.join(REPO_ROOT, 'bench/sign-results.json') },
  },
});
const ALGORITHM = values.algorithm as SigningKey['algorithm'];
const ROUNDS = Number(values.rounds);
const ROUND_MS = Number(values['round-ms']);
const CORES = availableParallelism();

async function rateAsync(ms: number, op: () => Promise<unknown>): Promise<{ ops: number; seconds: number }> {
  const started = process.hrtime.bigint();
  const until = started + BigInt(ms) * 1_000_000n;
  let ops = 0;
  while (process.hrtime.bigint() < until) {
    await op();
    ops++;
  }
  return { ops, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** Alternating rounds of two measurements; returns the summed rates and their ratio (b / a). */
/** The SignerPool on all cores with `inFlight` requests outstanding, for `ms` milliseconds. */
async function poolRate(
  pool: SignerPool,
  document: string,
  ms: number,
  inFlight = 64,
): Promise<{ ops: number; seconds: number }> {
  const started = process.hrtime.bigint();
  const until = started + BigInt(ms) * 1_000_000n;
  let completed = 0;
  const lane = async () => {
    while (process.hrtime.bigint() < until) {
      await pool.sign(document);
      completed++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return { ops: completed, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

async function main(): Promise<void> {
  const ca = createCa({ commonName: 'Bench CA', days: 1, keyAlgorithm: 'rsa-2048' });
  const issued = issueCertificate(ca, {
    commonName: 'bench signing',
    usage: 'signing',
    days: 1,
    keyAlgorithm: ALGORITHM === 'rsa-sha256' ? 'rsa-2048' : 'ec-p256',
  });
  const key: SigningKey = {
    privateKey: createPrivateKey(issued.keyPem),
    certPem: issued.certPem,
    algorithm: ALGORITHM,
  };
  const signOptions =
    ALGORITHM === 'ecdsa-p256-sha256'
      ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' as const }
      : key.privateKey;
  const certificate = new X509Certificate(issued.certPem);
  const anchor = new X509Certificate(ca.certPem);
  const document = canonicalDocument();
  const bytes = Buffer.from(document, 'utf8');
  const signer = new DocumentSigner(key);
  const sealed = signer.signCanonical(document);
  const rawSignature = sign('sha256', bytes, signOptions);
  const verifyKey =
    ALGORITHM === 'ecdsa-p256-sha256'
      ? { key: certificate.publicKey, dsaEncoding: 'ieee-p1363' as const }
      : certificate.publicKey;
  const verifyOptions = { trustAnchors: [anchor], pinned: certificate };
  if ((await verifyDocument(sealed, verifyOptions)).verifiedBy !== 'canonical-bytes') {
    throw new Error('the verifier did not take its fast path on the gateway seal');
  }

  const signing = await paired(
    ROUNDS,
    ROUND_MS,
    (ms) => rateSync(ms, () => sign('sha256', bytes, signOptions)),
    (ms) => rateSync(ms, () => signer.signCanonical(document)),
  );
  const verifying = await paired(
    ROUNDS,
    ROUND_MS,
    (ms) => rateSync(ms, () => verify('sha256', bytes, verifyKey, rawSignature)),
    (ms) => rateAsync(ms, () => verifyDocument(sealed, verifyOptions)),
  );
  const sealVerifying = await paired(
    ROUNDS,
    ROUND_MS,
    (ms) => rateSync(ms, () => verify('sha256', bytes, verifyKey, rawSignature)),
    (ms) => rateSync(ms, () => verifyOwnSealFast(sealed, verifyOptions)),
  );
  if (verifyOwnSealFast(sealed, verifyOptions)?.verifiedBy !== 'own-seal') {
    throw new Error('the own-seal verifier did not accept the gateway seal');
  }
  const reference = await rateAsync(ROUND_MS, () => signWithXmldsigjs(document, key));
  const xmldsigjsRate = reference.ops / reference.seconds;

  const pool = new SignerPool({ threads: CORES, key });
  await pool.whenReady();
  await poolRate(pool, document, 200); // warm-up
  const raw = await rawSignThreads(issued.keyPem, document, ALGORITHM);
  const allCores = await paired(
    ROUNDS,
    ROUND_MS,
    (ms) => raw.round(ms),
    (ms) => poolRate(pool, document, ms),
  );
  const rawAll = allCores.a;
  const poolOps = allCores.b;
  const counts = pool.signedCounts;
  await raw.close();
  await pool.close();

  const results = {
    algorithm: ALGORITHM,
    key: ALGORITHM === 'rsa-sha256' ? 'RSA-2048' : 'EC P-256',
    document_bytes: bytes.length,
    cores: CORES,
    raw_sign_ops_per_s: Math.round(signing.a),
    signer_ops_per_s: Math.round(signing.b),
    sign_ratio_vs_raw: Number(signing.ratio.toFixed(3)),
    raw_verify_ops_per_s: Math.round(verifying.a),
    verifier_ops_per_s: Math.round(verifying.b),
    verify_ratio_vs_raw: Number(verifying.ratio.toFixed(3)),
    own_seal_verifier_ops_per_s: Math.round(sealVerifying.b),
    own_seal_verify_ratio_vs_raw: Number(sealVerifying.ratio.toFixed(3)),
    xmldsigjs_sign_ops_per_s: Math.round(xmldsigjsRate),
    xmldsigjs_ratio_vs_raw: Number((xmldsigjsRate / signing.a).toFixed(3)),
    sign_ceiling_msgs_per_s: Math.round(rawAll),
    pool_msgs_per_s: Math.round(poolOps),
    pool_ratio_vs_raw_all_cores: Number((poolOps / rawAll).toFixed(3)),
    pool_signed_per_thread: counts.threads,
    measured_at: new Date().toISOString(),
  };

  const row = (what: string, ops: number, ceiling: number | null) =>
    `${what.padEnd(44)}${String(Math.round(ops)).padStart(10)}${ceiling === null ? '' : `${(ops / ceiling).toFixed(2).padStart(10)}`}`;
  const lines = [
    `signing benchmark: ${results.key}, ${results.document_bytes}-byte canonical document, ${CORES} cores`,
    `${'measurement'.padEnd(44)}${'ops/s'.padStart(10)}${'ratio'.padStart(10)}`,
    row('raw crypto.sign, 1 core', signing.a, null),
    row('gateway signer (signCanonical), 1 core', signing.b, signing.a),
    row('xmldsigjs reference signer, 1 core', xmldsigjsRate, signing.a),
    row('raw crypto.verify, 1 core', verifying.a, null),
    row('gateway verifier (verifyDocument), 1 core', verifying.b, verifying.a),
    row('own-seal verifier (delivery path), 1 core', sealVerifying.b, sealVerifying.a),
    row(`raw crypto.sign, ${CORES} threads`, rawAll, null),
    row(`SignerPool, ${CORES} threads (server sealer)`, poolOps, rawAll),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  mkdirSync(path.dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`written to ${path.relative(process.cwd(), values.out)}\n`);
  if (results.sign_ratio_vs_raw < 0.5) {
    process.stderr.write(`sign_ratio_vs_raw ${results.sign_ratio_vs_raw} is below the target 0.5\n`);
    process.exitCode = 1;
  }
}

await main();
