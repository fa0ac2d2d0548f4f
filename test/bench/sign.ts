/**
 * Signing and verification speed against the physical ceiling, in one run with one key:
 *
 *   one core   gateway signer (DocumentSigner.signCanonical)  vs  raw crypto.sign of the same document
 *              gateway verifier (verifyDocument, pinned)       vs  raw crypto.verify of the same document
 *              xmldsigjs reference signer                      (context: what a DOM signer reaches)
 *   all cores  SignerPool (the server's sealer), 64 in flight  vs  raw crypto.sign in one thread per core
 *
 * Method: the one-core pairs are measured in alternating rounds (raw, gateway, raw, gateway, …) so
 * that load from other processes on the machine hits both sides alike; the ratio is taken over the
 * summed rounds. The document is a canonical XÖV-style message of about 3 KB.
 *
 * Output: a table on stdout and bench/sign-results.json (--out) with sign_ratio_vs_raw,
 * verify_ratio_vs_raw and sign_ceiling_msgs_per_s — the SignerPool's sealing rate on all cores,
 * i.e. the most messages per second the server can seal.
 * Options: --algorithm rsa-sha256|ecdsa-p256-sha256 (default rsa-sha256), --rounds N (default 5),
 * --round-ms MS (default 400), --out FILE.
 */
import { createPrivateKey, sign, verify, X509Certificate } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { createCa, issueCertificate } from '../../gateway/pki/ca.ts';
import { DocumentSigner, type SigningKey, signWithXmldsigjs } from '../../gateway/signing/signer.ts';
import { SignerPool } from '../../gateway/signing/signer-pool.ts';
import { verifyDocument } from '../../gateway/signing/verifier.ts';

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

/** A canonical document shaped like a sealed Rückmeldung (namespaces, header, person, addresses). */
function canonicalDocument(): string {
  const fields = Array.from(
    { length: 24 },
    (_, i) =>
      `<x:feld${i} code="${i}" listURI="urn:de:xoev:codeliste:${i}">Wert ${i} Müller &amp; Söhne</x:feld${i}>`,
  ).join('');
  return (
    '<x:rueckmeldung.anmeldunginland.0201 xmlns:x="http://www.osci.de/xmeld2511" produkt="laender-gateway" standard="XMeld" test="false" version="25.11">' +
    '<x:nachrichtenkopf.g2g><x:identifikation.nachricht><x:nachrichtenUUID>0f8fad5b-d9cb-469f-a165-70867728950e</x:nachrichtenUUID>' +
    '<x:erstellungszeitpunkt>2025-11-03T10:15:00Z</x:erstellungszeitpunkt></x:identifikation.nachricht>' +
    '<x:leser><x:kennung>ags:15003000</x:kennung></x:leser><x:autor><x:kennung>ags:14612000</x:kennung></x:autor></x:nachrichtenkopf.g2g>' +
    `<x:person>${fields}</x:person></x:rueckmeldung.anmeldunginland.0201>`
  );
}

/** Operations per second of a synchronous operation, for `ms` milliseconds. */
function rateSync(ms: number, op: () => void): { ops: number; seconds: number } {
  const started = process.hrtime.bigint();
  const until = started + BigInt(ms) * 1_000_000n;
  let ops = 0;
  while (process.hrtime.bigint() < until) {
    op();
    ops++;
  }
  return { ops, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

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
async function paired(
  a: (ms: number) => Promise<{ ops: number; seconds: number }> | { ops: number; seconds: number },
  b: (ms: number) => Promise<{ ops: number; seconds: number }> | { ops: number; seconds: number },
): Promise<{ a: number; b: number; ratio: number }> {
  let aOps = 0;
  let aSeconds = 0;
  let bOps = 0;
  let bSeconds = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const x = await a(ROUND_MS);
    aOps += x.ops;
    aSeconds += x.seconds;
    const y = await b(ROUND_MS);
    bOps += y.ops;
    bSeconds += y.seconds;
  }
  const rateA = aOps / aSeconds;
  const rateB = bOps / bSeconds;
  return { a: rateA, b: rateB, ratio: rateB / rateA };
}

/**
 * Raw crypto.sign in one plain-JavaScript thread per core; each round() runs them all at once for
 * `ms` milliseconds and returns the summed rate. The threads live across rounds.
 */
async function rawSignThreads(keyPem: string, document: string, algorithm: SigningKey['algorithm']) {
  const source = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { createPrivateKey, sign } = require('node:crypto');
    const key = createPrivateKey(workerData.keyPem);
    const options = workerData.ec ? { key, dsaEncoding: 'ieee-p1363' } : key;
    const data = Buffer.from(workerData.document, 'utf8');
    parentPort.on('message', (ms) => {
      const started = process.hrtime.bigint();
      const until = started + BigInt(ms) * 1000000n;
      let ops = 0;
      while (process.hrtime.bigint() < until) { sign('sha256', data, options); ops++; }
      parentPort.postMessage({ ops, seconds: Number(process.hrtime.bigint() - started) / 1e9 });
    });
    parentPort.postMessage('ready');`;
  const workers = Array.from(
    { length: CORES },
    () =>
      new Worker(source, {
        eval: true,
        workerData: { keyPem, document, ec: algorithm === 'ecdsa-p256-sha256' },
      }),
  );
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('message', resolve))));
  return {
    async round(ms: number): Promise<{ ops: number; seconds: number }> {
      const results = await Promise.all(
        workers.map(
          (worker) =>
            new Promise<{ ops: number; seconds: number }>((resolve) => {
              worker.once('message', resolve);
              worker.postMessage(ms);
            }),
        ),
      );
      // Summed rate over threads that ran side by side: ops per thread-second times threads.
      const ops = results.reduce((sum, r) => sum + r.ops / r.seconds, 0);
      return { ops, seconds: 1 };
    },
    close: () => Promise.all(workers.map((worker) => worker.terminate())),
  };
}

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
    (ms) => rateSync(ms, () => sign('sha256', bytes, signOptions)),
    (ms) => rateSync(ms, () => signer.signCanonical(document)),
  );
  const verifying = await paired(
    (ms) => rateSync(ms, () => verify('sha256', bytes, verifyKey, rawSignature)),
    (ms) => rateAsync(ms, () => verifyDocument(sealed, verifyOptions)),
  );
  const reference = await rateAsync(ROUND_MS, () => signWithXmldsigjs(document, key));
  const xmldsigjsRate = reference.ops / reference.seconds;

  const pool = new SignerPool({ threads: CORES, key });
  await pool.whenReady();
  await poolRate(pool, document, 200); // warm-up
  const raw = await rawSignThreads(issued.keyPem, document, ALGORITHM);
  const allCores = await paired(
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
    xmldsigjs_sign_ops_per_s: Math.round(xmldsigjsRate),
    xmldsigjs_ratio_vs_raw: Number((xmldsigjsRate / signing.a).toFixed(3)),
    raw_sign_all_cores_ops_per_s: Math.round(rawAll),
    sign_ceiling_msgs_per_s: Math.round(poolOps),
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
