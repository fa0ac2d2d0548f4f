/**
 * Sealing on every core: a pool of worker threads, each with its own DocumentSigner, behind the
 * pipeline's DocumentSealer interface (`sign(canonicalXml)`).
 *
 * - Dispatch: to the ready worker with the fewest requests in flight. Requests of one event-loop
 *   turn go to a worker in ONE message (flushed by setImmediate): each postMessage wakes the other
 *   thread, and on a loaded 2-core machine those wake-ups cost the main thread more than the RSA
 *   signature they carried (bench profile before batching: postMessage 5.4 % of the gateway's CPU).
 * - No start-up gap: a worker takes a fraction of a second to start; until the first one is ready,
 *   and always when the pool has 0 threads, the calling thread signs synchronously.
 * - Rotation: setKey() sends the new key to every worker ahead of any later request (a worker
 *   handles its messages in order) and replaces the inline signer.
 * - Failure: a crashed worker fails only its in-flight requests (GW_ERR_INTERNAL; ingress answers
 *   the client, nothing was published) and is replaced; after repeated start failures the pool
 *   stops respawning and signs inline, so sealing never stops.
 * The private key reaches the workers as a KeyObject clone over postMessage, never as text.
 */

import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ERRORS, type ErrorCode, GatewayError } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import { DocumentSigner, type SigningKey } from './canonical-signer.ts';
import type { SignRequest, WorkerRequest, WorkerResponse } from './signer-worker.ts';

export interface SignerPoolOptions {
  /** Worker threads; 0 signs on the calling thread. Default: the number of cores. */
  threads?: number;
  key: SigningKey;
  logger?: Logger;
}

interface Pending {
  resolve: (signed: string) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  pending: Map<number, Pending>;
  /** Requests of this event-loop turn, not yet posted. */
  queued: SignRequest[];
  signed: number;
}

const MAX_START_FAILURES = 3;

/**
 * The workers' code: signer-worker.ts and what it imports, compiled once per process into one plain
 * CommonJS script by the esbuild that tsx ships (the very same sources, no build output on disk). A
 * worker that loaded TypeScript through tsx itself held its own loader thread, tsx and esbuild: two
 * such workers added 62 MB to the process's RSS, two compiled ones add 27 MB, and start faster.
 */
let compiledWorker: string | undefined;

