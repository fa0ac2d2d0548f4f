/**
 * `gw audit export|verify|checkpoint|proof` — the auditors' command line.
 *
 *   gw audit export [--from ISO] [--to ISO] > log.jsonl     streams the log (gateway/audit/export.ts)
 *   gw audit verify log.jsonl [--checkpoint-key audit.pub] [--threads n]
 *                                                           offline; exit 0 if intact, 1 if not; also a
 *                                                           scoped export from GET /v1/audit/export, whose
 *                                                           entries outside the scope are redacted lines
 *   gw audit checkpoint                                      signs a checkpoint now
 *   gw audit proof <messageId>                               inclusion proofs of a message's entries
 *
 * verify needs no configuration, database or data directory: only the file and the public key;
 * so this module imports only what verify needs, and the other commands import the stores,
 * the configuration and the audit key when they run.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { loadAuditPublicKey } from '../../audit/audit-public-key.ts';
import { type ExportVerification, verifyExportStream } from '../../audit/verify-export.ts';
import { GatewayError } from '../../errors/catalogue.ts';

/** The configured audit store and what goes with it, for the commands that need them. */
async function storeModules() {
  const [{ loadConfig }, { openAuditKey, openAuditStore }, { AuditLog }, { exportLines }] = await Promise.all(
    [
      import('../../config/load.ts'),
      import('../../audit/open-store.ts'),
      import('../../audit/audit-log.ts'),
      import('../../audit/export.ts'),
    ],
  );
  return { loadConfig, openAuditKey, openAuditStore, AuditLog, exportLines };
}

const out = (line: string) => process.stdout.write(`${line}\n`);

function isoOption(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new GatewayError('GW_ERR_BAD_REQUEST', `--${name} ${value} is not a date/time`);
  return new Date(ms).toISOString();
}

async function exportCommand(options: { from?: string; to?: string }): Promise<void> {
  const { loadConfig, openAuditStore, AuditLog, exportLines } = await storeModules();
  const config = loadConfig();
  const from = isoOption(options.from, 'from');
  const to = isoOption(options.to, 'to');
  const store = openAuditStore(config);
  try {
    const lines = exportLines(store, { from, to });
    let summary = { entries: 0, checkpoints: 0 };
    async function* body() {
      for (;;) {
        const next = await lines.next();
        if (next.done) {
          summary = next.value;
          return;
        }
        yield next.value;
      }
    }
    // pipeline() waits for stdout to drain: a slow reader (or `| head`) holds the export back.
    const stdout = new Writable({
      write: (chunk, _encoding, callback) => {
        process.stdout.write(chunk) ? callback() : process.stdout.once('drain', callback);
      },
    });
    await pipeline(body, stdout);
    await new AuditLog(store, { chain: config.audit.chain }).record({
      kind: 'audit-export',
      actor: 'cli',
      detail: {
        from: from ?? null,
        to: to ?? null,
        entries: summary.entries,
        checkpoints: summary.checkpoints,
      },
    });
    process.stderr.write(`exported ${summary.entries} entries and ${summary.checkpoints} checkpoints\n`);
  } finally {
    await store.close();
  }
}

function report(result: ExportVerification, seconds: number): void {
  const rate = Math.round(result.entries / Math.max(seconds, 1e-6));
  if (result.ok) {
    out(
      `OK: ${result.entries} entries in ${result.heads.length} chain(s), ${result.checkpoints} checkpoint(s), verified in ${seconds.toFixed(2)} s (${rate} entries/s)`,
    );
    if (result.lastCheckpoint) {
      const cp = result.lastCheckpoint;
      out(`newest checkpoint: #${cp.id} at ${cp.time}, root ${cp.root}`);
    }
    if (result.scope !== undefined) {
      out(
        `scoped to ${result.scope}: ${result.redacted} of ${result.entries} entries redacted (their content is not in the export; their place in the chain is verified)`,
      );
    }
    if (result.unsignedEntries > 0)
      out(`${result.unsignedEntries} entries after the newest checkpoint are not signed yet`);
    for (const head of result.heads) out(`head ${head.chain}: seq ${head.seq} ${head.hash}`);
  } else {
    const f = result.failure!;
    const where = [
      f.chain !== undefined ? `chain ${f.chain}` : undefined,
      f.firstBadSeq !== undefined ? `first bad seq ${f.firstBadSeq}` : undefined,
      f.checkpoint !== undefined ? `checkpoint ${f.checkpoint}` : undefined,
      f.line !== undefined ? `line ${f.line}` : undefined,
    ]
      .filter(Boolean)
      .join(', ');
    out(`FAILED (${f.reason}${where ? `; ${where}` : ''}): ${f.message}`);
  }
  for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
}

