/**
 * `gw token issue|list|revoke|import` — bearer tokens for people and metrics scrapers. The token is
 * printed once, on stdout alone (so `TOKEN=$(gw token issue …)` works); only its hash is stored.
 * Issuance, revocation and import are appended to the audit log the server uses (token-issued,
 * token-revoked, token-imported); an import appends each token's event before it writes the token.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { AuditLog, type AuditRecordInput } from '../../audit/audit-log.ts';
import { openAuditStore } from '../../audit/open-store.ts';
import { connectTokenStore } from '../../auth/open-token-store.ts';
import { PERSON_ROLES, type Permission, type PersonRole } from '../../auth/roles.ts';
import { SqliteTokenStore } from '../../auth/sqlite-token-store.ts';
import { importTokens, type TokenImportOutcome } from '../../auth/token-import.ts';
import { parseDuration, statusOf, TOKENS_FILE } from '../../auth/tokens.ts';
import { loadConfig, type ResolvedConfig } from '../../config/load.ts';
import { GatewayError } from '../../errors/catalogue.ts';
import type { StoredToken, TokenStore } from '../../ports/token-store.ts';

const out = (line: string) => process.stdout.write(`${line}\n`);

async function withStores<T>(
  fn: (tokens: TokenStore, audit: AuditLog) => Promise<T>,
  config: ResolvedConfig = loadConfig(),
): Promise<T> {
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

interface IssueOptions {
  role: PersonRole;
  scope?: string;
  expires: string;
  name?: string;
  permit?: Permission[];
}

/**
 * The scope to issue with. An auditor's reach must be stated; an operator runs the whole gateway
 * unless narrowed; a scraper reads /metrics, which covers every system, so it has `*` and nothing
 * else, and asking for a narrower scope or a permission is a mistake worth saying so.
 */
function issuedScope(options: IssueOptions): string {
  if (options.role === 'scraper') {
    if (options.scope !== undefined && options.scope !== '*')
      throw new GatewayError(
        'GW_ERR_BAD_REQUEST',
        `a scraper token reads /metrics, which covers every system: it takes no --scope but * (got ${JSON.stringify(options.scope)})`,
      );
    if (options.permit?.length)
      throw new GatewayError(
        'GW_ERR_BAD_REQUEST',
        'a scraper token reads /metrics and nothing else: it takes no --permit',
      );
    return '*';
  }
  const scope = options.scope ?? (options.role === 'operator' ? '*' : undefined);
  if (!scope)
    throw new GatewayError(
      'GW_ERR_BAD_REQUEST',
      'an auditor token needs --scope (land:SN, system:<id> or *)',
    );
  return scope;
}

async function issue(options: IssueOptions): Promise<void> {
  const scope = issuedScope(options);
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
    await audit.record({
      kind: 'token-revoked',
      actor: 'cli',
      detail: { tokenId: id, role: result.record.role, scope: result.record.scope },
    });
    out(
      `revoked token ${id} (${result.record.role}, ${result.record.scope}); it is refused from the next request on`,
    );
  });
}

/** One file under two names (a symlink, `./data` vs its absolute path) counts as the same. */
function sameFile(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  if (!existsSync(a) || !existsSync(b)) return false;
  const [sa, sb] = [statSync(a), statSync(b)];
  return sa.dev === sb.dev && sa.ino === sb.ino;
}

function describeToken({ record }: StoredToken): string {
  return `${record.id}  ${record.role}  ${record.scope}  ${statusOf(record)}`;
}

function outcomeLine(outcome: TokenImportOutcome, dryRun: boolean): string {
  switch (outcome.kind) {
    case 'imported':
      return `${dryRun ? 'would import' : 'imported'}  ${describeToken(outcome.token)}`;
    case 'present':
      return `present   ${describeToken(outcome.token)}`;
    case 'conflict': {
      const { token, existing, differs } = outcome;
      // The one conflict with an obvious remedy: revoked in the old file after the switch.
      const hint =
        differs.length === 1 && differs[0] === 'revokedAt' && token.record.revokedAt && !existing.revokedAt
          ? `; revoked in the source only — \`gw token revoke ${token.record.id}\` revokes it here`
          : '';
      return `conflict  ${describeToken(token)}: the target's token differs in ${differs.join(', ')} and is kept${hint}`;
    }
  }
}

async function importCommand(options: {
  from?: string;
  dryRun?: boolean;
  skipConflicts?: boolean;
}): Promise<void> {
  const config = loadConfig();
  const embedded = path.join(config.dataDir, TOKENS_FILE);
  const source = path.resolve(options.from ?? embedded);
  if (!config.databaseUrl && sameFile(source, embedded)) {
    throw new GatewayError(
      'GW_ERR_BAD_REQUEST',
      `${source} is the configured token store itself: set DATABASE_URL to import into PostgreSQL, or name another file with --from`,
    );
  }
  const from = SqliteTokenStore.openExisting(source);
  let tokens: StoredToken[];
  try {
    tokens = await from.exportAll();
  } finally {
    await from.close();
  }
  const dryRun = options.dryRun === true;
  const outcomes = await withStores(
    (target, audit) => importTokens(tokens, target, { dryRun, audit, actor: 'cli', source }),
    config,
  );
  for (const outcome of outcomes) out(outcomeLine(outcome, dryRun));
  const count = (kind: TokenImportOutcome['kind']) => outcomes.filter((o) => o.kind === kind).length;
  const revoked = outcomes.filter((o) => o.kind === 'imported' && o.token.record.revokedAt !== null).length;
  const conflicts = count('conflict');
  out(
    `${tokens.length} tokens in ${source}: ${dryRun ? 'would import' : 'imported'} ${count('imported')} (${revoked} revoked), already present ${count('present')}, conflicts ${conflicts}`,
  );
  if (conflicts > 0 && !options.skipConflicts) {
    process.stderr.write(
      `gw: ${conflicts} token(s) conflict with the target's and were left as they are there; resolve them (gw token list, gw token revoke) or pass --skip-conflicts\n`,
    );
    process.exitCode = 1;
  }
}

export function tokenCommand(): Command {
  const token = new Command('token').description(
    'bearer tokens for auditors, operators and metrics scrapers',
  );
  token
    .command('issue')
    .description('issue a token; it is printed once on stdout')
    .addOption(
      new Option('--role <role>', 'auditor, operator, or scraper (Prometheus: reads /metrics only)')
        .choices(PERSON_ROLES)
        .makeOptionMandatory(),
    )
    .option('--scope <scope>', 'land:SN, system:<id> or * (operators default to *, scrapers are always *)')
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
  token
    .command('import')
    .summary('copy tokens from an auth.sqlite into the configured store (PostgreSQL with DATABASE_URL)')
    .description(
      'copy tokens, with their hashes, times and revocations, from an auth.sqlite into the configured store ' +
        '(PostgreSQL with DATABASE_URL): holders keep their secrets, revoked tokens stay revoked. ' +
        'A token the target already holds identically is skipped, so running it again imports nothing; ' +
        'one it holds differently is a conflict: reported, never overwritten, exit 1 unless --skip-conflicts. ' +
        'Each imported token is audited (token-imported)',
    )
    .option(
      '--from <file>',
      'the auth.sqlite to read (default: <dataDir>/auth.sqlite); its tokens are left as they are',
    )
    .option('--dry-run', 'only list what would be imported, present or in conflict; write nothing')
    .option('--skip-conflicts', 'exit 0 even if some tokens conflict (they are still left as they are)')
    .action(importCommand);
  return token;
}
