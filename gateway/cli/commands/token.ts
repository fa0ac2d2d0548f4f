/**
 * `gw token issue|list|revoke` — bearer tokens for people. The token is printed once, on stdout
 * alone (so `TOKEN=$(gw token issue …)` works); only its hash is stored. Issuance and revocation
 * are appended to the audit log the server uses.
 */
import { Command, Option } from 'commander';
import { AuditLog, type AuditRecordInput } from '../../audit/audit-log.ts';
import { openAuditStore } from '../../audit/open-store.ts';
import { connectTokenStore } from '../../auth/open-token-store.ts';
import type { Permission, PersonRole } from '../../auth/roles.ts';
import { parseDuration, statusOf } from '../../auth/tokens.ts';
import { loadConfig } from '../../config/load.ts';
import { GatewayError } from '../../errors/catalogue.ts';
import type { TokenStore } from '../../ports/token-store.ts';

const out = (line: string) => process.stdout.write(`${line}\n`);

async function withStores<T>(fn: (tokens: TokenStore, audit: AuditLog) => Promise<T>): Promise<T> {
  const config = loadConfig();
  // The server's rule (open-token-store.ts): with DATABASE_URL every replica reads what this writes.
  const tokens = await connectTokenStore(config);
  const store = openAuditStore(config);
  try {
    return await fn(tokens, new AuditLog(store));
  } finally {
    await tokens.close();
    await store.close();
  }
}

async function issue(options: {
  role: PersonRole;
  scope?: string;
  expires: string;
  name?: string;
  permit?: Permission[];
}): Promise<void> {
  // An auditor's reach must be stated; an operator runs the whole gateway unless narrowed.
  const scope = options.scope ?? (options.role === 'operator' ? '*' : undefined);
  if (!scope)
    throw new GatewayError(
      'GW_ERR_BAD_REQUEST',
      'an auditor token needs --scope (land:SN, system:<id> or *)',
    );
  await withStores(async (tokens, audit) => {
    const { token, record } = await tokens.issue({
      role: options.role,
      scope,
      lifetimeMs: parseDuration(options.expires),
      createdBy: 'cli',
      ...(options.name ? { name: options.name } : {}),
      ...(options.permit ? { permissions: options.permit } : {}),
    });
    const event: AuditRecordInput = {
      kind: 'token-issued',
      actor: 'cli',
      detail: {
        tokenId: record.id,
        role: record.role,
        scope: record.scope,
        expiresAt: record.expiresAt,
        permissions: record.permissions,
      },
    };
    await audit.record(event);
    process.stderr.write(
      `token ${record.id}: role ${record.role}, scope ${record.scope}, expires ${record.expiresAt} — shown once, store it now\n`,
    );
    out(token);
  });
}

async function list(options: { json?: boolean }): Promise<void> {
  await withStores(async (tokens) => {
    const now = new Date();
    const records = (await tokens.list()).map((record) => ({ ...record, status: statusOf(record, now) }));
    if (options.json) {
      out(JSON.stringify(records, null, 2));
      return;
    }
    const rows = [
      ['ID', 'ROLE', 'SCOPE', 'NAME', 'CREATED', 'EXPIRES', 'STATUS'],
      ...records.map((r) => [
        r.id,
        r.role,
        r.scope,
        r.name,
        r.createdAt.slice(0, 19),
        r.expiresAt.slice(0, 19),
        r.status,
      ]),
    ];
    const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
    for (const row of rows)
      out(
        row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join('  ')
          .trimEnd(),
      );
  });
}

async function revoke(id: string): Promise<void> {
  await withStores(async (tokens, audit) => {
    const result = await tokens.revoke(id);
    if (!result) throw new GatewayError('GW_ERR_NOT_FOUND', `no token ${id}`);
    if (!result.changed) {
      out(`token ${id} was already revoked at ${result.record.revokedAt}`);
      return;
    }
    // The audit port has no token-revoked kind yet: a token-issued event with action "revoked".
    await audit.record({
      kind: 'token-issued',
      actor: 'cli',
      detail: { tokenId: id, action: 'revoked', role: result.record.role, scope: result.record.scope },
    });
    out(
      `revoked token ${id} (${result.record.role}, ${result.record.scope}); it is refused from the next request on`,
    );
  });
}

export function tokenCommand(): Command {
  const token = new Command('token').description('bearer tokens for auditors and operators');
  token
    .command('issue')
    .description('issue a token; it is printed once on stdout')
    .addOption(
      new Option('--role <role>', 'auditor or operator')
        .choices(['auditor', 'operator'])
        .makeOptionMandatory(),
    )
    .option('--scope <scope>', 'land:SN, system:<id> or * (operators default to *)')
    .option('--expires <duration>', 'lifetime: 30d, 12h, 90m', '30d')
    .option('--name <label>', 'who holds it, what for')
    .addOption(
      new Option(
        '--permit <permission...>',
        'extra permissions (audit-payload: read archived documents)',
      ).choices(['audit-payload']),
    )
    .action(issue);
  token
    .command('list')
    .description('every token with role, scope, expiry and status (never the secret)')
    .option('--json', 'as JSON')
    .action(list);
  token
    .command('revoke')
    .description('revoke a token by id')
    .argument('<id>', 'the id `gw token list` shows')
    .action(revoke);
  return token;
}