async function verifyCommand(
  file: string,
  options: { checkpointKey?: string; threads: string },
): Promise<void> {
  const key = options.checkpointKey
    ? loadAuditPublicKey(readFileSync(options.checkpointKey, 'utf8'))
    : undefined;
  const threads = Number(options.threads);
  if (!Number.isInteger(threads) || threads < 0) {
    throw new GatewayError('GW_ERR_BAD_REQUEST', `--threads ${options.threads} is not a whole number`);
  }
  const input = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 });
  const started = performance.now();
  const result = await verifyExportStream(input as AsyncIterable<Buffer>, { ...key, threads });
  report(result, (performance.now() - started) / 1000);
  process.exitCode = result.ok ? 0 : 1;
}

async function checkpointCommand(): Promise<void> {
  const { loadConfig, openAuditKey, openAuditStore } = await storeModules();
  const config = loadConfig();
  const key = openAuditKey(config);
  const store = openAuditStore(config);
  try {
    const checkpoint = await store.createCheckpoint(key.signer);
    if (checkpoint)
      out(`checkpoint #${checkpoint.id}: ${checkpoint.treeSize} entries, root ${checkpoint.root}`);
    else out('nothing new since the last checkpoint');
  } finally {
    await store.close();
  }
}

async function proofCommand(messageId: string): Promise<void> {
  const { loadConfig, openAuditStore } = await storeModules();
  const config = loadConfig();
  const store = openAuditStore(config);
  try {
    const entries = await store.query({ messageId });
    if (entries.length === 0) throw new GatewayError('GW_ERR_NOT_FOUND', `no audit entries for ${messageId}`);
    const proofs = [];
    for (const entry of entries)
      proofs.push({ entry, proof: await store.inclusionProof(entry.chain, entry.seq) });
    out(JSON.stringify(proofs, null, 2));
  } finally {
    await store.close();
  }
}

export function auditCommand(): Command {
  const audit = new Command('audit').description('export, verify and prove the tamper-evident audit log');
  audit
    .command('export')
    .description('stream the log as JSON lines (entries, then signed checkpoints) to stdout')
    .option('--from <iso>', 'from the checkpoint interval containing this time')
    .option('--to <iso>', 'up to the checkpoint interval containing this time')
    .action((options: { from?: string; to?: string }) => exportCommand(options));
  audit
    .command('verify')
    .description('verify an export offline; exit 0 if intact, 1 naming the first bad entry')
    .argument('<file>', 'the export (- for stdin)')
    .option('--checkpoint-key <file>', 'the audit public key (audit.pub) that signs checkpoints')
    .option(
      '--threads <n>',
      'worker threads that hash entries of a large export (helps with idle cores)',
      '0',
    )
    .action((file: string, options: { checkpointKey?: string; threads: string }) =>
      verifyCommand(file, options),
    );
  audit
    .command('checkpoint')
    .description('sign a checkpoint over everything appended since the last one')
    .action(() => checkpointCommand());
  audit
    .command('proof')
    .description("print the inclusion proofs of a message's audit entries (JSON)")
    .argument('<messageId>', 'the nachrichtenUUID')
    .action((messageId: string) => proofCommand(messageId));
  return audit;
}
