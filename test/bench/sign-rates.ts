/**
 * Rates shared by the signing benchmark (sign.ts) and the end-to-end benchmark (run.ts): the raw
 * crypto.sign ceiling on every core, and paired one-core measurements.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SigningKey } from '../../gateway/signing/canonical-signer.ts';

/** A canonical document shaped like a sealed Rückmeldung (namespaces, header, person, addresses). */
export function canonicalDocument(): string {
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
export function rateSync(ms: number, op: () => void): { ops: number; seconds: number } {
  const started = process.hrtime.bigint();
  const until = started + BigInt(ms) * 1_000_000n;
  let ops = 0;
  while (process.hrtime.bigint() < until) {
    op();
    ops++;
  }
  return { ops, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/**
 * CPU time (user + system, this process) and calls of a synchronous operation run for `ms`
 * milliseconds: CPU per call, unlike a rate, does not drop when other load takes the core away.
 */
export function cpuSync(ms: number, op: () => void): { cpuMs: number; ops: number } {
  const before = process.cpuUsage();
  const { ops } = rateSync(ms, op);
  const used = process.cpuUsage(before);
  return { cpuMs: (used.user + used.system) / 1000, ops };
}

/**
 * Alternating rounds of `a` and `b` (a, b, a, b, …) so that load from other processes on the
 * machine hits both alike; rates and the ratio b/a over the summed rounds.
 */
export async function paired(
  rounds: number,
  roundMs: number,
  a: (ms: number) => Promise<{ ops: number; seconds: number }> | { ops: number; seconds: number },
  b: (ms: number) => Promise<{ ops: number; seconds: number }> | { ops: number; seconds: number },
): Promise<{ a: number; b: number; ratio: number }> {
  let aOps = 0;
  let aSeconds = 0;
  let bOps = 0;
  let bSeconds = 0;
  for (let round = 0; round < rounds; round++) {
    const x = await a(roundMs);
    aOps += x.ops;
    aSeconds += x.seconds;
    const y = await b(roundMs);
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
export async function rawSignThreads(
  keyPem: string,
  document: string,
  algorithm: SigningKey['algorithm'],
  threads: number = availableParallelism(),
) {
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
    { length: threads },
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
