/**
 * `gw` — the gateway's command line. Every command reads the same configuration as the server
 * (environment, GATEWAY_CONFIG file), so it finds the running gateway and its data directory.
 */
import { Command } from 'commander';
import { isGatewayError } from '../errors/catalogue.ts';
import { adapterCommand } from './commands/adapter.ts';
import { auditCommand } from './commands/audit.ts';
import { dbCommand } from './commands/db.ts';
import { demoCommand } from './commands/demo.ts';
import { dlqListCommand, dlqReplayCommand } from './commands/dlq.ts';
import { pkiCommand } from './commands/pki.ts';
import { sendCommand } from './commands/send.ts';
import { signCommand } from './commands/sign.ts';
import { standardsCommand } from './commands/standards.ts';
import { startCommand } from './commands/start.ts';
import { tokenCommand } from './commands/token.ts';
import { verifyCommand } from './commands/verify.ts';

const program = new Command('gw')
  .description('Länder gateway: XÖV-style messages between the IT systems of the Länder')
  .showHelpAfterError();

program
  .command('start')
  .description('start the gateway (embedded default: SQLite bus and audit log)')
  .action(startCommand);

program
  .command('send')
  .description('send a native payload as a connected system, with its client certificate')
  .requiredOption('--system <id>', 'sending system, e.g. sn-melde')
  .option('--content-type <type>', 'media type (default: from the file extension)')
  .argument('<file>', 'native payload file')
  .action((file: string, options: { system: string; contentType?: string }) => sendCommand(file, options));

program
  .command('demo')
  .description(
    'play the demo flow end to end against the running gateway; exit 0 only if everything arrived verified',
  )
  .option('--timeout <ms>', 'how long to wait for each delivery', '20000')
  .action((options: { timeout: string }) => demoCommand({ timeoutMs: Number(options.timeout) }));

const dlq = program.command('dlq').description('the dead-letter queues of the receiving systems');
dlq
  .command('list')
  .description('list dead-lettered messages (reads the queue, never consumes it)')
  .option('--system <id>', 'only this receiving system')
  .option('--json', 'print the entries as JSON')
  .action((options: { system?: string; json?: boolean }) => dlqListCommand(options));
dlq
  .command('replay')
  .description('deliver dead-lettered messages again; they leave the queue')
  .argument('[messageId]', 'the nachrichtenUUID to replay')
  .option('--all', 'replay every dead-lettered message')
  .option('--system <id>', 'only this receiving system')
  .action((messageId: string | undefined, options: { system?: string; all?: boolean }) =>
    dlqReplayCommand(messageId, options),
  );

program.addCommand(pkiCommand());
program.addCommand(tokenCommand());
program.addCommand(signCommand());
program.addCommand(verifyCommand());
program.addCommand(adapterCommand());
program.addCommand(auditCommand());
program.addCommand(dbCommand());
program.addCommand(standardsCommand());

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(
    `gw: ${isGatewayError(error) ? `${error.code}: ${error.message}` : (error as Error).stack}\n`,
  );
  process.exit(isGatewayError(error) && error.code === 'GW_ERR_CONFIG_INVALID' ? 78 : 1);
});
