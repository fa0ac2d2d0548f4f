/**
 * The local spool of published messages' audit entries that have not landed yet
 * (published-audit.ts): `<dataDir>/audit-pending/chain-<chain>/`, one JSON file per request, so that a crash
 * (SIGKILL, OOM, power loss) or a stop that gives them up does not lose them. The next start on the
 * same data directory appends them (app.ts, before the server takes messages); their idempotency
 * keys make that safe if they had landed meanwhile.
 *
 * Files rather than a SQLite database: the spool is written only when an append already failed,
 * holds a handful of requests, and is read once per start; a file per request is written atomically
 * by a rename (all of it or none), removed on its own once its entries landed, needs no schema, and
 * can be read by an operator with any JSON tool when the entries have to be added by hand. Nor does
 * it share a failure with the audit store: a locked or read-only `audit.sqlite` leaves it writable.
 *
 * A write is durable when write() resolves: written to `<name>.tmp`, fsynced, renamed, the
 * directory fsynced. A removal is not fsynced: a file that comes back after a crash is appended
 * again at the next start, and its keys make that write nothing.
 *
 * A file that cannot be read or is not a spooled request (cut short, edited, from a newer gateway)
 * is logged (error, with its name), counted and left where it is; it never stops the start. A
 * `.tmp` left by a crash is read like the others: complete, it was fsynced before the crash (the
 * request had not been answered yet); cut short, it is one of those unreadable files.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Logger } from '../log/logger.ts';
import { AUDIT_EVENT_KINDS } from '../ports/audit-store.ts';
import type { PublishedEntries } from './published-audit.ts';

/** The spools' directory under the gateway's data directory. */
export const AUDIT_PENDING_DIR = 'audit-pending';

/**
 * The spool of the process appending to `chain`: `<dataDir>/audit-pending/chain-<chain>`. One per
 * chain, because the entries' idempotency keys are unique per chain only: replicas that share a data
 * volume (deploy/compose.yaml) each replay their own spool into their own chain, never another's
 * (which that replica may be appending itself, so the entries would be written twice). The prefix
 * keeps a chain named `.` or `..` (the config allows dots) inside the spool directory.
 */
export function auditPendingDirOf(dataDir: string, chain: string): string {
  return path.join(dataDir, AUDIT_PENDING_DIR, `chain-${chain}`);
}

const FORMAT = 'gateway-audit-pending/1';
const TMP_SUFFIX = '.tmp';

const nullableText = z.string().nullable().optional();

/** An ingress entry as published-audit.ts keeps it: keyed, or a replay could write it twice. */
const spooledEntry = z.object({
  kind: z.enum(AUDIT_EVENT_KINDS),
  actor: z.string().min(1),
  idempotencyKey: z.string().min(1),
  time: z.string().optional(),
  messageId: nullableText,
  sender: nullableText,
  receiver: nullableText,
  senderSystem: nullableText,
  receiverSystem: nullableText,
  messageType: nullableText,
  digest: nullableText,
  detail: z.record(z.string(), z.unknown()).optional(),
});

const spooledRequest = z.object({
  format: z.literal(FORMAT),
  spooledAt: z.string(),
  requestId: z.string().min(1),
  messageIds: z.array(z.string().min(1)).min(1),
  traceId: z.string().optional(),
  entries: z.array(spooledEntry).min(1),
});

/** A request read back from the spool: its entries, and the file to remove once they landed. */
export interface SpooledRequest {
  file: string;
  batch: PublishedEntries;
}

export interface AuditPendingSpoolOptions {
  /** auditPendingDirOf(dataDir, chain); created at the first write. */
  dir: string;
  logger: Logger;
  /** Told of every file readAll() could not use (a metric counts them). */
  onUnreadable?: (file: string) => void;
}

export class AuditPendingSpool {
  /** Made (and its entry in the data directory fsynced) once, at the first write. */
  private made: Promise<void> | undefined;

  constructor(private readonly options: AuditPendingSpoolOptions) {}

  get dir(): string {
    return this.options.dir;
  }

  /** Writes the request's entries durably; resolves with the file's path. */
  async write(batch: PublishedEntries): Promise<string> {
    const { dir } = this.options;
    this.made ??= makeDir(dir);
    try {
      await this.made;
    } catch (error) {
      this.made = undefined;
      throw error;
    }
    const file = path.join(dir, `${fileStem(batch.requestId)}.json`);
    const tmp = file + TMP_SUFFIX;
    const content: z.infer<typeof spooledRequest> = {
      format: FORMAT,
      spooledAt: new Date().toISOString(),
      requestId: batch.requestId,
      messageIds: batch.messageIds,
      ...(batch.traceId ? { traceId: batch.traceId } : {}),
      entries: batch.entries as z.infer<typeof spooledEntry>[],
    };
    try {
      const handle = await open(tmp, 'w', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(content)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, file);
    } catch (error) {
      await unlink(tmp).catch(() => {});
      throw error;
    }
    await syncDir(dir);
    return file;
  }

  /** Removes a file whose entries landed. */
  async remove(file: string): Promise<void> {
    await unlink(file);
  }

  /**
   * Every spooled request, oldest first. Unreadable files are logged, counted and skipped (left in
   * place); a spool directory that does not exist is an empty spool.
   */
  async readAll(): Promise<SpooledRequest[]> {
    const { dir, logger } = this.options;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const read: (SpooledRequest & { spooledAt: string })[] = [];
    for (const name of names.sort()) {
      if (!name.endsWith('.json') && !name.endsWith(`.json${TMP_SUFFIX}`)) continue;
      const file = path.join(dir, name);
      try {
        const parsed = spooledRequest.parse(JSON.parse(await readFile(file, 'utf8')));
        read.push({
          file,
          spooledAt: parsed.spooledAt,
          batch: {
            requestId: parsed.requestId,
            messageIds: parsed.messageIds,
            traceId: parsed.traceId,
            entries: parsed.entries,
          },
        });
      } catch (error) {
        logger.error(
          { err: error, file },
          'unreadable file in the audit-pending spool: left in place, its audit entries not written; ' +
            'repair it or add its entries to the trail by hand, then remove it',
        );
        this.options.onUnreadable?.(file);
      }
    }
    read.sort((a, b) => (a.spooledAt < b.spooledAt ? -1 : a.spooledAt > b.spooledAt ? 1 : 0));
    return read.map(({ file, batch }) => ({ file, batch }));
  }
}

/** The request id (the server's UUID) as it is; anything else that could not name a file, hashed. */
function fileStem(requestId: string): string {
  return /^[A-Za-z0-9_-]{1,128}$/.test(requestId)
    ? requestId
    : createHash('sha256').update(requestId).digest('hex');
}

async function makeDir(dir: string): Promise<void> {
  // The first directory made (audit-pending/, or only the chain's below it), or undefined.
  const first = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (first === undefined) return;
  // A directory just made is durable only once its parent's entry for it is: each one made.
  for (let made = dir; ; made = path.dirname(made)) {
    await syncDir(path.dirname(made));
    if (made === first) break;
  }
}

/** Makes the directory's entries (a rename into it) durable. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
