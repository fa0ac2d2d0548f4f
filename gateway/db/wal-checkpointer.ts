/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the COMMIT that
 * crosses `wal_autocheckpoint` (1000 pages): that commit copies the whole WAL into the database file
 * and fsyncs it, on the caller's thread — for the gateway, the main thread. A store that attaches
 * its connection here turns the automatic checkpoint off, and one worker thread per process (shared
 * by every attached file, each through a connection of its own, started once and kept) runs a
 * PASSIVE checkpoint on a short interval instead: it never waits for or blocks writers and readers,
 * and the WAL stays small (a writer starts it over once it is checkpointed).
 *
 * Durability does not depend on checkpoints (a commit is durable once in the WAL), only the WAL's
 * size does: if the worker fails, the attached connections get their automatic checkpoint back.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** How often the worker checkpoints each attached file. */
const CHECKPOINT_INTERVAL_MS = 100;
/** SQLite's default, restored if the worker is gone. */
const AUTOCHECKPOINT_PAGES = 1000;

// Plain CommonJS, so it runs in a worker whatever loader (tsx, vitest, node) runs the gateway.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const connections = new Map();
const checkpointAll = () => {
  for (const db of connections.values()) {
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // Busy or briefly unavailable: the next interval tries again.
    }
  }
};
setInterval(checkpointAll, workerData.intervalMs);
parentPort.on('message', ({ id, attach, file, detach }) => {
  if (attach !== undefined) connections.set(attach, new Database(file, { fileMustExist: true, timeout: 0 }));
  else {
    connections.get(detach)?.close();
    connections.delete(detach);
  }
  parentPort.postMessage({ id });
});
`;

let worker: Worker | undefined;
/** The connections whose checkpoints the worker runs, by handle (one file may be attached twice). */
const attached = new Map<number, Database.Database[]>();
const waiting = new Map<number, () => void>();
let nextId = 0;

function request(message: { attach: number; file: string } | { detach: number }): Promise<void> {
  const id = nextId++;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    // Referenced while an answer is awaited: a close() at the end of a CLI run must not see the
    // process exit under it.
    worker!.ref();
    worker!.postMessage({ id, ...message });
  });
}

function startWorker(): Worker {
  const started = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      driver: createRequire(import.meta.url).resolve('better-sqlite3'),
      intervalMs: CHECKPOINT_INTERVAL_MS,
    },
  });
  started.unref();
  started.on('message', ({ id }: { id: number }) => {
    waiting.get(id)?.();
    waiting.delete(id);
    if (waiting.size === 0) started.unref();
  });
  // Failed or gone: the attached connections checkpoint for themselves again.
  started.on('exit', () => {
    if (worker !== started) return;
    worker = undefined;
    for (const db of [...attached.values()].flat()) {
      if (db.open) db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    }
    attached.clear();
    for (const resolve of waiting.values()) resolve();
    waiting.clear();
  });
  started.on('error', () => {
    // 'exit' follows and restores the automatic checkpoints.
  });
  return started;
}

/**
 * Hands the checkpoints of `file` (a WAL database) to the worker, and turns the automatic ones of
 * `connections` (this process's connections writing it) off. Returns the detach to await before
 * closing them: the worker's connection must be gone for the last one closed to checkpoint the
 * whole WAL and remove it.
 */
export function attachWalCheckpointer(file: string, connections: Database.Database[]): () => Promise<void> {
  worker ??= startWorker();
  const handle = nextId++;
  attached.set(handle, connections);
  for (const db of connections) db.pragma('wal_autocheckpoint = 0');
  const ready = request({ attach: handle, file });
  return async () => {
    await ready;
    // The worker stays (unreferenced, it does not keep the process alive) for the next store.
    if (attached.delete(handle) && worker) await request({ detach: handle });
  };
}
