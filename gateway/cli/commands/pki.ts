/**
 * `gw pki init|issue|list|revoke|rotate` — the operator's hands on the gateway CA. Each command
 * works on <dataDir>/pki with the server's configuration (same passphrase, same names) and may run
 * while the server does: changes are written atomically under the PKI lock, and a running gateway
 * picks up revocations and rotations within a second (gateway/pki/trust.ts). Revocations go to the
 * configured revocation store (PostgreSQL with DATABASE_URL: every replica refuses the certificate,
 * whichever pod the command ran in). Certificate events are appended to the audit log the server uses.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { AuditLog, type AuditRecordInput } from '../../audit/audit-log.ts';
import { openAuditStore } from '../../audit/open-store.ts';
import { loadConfig } from '../../config/load.ts';
import { Directory } from '../../directory/directory.ts';
import { GatewayError } from '../../errors/catalogue.ts';
import { systemIdOfCertificate } from '../../pki/bootstrap.ts';
import { REVOCATION_REASONS, type RevocationReason } from '../../pki/crl.ts';
import { type InventoryEntry, listCertificates, systemInventory } from '../../pki/inventory.ts';
import { issueSystemCertificate } from '../../pki/issue-system.ts';
import { openPki } from '../../pki/open.ts';
import { connectRevocationStore } from '../../pki/open-revocation-store.ts';
import { connectSystemCertificateStore } from '../../pki/open-system-certificate-store.ts';
import { normalizeSerial } from '../../pki/revocation.ts';
import { rotateSigningKey } from '../../pki/rotation.ts';

const out = (line: string) => process.stdout.write(`${line}\n`);

async function audit(event: AuditRecordInput): Promise<void> {
  const store = openAuditStore(loadConfig());
  try {
    await new AuditLog(store).record(event);
  } finally {
    await store.close();
  }
}

function describe(certificate: X509Certificate): string {
  return `${certificate.subject.replace(/\n/g, ', ')} serial ${certificate.serialNumber.toLowerCase()} valid ${new Date(certificate.validFrom).toISOString()} – ${new Date(certificate.validTo).toISOString()}`;
}

async function init(): Promise<void> {
  const config = loadConfig();
  const directory = Directory.fromFile(path.join(config.contractsDir, 'directory.yaml'));
  const pki = await openPki(
    config,
    directory.systems.map((system) => system.id),
  );
  for (const warning of pki.warnings) process.stderr.write(`warning: ${warning}\n`);
  out(`PKI in ${pki.dir}`);
  out(`CA: ${describe(pki.caX509)}`);
  out(`CA sha256 fingerprint: ${pki.caX509.fingerprint256}`);
  out(pki.created.length > 0 ? `created: ${pki.created.join(', ')}` : 'nothing to create: the PKI exists');
  for (const file of pki.created.filter((name) => name.endsWith('.crt'))) {
    const certificate = new X509Certificate(readFileSync(path.join(pki.dir, file)));
    await audit({
      kind: 'certificate-issued',
      actor: 'cli',
      senderSystem: systemIdOfCertificate(certificate),
      detail: { serial: certificate.serialNumber.toLowerCase(), file, command: 'pki init' },
    });
  }
}

/** Edit distance (insertions, deletions, substitutions) between two ids, for "did you mean". */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The listed ids nearest to `id`: those it is a prefix of first, then by edit distance. */
function closestIds(id: string, listed: string[], count = 3): string[] {
  const rank = (known: string) => (known.startsWith(id) ? -1 : editDistance(id, known));
  return [...listed].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).slice(0, count);
}

