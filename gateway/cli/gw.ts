/**
 * `gw` — the gateway's command line. Every command reads the same configuration as the server
 * (environment, GATEWAY_CONFIG file), so it finds the running gateway and its data directory.
 */
import { Command } from 'commander';
import { isGatewayError } from '../errors/catalogue.ts';
import { demoCommand } from './commands/demo.ts';
import { sendCommand } from './commands/send.ts';
import { startCommand } from './commands/start.ts';

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

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(
    `gw: ${isGatewayError(error) ? `${error.code}: ${error.message}` : (error as Error).stack}\n`,
  );
  process.exit(isGatewayError(error) && error.code === 'GW_ERR_CONFIG_INVALID' ? 78 : 1);
});
