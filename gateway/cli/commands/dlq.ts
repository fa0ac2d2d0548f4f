/**
 * `gw dlq list|replay`: the dead-letter queues, read and replayed through the configured bus (the
 * SQLite file in the data directory, or Kafka), with the same configuration as the server. The
 * gateway need not run; replayed messages are delivered once one does.
 */
import path from 'node:path';
import { pino } from 'pino';
import { createBus } from '../../app.ts';
import { AuditLog } from '../../audit/audit-log.ts';
import { openAuditStore } from '../../audit/open-store.ts';
import { loadConfig } from '../../config/load.ts';
import { Directory } from '../../directory/directory.ts';
import { GatewayError } from '../../errors/catalogue.ts';
import { createLogger } from '../../log/logger.ts';
import { type DeadLetterEntry, DeadLetterQueue } from '../../pipeline/dead-letters.ts';

interface Session {
  systems: string[];
  queue: DeadLetterQueue;
  close(): Promise<void>;
}

async function open(systemOption: string | undefined): Promise<Session> {
  const config = loadConfig();
  const directory = Directory.fromFile(path.join(config.contractsDir, 'directory.yaml'));
  if (systemOption && !directory.system(systemOption)) {
    throw new GatewayError('GW_ERR_UNKNOWN_SYSTEM', `system ${systemOption} is not in the directory`);
  }
  // stdout carries the answer (possibly JSON); the bus client's own warnings go to stderr.
  const logger = createLogger({
    level: process.env.GATEWAY_LOG_LEVEL ? config.logLevel : 'warn',
    name: 'gw-dlq',
    destination: pino.destination({ fd: 2, sync: true }),
  });
  const bus = createBus(config, logger);
  const auditStore = openAuditStore(config);
  return {
    systems: systemOption ? [systemOption] : directory.systems.map((s) => s.id),
    queue: new DeadLetterQueue({
      bus,
      audit: new AuditLog(auditStore, { chain: config.audit.chain }),
      topicPrefix: config.kafka.topicPrefix,
      actor: 'cli',
    }),
    async close() {
      await bus.close();
      await auditStore.close();
    },
  };
}

function printEntries(entries: DeadLetterEntry[]): void {
  for (const e of entries) {
    process.stdout.write(
      `${e.systemId}  ${e.messageId}  ${e.messageType ?? '-'}  attempts=${e.attempts}  ` +
        `${e.deadLetteredAt ?? '-'}  ${e.reason}\n`,
    );
  }
}

export async function dlqListCommand(options: { system?: string; json?: boolean }): Promise<void> {
  const session = await open(options.system);
  try {
    const entries: DeadLetterEntry[] = [];
    for (const system of session.systems) entries.push(...(await session.queue.list(system)));
    if (options.json) {
      process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
      return;
    }
    printEntries(entries);
    process.stdout.write(`${entries.length} dead-lettered message(s)\n`);
  } finally {
    await session.close();
  }
}

export async function dlqReplayCommand(
  messageId: string | undefined,
  options: { system?: string; all?: boolean },
): Promise<void> {
  if (!messageId === !options.all) {
    throw new GatewayError('GW_ERR_BAD_REQUEST', 'name one message id, or --all');
  }
  const session = await open(options.system);
  try {
    const replayed: DeadLetterEntry[] = [];
    for (const system of session.systems) {
      replayed.push(
        ...(await session.queue.replay(system, messageId ? { messageId } : { all: true as const })),
      );
    }
    if (messageId && replayed.length === 0) {
      throw new GatewayError(
        'GW_ERR_NOT_FOUND',
        `${messageId} is not in the dead-letter queue of ${session.systems.join(', ')}`,
      );
    }
    printEntries(replayed);
    process.stdout.write(`replayed ${new Set(replayed.map((e) => e.messageId)).size} message(s)\n`);
  } finally {
    await session.close();
  }
}