async function issue(
  systemId: string,
  options: { days?: string; p12PasswordEnv?: string; unlisted?: boolean },
): Promise<void> {
  const config = loadConfig();
  // The gateway refuses a certificate whose system the directory does not list (403
  // GW_ERR_CLIENT_CERT_FORBIDDEN), so an unlisted id is almost always a typo: refuse it before
  // anything is written or audited, unless the operator prepares the certificate ahead of the
  // directory change on purpose.
  const directoryFile = path.join(config.contractsDir, 'directory.yaml');
  const directory = Directory.fromFile(directoryFile);
  const listed = directory.system(systemId) !== undefined;
  if (!listed && !options.unlisted) {
    const closest = closestIds(
      systemId,
      directory.systems.map((system) => system.id),
    );
    throw new GatewayError(
      'GW_ERR_UNKNOWN_SYSTEM',
      `${systemId} is not listed in ${directoryFile}${closest.length > 0 ? `; closest listed: ${closest.join(', ')}` : ''}. ` +
        'The gateway refuses certificates for unlisted systems; pass --unlisted to issue one ahead of the directory change',
    );
  }
  const pki = await openPki(config);
  let p12Password: string | undefined;
  if (options.p12PasswordEnv) {
    p12Password = process.env[options.p12PasswordEnv];
    if (!p12Password) {
      throw new GatewayError(
        'GW_ERR_CONFIG_INVALID',
        `${options.p12PasswordEnv} is not set (--p12-password-env)`,
      );
    }
  }
  const days = options.days === undefined ? undefined : Number(options.days);
  if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 825)) {
    throw new GatewayError('GW_ERR_BAD_REQUEST', '--days must be a whole number of days between 1 and 825');
  }
  // The pin goes to the configured store: with PostgreSQL every replica pins the new certificate.
  // The event is written before the pin (issue-system.ts): no pin without its event.
  const pins = await connectSystemCertificateStore(config);
  let issued: Awaited<ReturnType<typeof issueSystemCertificate>>;
  try {
    issued = await issueSystemCertificate(pki, systemId, {
      signingAlgorithm: config.pki.signingAlgorithm,
      rsaBits: config.pki.rsaBits as 2048 | 3072,
      ...(days !== undefined ? { days } : {}),
      ...(p12Password !== undefined ? { p12Password } : {}),
      pins,
      beforePin: (certificate, replacing) =>
        audit({
          kind: 'certificate-issued',
          actor: 'cli',
          senderSystem: systemId,
          detail: {
            serial: certificate.serialNumber.toLowerCase(),
            usage: 'client,signing',
            replacedSerial: replacing?.serialNumber.toLowerCase() ?? null,
            command: 'pki issue',
            ...(listed ? {} : { unlisted: true }),
          },
        }),
    });
  } finally {
    await pins.close();
  }
  if (!listed) {
    process.stderr.write(
      `warning: ${systemId} is not listed in ${directoryFile}; the gateway refuses this certificate (GW_ERR_CLIENT_CERT_FORBIDDEN) until the directory lists the system\n`,
    );
  }
  out(`issued: ${describe(issued.certificate)}`);
  out(`certificate: ${issued.files.cert}`);
  out(`private key: ${issued.files.key}`);
  out(`PKCS#12:     ${issued.files.p12}`);
  if (!p12Password) out(`PKCS#12 password (shown once): ${issued.p12Password}`);
  if (issued.replaced) {
    out(
      `replaced ${issued.replaced.serialNumber.toLowerCase()}; it stays valid until revoked: gw pki revoke ${issued.replaced.serialNumber.toLowerCase()}`,
    );
  }
}

/** The certificates of this installation, the systems' from where they are pinned (inventory.ts says why). */
async function inventory(
  config: ReturnType<typeof loadConfig>,
  isRevoked: (serial: string) => boolean,
): Promise<InventoryEntry[]> {
  const pins = await connectSystemCertificateStore(config);
  try {
    return listCertificates(
      path.join(config.dataDir, 'pki'),
      isRevoked,
      new Date(),
      await systemInventory(pins),
    );
  } finally {
    await pins.close();
  }
}

