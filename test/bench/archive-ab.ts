/**
 * In-process A/B of the embedded document archive against an earlier tree: CPU per archived
 * document through the pipeline's handle (DocumentArchiver.archive → SqliteDocumentArchive.put:
 * retention lookup, digest check, encryption, group-committed insert, fsync on the thread pool).
 * Old and new run alternately in this one process, several rounds, each on a fresh file; CPU is
 * process.cpuUsage (thread pool included: the WAL fdatasync runs there), and the main thread's
 * alone from /proc.
 *
 *   git archive <rev> gateway adapters standards | tar -x -C DIR && ln -s "$PWD/node_modules" DIR/node_modules
 *   node --import tsx test/bench/archive-ab.ts --baseline DIR [--candidate DIR] [--rounds 5]
 *        [--messages 3000] [--batch 50] [--size 5000]
 *
 * Shape: like the gateway, every message and its receipt are archived (two documents a message),
 * --batch messages at a time in one event-loop turn (a delivery batch), each document --size bytes
 * of signed XML with its own SHA-256 digest. Also counted: archive transactions per document.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type * as ArchiverModule from '../../gateway/audit/archive/document-archiver.ts';
import type * as ArchiveModule from '../../gateway/audit/archive/sqlite-document-archive.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { Contracts } from '../../gateway/directory/contracts.ts';
import { alternatingRounds, cpuMicros } from './support/alternating-rounds.ts';

const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string' },
    /** The tree measured as "new"; default this one (give a tree with only your change to isolate it). */
    candidate: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    messages: { type: 'string', default: '3000' },
    batch: { type: 'string', default: '50' },
    size: { type: 'string', default: '5000' },
  },
});
if (!args.baseline) throw new Error('--baseline DIR (an earlier tree with node_modules linked) is required');
const ROUNDS = Number(args.rounds);
const MESSAGES = Number(args.messages);
const BATCH = Number(args.batch);
const SIZE = Number(args.size);

const contracts = Contracts.fromDirectory(path.join(REPO_ROOT, 'contracts'));
const logger = pino({ level: 'silent' });

/**
 * CPU of the main thread alone (Linux: /proc, in clock ticks of 10 ms; runs of a second or more keep
 * that coarse grain small): the event loop's share, without the thread pool and the checkpointer.
 */
const mainThreadMicros = () => {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return Number.NaN;
  }
};

async function loadTree(root: string) {
  const at = (p: string) => pathToFileURL(path.join(root, p)).href;
  return {
    archiver: (await import(at('gateway/audit/archive/document-archiver.ts'))) as typeof ArchiverModule,
    archive: (await import(at('gateway/audit/archive/sqlite-document-archive.ts'))) as typeof ArchiveModule,
  };
}
type Tree = Awaited<ReturnType<typeof loadTree>>;

/** A signed document of about SIZE bytes, unique per id (as sealed documents are). */
function document(id: string, kind: string): { signedDocument: string; digest: string } {
  const head = `<?xml version="1.0" encoding="UTF-8"?><${kind} id="${id}">`;
  const tail = `<ds:SignatureValue>${createHash('sha256').update(id).digest('base64')}</ds:SignatureValue></${kind}>`;
  const body = 'Müller, Straße 1; '.repeat(Math.max(0, Math.ceil((SIZE - head.length - tail.length) / 18)));
  const signedDocument = head + body + tail;
  return { signedDocument, digest: createHash('sha256').update(signedDocument, 'utf8').digest('hex') };
}

async function archiveRun(tree: Tree): Promise<Record<string, number>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ab-archive-'));
  const archive = new tree.archive.SqliteDocumentArchive({
    file: path.join(dir, 'archive.sqlite'),
    passphrase: 'bench passphrase 0123456789',
  });
  const archiver = new tree.archiver.DocumentArchiver({ archive, contracts: () => contracts, logger });
  try {
    // Documents made before the clock starts: sealing is not the archive's cost.
    const requests = Array.from({ length: MESSAGES }, () => {
      const id = randomUUID();
      const message = {
        messageId: id,
        standard: 'xkfz',
        messageType: 'fahrzeug.halterwechsel.1002',
        senderSystem: 'st-kfz',
        senderAuthority: 'kfz:15003000',
        receiverAuthority: 'kba:zfzr',
        ...document(id, 'xkfz:fahrzeug.halterwechsel.1002'),
      };
      const receiptId = randomUUID();
      const receipt = {
        messageId: receiptId,
        standard: 'xkfz',
        messageType: 'quittung.1000',
        senderSystem: 'kba-zfzr',
        senderAuthority: 'kba:zfzr',
        receiverAuthority: 'kfz:15003000',
        ...document(receiptId, 'quittung'),
      };
      return [message, receipt];
    });
    const commitsBefore = transactions(archive);
    const before = cpuMicros();
    const mainBefore = mainThreadMicros();
    let stored = 0;
    for (let i = 0; i < requests.length; i += BATCH) {
      const results = await Promise.all(
        requests.slice(i, i + BATCH).flatMap(([m, r]) => [archiver.archive(m!), archiver.archive(r!)]),
      );
      stored += results.filter(Boolean).length;
    }
    const cpu = cpuMicros() - before;
    const mainCpu = mainThreadMicros() - mainBefore;
    const documents = 2 * MESSAGES;
    if (stored !== documents) throw new Error(`only ${stored} of ${documents} documents archived`);
    return {
      cpuUsPerDocument: cpu / documents,
      cpuMainUsPerDocument: mainCpu / documents,
      commitsPerDocument: (transactions(archive) - commitsBefore) / documents,
    };
  } finally {
    await archive.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The archive's group-commit transactions so far (both trees keep them in `writes.commits`). */
function transactions(archive: object): number {
  return (archive as { writes?: { commits?: number } }).writes?.commits ?? 0;
}

const old = await loadTree(path.resolve(args.baseline));
const current = await loadTree(args.candidate ? path.resolve(args.candidate) : REPO_ROOT);
await alternatingRounds('archive', old, current, archiveRun, { rounds: ROUNDS, cpuDigits: 1 });
