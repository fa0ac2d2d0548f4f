/**
 * Worker threads that check entry hashes for the offline verifier (verify-export.ts): given a
 * shared buffer of export bytes and, per entry, where its canonical bytes and its claimed hash are,
 * a worker hashes each entry and reports whether all claimed hashes are right. The chain links are
 * checked in order on the calling thread; only the hashing, the bulk of the work, runs in parallel.
 *
 * The worker is a few lines of plain JavaScript (eval), so it starts in milliseconds without the
 * TypeScript loader.
 */
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { hash } = require('node:crypto');
parentPort.on('message', ({ id, bytes, ranges }) => {
  const b = Buffer.from(bytes);
  let ok = true;
  outer: for (let i = 0; i < ranges.length; i += 3) {
    const computed = hash('sha256', b.subarray(ranges[i], ranges[i + 1]), 'hex');
    const at = ranges[i + 2];
    for (let k = 0; k < 64; k++) {
      if (b[at + k] !== computed.charCodeAt(k)) { ok = false; break outer; }
    }
  }
  parentPort.postMessage({ id, ok });
});
`;

interface Job {
  resolve: (ok: boolean) => void;
  reject: (err: unknown) => void;
}

export class HashCheckPool {
  private readonly workers: Worker[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;
  private nextWorker = 0;

  constructor(threads: number) {
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'gateway-audit-verify' });
      worker.on('message', ({ id, ok }: { id: number; ok: boolean }) => {
        const job = this.jobs.get(id);
        this.jobs.delete(id);
        job?.resolve(ok);
      });
      worker.on('error', (err) => {
        for (const job of this.jobs.values()) job.reject(err);
        this.jobs.clear();
      });
      this.workers.push(worker);
    }
  }

  /**
   * True if every entry's hash is right. `ranges` holds, per entry, the start and end of its
   * canonical bytes and the offset of its 64 claimed hex digits in `bytes`.
   */
  check(bytes: SharedArrayBuffer, ranges: Int32Array): Promise<boolean> {
    const id = this.nextId++;
    const worker = this.workers[this.nextWorker++ % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      worker.postMessage({ id, bytes, ranges });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