async function list(options: { json?: boolean }): Promise<void> {
  const config = loadConfig();
  const store = await connectRevocationStore(config);
  let revoked: Set<string>;
  try {
    revoked = new Set((await store.list()).map((entry) => entry.serial));
  } finally {
    await store.close();
  }
  const entries = await inventory(config, (serial) => revoked.has(serial));
  if (options.json) {
    out(JSON.stringify(entries, null, 2));
    return;
  }
  const rows = [
    ['KIND', 'SUBJECT', 'SERIAL', 'NOT BEFORE', 'NOT AFTER', 'STATUS'],
    ...entries.map((e) => [
      e.kind,
      e.subject,
      e.serial,
      e.notBefore.slice(0, 19),
      e.notAfter.slice(0, 19),
      e.status,
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
}

async function revoke(serialText: string, options: { reason: RevocationReason }): Promise<void> {
  const config = loadConfig();
  const pkiDir = path.join(config.dataDir, 'pki');
  const serial = normalizeSerial(serialText);
  const known = (await inventory(config, () => false)).filter((entry) => entry.serial === serial);
  if (known.some((entry) => entry.kind === 'ca')) {
    throw new GatewayError(
      'GW_ERR_BAD_REQUEST',
      'the CA certificate cannot revoke itself; replace the PKI instead',
    );
  }
  const subject = known[0]?.subject;
  const store = await connectRevocationStore(config);
  let revocation: Awaited<ReturnType<typeof store.revoke>>;
  try {
    revocation = await store.revoke({
      serial,
      reason: options.reason,
      ...(subject ? { subject } : {}),
      by: 'cli',
    });
  } finally {
    await store.close();
  }
  const { entry, added } = revocation;
  if (!added) {
    out(`already revoked at ${entry.revokedAt}: ${serial}`);
    return;
  }
  const systemId = known.find((e) => e.systemId)?.systemId ?? null;
  await audit({
    kind: 'certificate-revoked',
    actor: 'cli',
    senderSystem: systemId,
    detail: { serial, reason: entry.reason, kind: known[0]?.kind ?? 'unknown', command: 'pki revoke' },
  });
  out(`revoked ${serial}${subject ? ` (${subject})` : ''}, reason ${entry.reason}`);
  if (known.length === 0)
    process.stderr.write(
      `warning: no certificate with serial ${serial} in ${pkiDir} or among the pinned ones\n`,
    );
  if (known.some((e) => e.kind === 'signing')) {
    process.stderr.write('warning: this is the active signing certificate; run `gw pki rotate` now\n');
  }
}

async function rotate(): Promise<void> {
  const config = loadConfig();
  const pki = await openPki(config);
  const result = await rotateSigningKey(pki, {
    signingAlgorithm: config.pki.signingAlgorithm,
    rsaBits: config.pki.rsaBits as 2048 | 3072,
  });
  await audit({
    kind: 'certificate-issued',
    actor: 'cli',
    detail: {
      serial: result.current.serialNumber.toLowerCase(),
      usage: 'signing',
      previousSerial: result.previous.serialNumber.toLowerCase(),
      command: 'pki rotate',
    },
  });
  out(`new signing certificate: ${describe(result.current)}`);
  out(`previous (still verifies earlier seals): ${describe(result.previous)}`);
  out('running gateways switch within a second; no restart needed');
}

export function pkiCommand(): Command {
  const pki = new Command('pki').description(
    'the gateway CA: certificates for systems, revocation, key rotation',
  );
  pki
    .command('init')
    .description('create the CA and every missing certificate (as `gw start` does)')
    .action(init);
  pki
    .command('issue')
    .description('issue a client+signing certificate for a system the directory lists (PEM and PKCS#12)')
    .argument('<systemId>', 'the system, e.g. sn-melde')
    .option('--days <n>', 'validity in days (default 730)')
    .option(
      '--p12-password-env <VAR>',
      'take the PKCS#12 password from this environment variable (default: generate one)',
    )
    .option(
      '--unlisted',
      'issue even though the directory does not list the system (the gateway refuses the certificate until it does)',
    )
    .action(issue);
  pki
    .command('list')
    .description('every certificate with subject, serial, validity and status')
    .option('--json', 'as JSON')
    .action(list);
  pki
    .command('revoke')
    .description('revoke a certificate by serial; running gateways refuse it within a second')
    .argument('<serial>', 'hex serial as `gw pki list` prints it')
    .addOption(
      new Option('--reason <reason>', 'RFC 5280 reason')
        .choices(Object.keys(REVOCATION_REASONS))
        .default('unspecified'),
    )
    .action(revoke);
  pki
    .command('rotate')
    .description('new gateway signing key; seals made with the previous one stay verifiable')
    .action(rotate);
  return pki;
}
