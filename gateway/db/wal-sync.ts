/**
 * `synchronous=FULL` durability without the fsync on the event loop. better-sqlite3 is synchronous:
 * under FULL every COMMIT fsyncs the WAL on the caller's thread — for the gateway, the main thread.
 * A store using this module runs its connections with `synchronous=NORMAL` (a COMMIT writes the WAL
 * frames into the page cache and returns) and calls `afterCommit()` after each commit; it resolves
 * once an `fdatasync` of the `<file>-wal` file, run on the libuv thread pool and started after that
 * COMMIT returned, has completed. The store acknowledges its callers only then, so "acknowledged
 * means fsync'd" holds as before. Syncs are grouped: while one is in flight, the commits that ask
 * wait for the next one, which starts when it ends and covers them all.
 *
 * Why this is the guarantee of FULL for every acknowledged commit:
 * - Recovery reads the WAL header, then the frames in order, and stops at the first frame whose
 *   salt or cumulative checksum does not match: what it keeps is a prefix of the frames written,
 *   up to its last commit frame. A commit survives a power loss if the header and every frame up to
 *   its commit frame are on stable storage.
 * - Those bytes were all written (write(2), to the page cache) before the COMMIT returned, so before
 *   the sync started; an fdatasync covers every byte of the file written before it was called,
 *   header and earlier commits (of any connection or process) included, and the file size.
 * - A WAL restart (after a complete checkpoint, the next writer starts again at frame 1 with a new
 *   header) may overwrite an acknowledged or not yet synced commit's frames. That is safe: at any
 *   `synchronous` but OFF a checkpoint syncs the WAL before copying it and the database file after
 *   (the PASSIVE checkpoints of gateway/db/wal-checkpointer.ts included), and a restart happens only
 *   once everything is copied; SQLite also syncs the new header itself before the first frame after
 *   the restart, so a later frame cannot reach the disk before its header.
 * - Under FULL, SQLite also fsyncs the directory once after creating the WAL file (so the file
 *   itself survives); the first sync here does the same.
 *
 * The -wal file exists while a connection to the database is open (the last connection to close
 * checkpoints it and deletes it); it is only recreated after all connections closed. The file is
 * opened after the first commit (it certainly exists then), and the one fd is kept: while the
 * store's connection is open, no connection anywhere deletes or replaces it, and a restart or
 * truncation rewrites the same inode.
 *
 * A failed fsync is not retried: after a failed fsync the kernel may have dropped the dirty pages
 * and marked them clean, so a retry could "succeed" without the data (PostgreSQL's fsync-gate
 * lesson). The waiting callers are rejected and every later `afterCommit()` and `assertWritable()`
 * throws: the store refuses further writes until the process restarts and SQLite recovers from
 * what is really on disk.
 *
 * Readers on the same file see a commit as soon as it returned, before its sync: a consumer that
 * must not act on what a power loss could erase waits for `afterCommit()` too (the SQLite bus does).
 */
import { close, fdatasync, fsync, open } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import type Database from 'better-sqlite3';

const openFile = promisify(open);
const closeFile = promisify(close);
const fsyncFile = promisify(fsync);

/** Flushes one file descriptor to stable storage (injectable so tests can hold a sync back). */
export type SyncFile = (fd: number) => Promise<void>;

const fdatasyncFile: SyncFile = promisify(fdatasync);

interface Waiters {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function waiters(): Waiters {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export class WalSyncError extends Error {
  constructor(file: string, cause: unknown) {
    super(`fsync of ${file} failed; this store accepts no more writes until the process restarts`, {
      cause,
    });
    this.name = 'WalSyncError';
  }
}

export class WalSync {
  /** The -wal file this instance syncs. */
  readonly walFile: string;
  private readonly syncFile: SyncFile;
  private fd: Promise<number> | undefined;
  /** The sync running now; the commits it covers wait on it. */
  private inFlight: Promise<void> | undefined;
  /** The commits made while a sync runs: the next sync covers them. */
  private next: Waiters | undefined;
  private failure: WalSyncError | undefined;
  /** Completed syncs (for tests and benchmarks: far fewer than commits under load). */
  syncs = 0;

  /** `databaseFile`: the SQLite database (WAL mode); its `-wal` file is synced. */
  constructor(databaseFile: string, options: { syncFile?: SyncFile } = {}) {
    this.walFile = `${databaseFile}-wal`;
    this.syncFile = options.syncFile ?? fdatasyncFile;
  }

  /** Throws if a sync failed: the store must not write any more. Call before each write. */
  assertWritable(): void {
    if (this.failure) throw this.failure;
  }

  /** Call right after a COMMIT returned; resolves when a sync started after it completed. */
  afterCommit(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.inFlight === undefined) {
      this.inFlight = this.startSync();
      return this.inFlight;
    }
    this.next ??= waiters();
    return this.next.promise;
  }

  /** Waits for the syncs asked for, then closes the file (call before closing the connection). */
  async close(): Promise<void> {
    while (this.inFlight) await this.inFlight.catch(() => undefined);
    const fd = this.fd;
    this.fd = undefined;
    if (fd) await closeFile(await fd).catch(() => undefined);
  }

  private startSync(): Promise<void> {
    const sync = this.syncOnce();
    sync.then(
      () => this.syncDone(undefined),
      (error: unknown) => this.syncDone(error),
    );
    return sync;
  }

  private async syncOnce(): Promise<void> {
    try {
      this.fd ??= this.openWal();
      await this.syncFile(await this.fd);
    } catch (error) {
      this.failure ??= new WalSyncError(this.walFile, error);
      throw this.failure;
    }
    this.syncs++;
  }

  /** Opens the -wal file, and fsyncs its directory once as SQLite does after creating it. */
  private async openWal(): Promise<number> {
    const fd = await openFile(this.walFile, 'r');
    const directory = await openFile(dirname(this.walFile), 'r');
    try {
      await fsyncFile(directory);
    } finally {
      await closeFile(directory);
    }
    return fd;
  }

  private syncDone(error: unknown): void {
    const next = this.next;
    this.next = undefined;
    this.inFlight = undefined;
    if (!next) return;
    if (error !== undefined || this.failure) {
      next.reject(this.failure);
      return;
    }
    this.inFlight = this.startSync();
    this.inFlight.then(next.resolve, next.reject);
  }
}

/**
 * Sets a WAL connection's `synchronous` for a store's `sync` option: the connection always runs
 * NORMAL; for `FULL` the returned WalSync makes each commit durable, for `NORMAL` nothing does (a
 * power loss may take the last commits, as before). Throws if the connection is not in WAL mode:
 * NORMAL with a rollback journal would not be made durable by syncing a -wal file.
 */
export function walSyncFor(
  db: Database.Database,
  file: string,
  sync: 'FULL' | 'NORMAL',
): WalSync | undefined {
  const mode = db.pragma('journal_mode', { simple: true });
  if (mode !== 'wal') throw new Error(`${file} is in journal mode ${String(mode)}, not WAL`);
  db.pragma('synchronous = NORMAL');
  return sync === 'FULL' ? new WalSync(file) : undefined;
}
