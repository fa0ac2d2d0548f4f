/**
 * `gw` — the gateway's command line. Every command reads the same configuration as the server
 * (environment, GATEWAY_CONFIG file), so it finds the running gateway and its data directory.
 */
import { Command } from 'commander';
import { isGatewayError } from '../errors/catalogue.ts';

/*
 * Every command's module is imported only when that command runs: together they pull in fastify,
 * the signer, both databases, node-forge and the standards catalogue (seconds of CPU under tsx),
 * and `gw --help` or `gw audit verify` needs none of that. The flat commands below import their
 * module inside the action; the command groups (SUBCOMMAND_GROUPS) are listed with their
 * description only, and the one named on the command line is built from its module before parsing.
 */
const commands = {
  adapter: () => import('./commands/adapter.ts'),
  audit: () => import('./commands/audit.ts'),
  db: () => import('./commands/db.ts'),
  demo: () => import('./commands/demo.ts'),
  dlq: () => import('./commands/dlq.ts'),
  pki: () => import('./commands/pki.ts'),
  send: () => import('./commands/send.ts'),
  sign: () => import('./commands/sign.ts'),
  standards: () => import('./commands/standards.ts'),
  start: () => import('./commands/start.ts'),
  token: () => import('./commands/token.ts'),
  verify: () => import('./commands/verify.ts'),
};

/** Command groups whose module builds the whole commander subtree (subcommands, options, help). */
const SUBCOMMAND_GROUPS: Record<string, { description: string; build: () => Promise<Command> }> = {
  pki: {
    description: 'the gateway CA: certificates for systems, revocation, key rotation',
    build: async () => (await commands.pki()).pkiCommand(),
  },
  token: {
    description: 'bearer tokens for auditors, operators and metrics scrapers',
    build: async () => (await commands.token()).tokenCommand(),
  },
  sign: {
    description:
      'sign an XML document (enveloped XML-DSig, exc-c14n, SHA-256); the signed document goes to stdout',
    build: async () => (await commands.sign()).signCommand(),
  },
  verify: {
    description:
      'verify the enveloped XML signature of a document; exit 0 if valid, 1 with the reason if not',
    build: async () => (await commands.verify()).verifyCommand(),
  },
  adapter: {
    description: 'the adapter SDK: test kit and scaffold',
    build: async () => (await commands.adapter()).adapterCommand(),
  },
  audit: {
    description: 'export, verify and prove the tamper-evident audit log',
    build: async () => (await commands.audit()).auditCommand(),
  },
  db: {
    description: 'the PostgreSQL database of the distributed mode',
    build: async () => (await commands.db()).dbCommand(),
  },
  standards: {
    description: 'the standards catalogue (XÖV-style XSDs, code lists)',
    build: async () => (await commands.standards()).standardsCommand(),
  },
};

const program = new Command('gw')
  .description('Länder gateway: XÖV-style messages between the IT systems of the Länder')
  .showHelpAfterError();

program
  .command('start')
  .description('start the gateway (embedded default: SQLite bus and audit log)')
  .action(async () => (await commands.start()).startCommand());

program
  .command('send')
  .description('send a native payload as a connected system, with its client certificate')
  .requiredOption('--system <id>', 'sending system, e.g. sn-melde')
  .option('--content-type <type>', 'media type (default: from the file extension)')
  .argument('<file>', 'native payload file')
  .action(async (file: string, options: { system: string; contentType?: string }) =>
    (await commands.send()).sendCommand(file, options),
  );

program
  .command('demo')
  .description(
    'play the demo flow end to end against the running gateway; exit 0 only if everything arrived verified',
  )
  .option('--timeout <ms>', 'how long to wait for each delivery', '20000')
  .action(async (options: { timeout: string }) =>
    (await commands.demo()).demoCommand({ timeoutMs: Number(options.timeout) }),
  );

const dlq = program.command('dlq').description('the dead-letter queues of the receiving systems');
dlq
  .command('list')
  .description('list dead-lettered messages (reads the queue, never consumes it)')
  .option('--system <id>', 'only this receiving system')
  .option('--json', 'print the entries as JSON')
  .action(async (options: { system?: string; json?: boolean }) =>
    (await commands.dlq()).dlqListCommand(options),
  );
dlq
  .command('show')
  .description('one dead-letter entry: headers, reason, attempts (reads, never consumes)')
  .argument('<entry>', 'the entry as <partition>-<offset> (needs --system), or a nachrichtenUUID')
  .option('--system <id>', 'only this receiving system')
  .option('--json', 'print the entry as JSON')
  .option('--payload', 'include the sealed document (personal data; the read is audited)')
  .action(async (entry: string, options: { system?: string; json?: boolean; payload?: boolean }) =>
    (await commands.dlq()).dlqShowCommand(entry, options),
  );
dlq
  .command('replay')
  .description('deliver dead-lettered messages again; they leave the queue')
  .argument('[messageId]', 'the nachrichtenUUID to replay')
  .option('--all', 'replay every dead-lettered message')
  .option('--system <id>', 'only this receiving system')
  .action(async (messageId: string | undefined, options: { system?: string; all?: boolean }) =>
    (await commands.dlq()).dlqReplayCommand(messageId, options),
  );

// `gw <group> …` and `gw help <group>` build that group; every other group is only listed.
const [first, second] = process.argv.slice(2);
const invoked = first === 'help' ? second : first;
for (const [name, group] of Object.entries(SUBCOMMAND_GROUPS)) {
  if (name === invoked) program.addCommand((await group.build()).description(group.description));
  else program.command(name).description(group.description);
}

// `gw audit export | head`: a reader that stops early closes the pipe; that is not an error of ours.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(
    `gw: ${isGatewayError(error) ? `${error.code}: ${error.message}` : (error as Error).stack}\n`,
  );
  process.exit(isGatewayError(error) && error.code === 'GW_ERR_CONFIG_INVALID' ? 78 : 1);
});