function workerSource(): string {
  if (compiledWorker === undefined) {
    const fromTsx = createRequire(createRequire(import.meta.url).resolve('tsx/esm/api'));
    const esbuild = fromTsx('esbuild') as typeof import('esbuild');
    const built = esbuild.buildSync({
      entryPoints: [fileURLToPath(new URL('./signer-worker.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      write: false,
      logLevel: 'silent',
    });
    compiledWorker = built.outputFiles[0]!.text;
  }
  return compiledWorker;
}

export class SignerPool {
  readonly threads: number;
  private inline: DocumentSigner;
  private key: SigningKey;
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private startFailures = 0;
  private closed = false;
  private readonly logger: Logger | undefined;
  private signedInline = 0;
  private flushScheduled = false;

  constructor(options: SignerPoolOptions) {
    this.threads = Math.max(0, Math.floor(options.threads ?? availableParallelism()));
    this.key = options.key;
    this.inline = new DocumentSigner(options.key);
    this.logger = options.logger;
    for (let i = 0; i < this.threads; i++) this.spawn();
  }

  /** Workers that have loaded their key (0 while starting, and for a 0-thread pool). */
  get readyThreads(): number {
    return this.slots.filter((slot) => slot.ready).length;
  }

  /** Documents signed per live worker thread, and on the calling thread (inline). */
  get signedCounts(): { threads: number[]; inline: number } {
    return { threads: this.slots.map((slot) => slot.signed), inline: this.signedInline };
  }

  /** Resolves once every worker is ready (tests and benchmarks; the server does not wait). */
  async whenReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.readyThreads < this.slots.length || this.slots.length < this.threads) {
      if (this.closed || Date.now() > deadline || this.startFailures >= MAX_START_FAILURES) {
        throw new Error(`signer pool: ${this.readyThreads} of ${this.threads} threads ready`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  sign(canonicalXml: string): Promise<string> {
    if (this.closed) return Promise.reject(new GatewayError('GW_ERR_NOT_READY', 'the signer pool is closed'));
    let best: Slot | undefined;
    for (const slot of this.slots) {
      if (slot.ready && (!best || slot.pending.size < best.pending.size)) best = slot;
    }
    if (!best) {
      try {
        const signed = this.inline.signCanonical(canonicalXml);
        this.signedInline++;
        return Promise.resolve(signed);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const id = this.nextId++;
    const slot = best;
    return new Promise<string>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.queued.push({ id, xml: canonicalXml });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Posts every slot's queued requests, one message per slot. */
  private flush(): void {
    this.flushScheduled = false;
    for (const slot of this.slots) {
      if (slot.queued.length === 0) continue;
      const batch = slot.queued;
      slot.queued = [];
      slot.worker.postMessage({ type: 'sign', batch } satisfies WorkerRequest);
    }
  }

  /** Seals everything requested from now on with `key` (gateway signing key rotation). */
  setKey(key: SigningKey): void {
    this.inline = new DocumentSigner(key); // validates the pair before any worker sees it
    this.key = key;
    for (const slot of this.slots) slot.worker.postMessage({ type: 'key', key } satisfies WorkerRequest);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const slots = this.slots.splice(0);
    for (const slot of slots)
      this.fail(slot, new GatewayError('GW_ERR_NOT_READY', 'the signer pool is closing'));
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  private spawn(): void {
    const worker = new Worker(workerSource(), { eval: true, name: 'gateway-signer' });
    // A forgotten close() must not keep the process alive.
    worker.unref();
    const slot: Slot = { worker, ready: false, pending: new Map(), queued: [], signed: 0 };
    this.slots.push(slot);
    worker.postMessage({ type: 'key', key: this.key } satisfies WorkerRequest);
    worker.on('message', (response: WorkerResponse) => {
      switch (response.type) {
        case 'ready':
          if (!slot.ready) {
            this.startFailures = 0;
            slot.ready = true;
            if (this.readyThreads === this.threads) {
              this.logger?.info({ threads: this.threads }, 'signer pool: every sealing thread is ready');
            }
          }
          return;
        case 'signed':
          for (const result of response.results) {
            const pending = slot.pending.get(result.id);
            slot.pending.delete(result.id);
            if (result.signed !== undefined) {
              slot.signed++;
              pending?.resolve(result.signed);
              continue;
            }
            const code = (
              result.code && result.code in ERRORS ? result.code : 'GW_ERR_INTERNAL'
            ) as ErrorCode;
            pending?.reject(new GatewayError(code, result.message));
          }
      }
    });
    const onDeath = (error: Error) => {
      const index = this.slots.indexOf(slot);
      if (index === -1) return; // already handled (error is followed by exit) or closing
      this.slots.splice(index, 1);
      this.fail(slot, new GatewayError('GW_ERR_INTERNAL', 'a signer thread stopped', { cause: error }));
      if (this.closed) return;
      if (!slot.ready) this.startFailures++;
      if (this.startFailures >= MAX_START_FAILURES) {
        this.logger?.error({ err: error }, 'signer pool: threads do not start; signing on the main thread');
        return;
      }
      this.logger?.warn({ err: error }, 'signer pool: a thread stopped; starting a new one');
      this.spawn();
    };
    worker.on('error', onDeath);
    worker.on('exit', (code) => onDeath(new Error(`signer thread exited with code ${code}`)));
  }

  private fail(slot: Slot, error: Error): void {
    for (const pending of slot.pending.values()) pending.reject(error);
    slot.pending.clear();
    slot.queued = [];
  }
}
