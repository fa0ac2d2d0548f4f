/**
 * `gw dlq list|show|replay`: the dead-letter queues, read and replayed through the configured bus (the
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
  audit: AuditLog;
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
  const audit = new AuditLog(auditStore, { chain: config.audit.chain });
  return {
    systems: systemOption ? [systemOption] : directory.systems.map((s) => s.id),
    queue: new DeadLetterQueue({ bus, audit, topicPrefix: config.kafka.topicPrefix, actor: 'cli' }),
    audit,
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

const POSITION = /^(\d{1,9})-(\d{1,19})$/;
const MESSAGE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * `gw dlq show <entry>`: one entry — position `<partition>-<offset>` (as the API names it) or a
 * nachrichtenUUID (its latest entry) — with its bus headers, reason and attempts. The sealed
 * document only with --payload, and that read is audited like the API's.
 */
export async function dlqShowCommand(
  entry: string,
  options: { system?: string; json?: boolean; payload?: boolean },
): Promise<void> {
  const position = POSITION.exec(entry);
  if (!position && !MESSAGE_ID.test(entry)) {
    throw new GatewayError(
      'GW_ERR_BAD_REQUEST',
      'name an entry as <partition>-<offset> or a nachrichtenUUID',
    );
  }
  if (position && !options.system) {
    throw new GatewayError('GW_ERR_BAD_REQUEST', 'an entry position needs --system <id>');
  }
  const select = position ? { position: `${position[1]}/${position[2]}` } : { messageId: entry };
  const session = await open(options.system);
  try {
    for (const system of session.systems) {
      const found = await session.queue.show(system, select);
      if (!found) continue;
      const { headers, document, ...rest } = found;
      const shown = {
        ...rest,
        entry: rest.position.replace('/', '-'),
        headers,
        ...(options.payload ? { document: document.toString('utf8') } : {}),
      };
      if (options.payload) {
        await session.audit.record({
          kind: 'audit-export',
          actor: 'cli',
          messageId: rest.messageId || null,
          receiverSystem: system,
          senderSystem: rest.senderSystem,
          messageType: rest.messageType,
          detail: { what: 'dead-letter-document', position: rest.position },
        });
      }
      if (options.json) {
        process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
        return;
      }
      const lines = [
        `entry          ${shown.entry}`,
        `system         ${shown.systemId}`,
        `message        ${shown.messageId}`,
        `type           ${shown.messageType ?? '-'}`,
        `sender system  ${shown.senderSystem ?? '-'}`,
        `attempts       ${shown.attempts}`,
        `dead-lettered  ${shown.deadLetteredAt ?? '-'}`,
        `reason         ${shown.reason}`,
        'headers',
        ...Object.entries(headers).map(([name, value]) => `  ${name}: ${value}`),
        ...(options.payload ? ['document', document.toString('utf8')] : []),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      return;
    }
    throw new GatewayError(
      'GW_ERR_NOT_FOUND',
      `${entry} is not in the dead-letter queue of ${session.systems.join(', ')}`,
    );
  } finally {
    await session.close();
  }
}
