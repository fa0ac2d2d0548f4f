/**
 * In-process A/B of the sender-signature check's pin lookup (gateway/pipeline/sender-signature.ts),
 * an earlier tree against this one: per check of a document a system signed itself, this process's
 * CPU and the wall time. The earlier tree reads <dataDir>/pki/systems/<id>.crt and parses it on every
 * check; this tree takes the pin from SystemPins — over the file store the same read, over
 * PostgreSQL the in-memory pins the poll keeps (no statement per check). Measured twice: the pin
 * lookup alone (the verification stubbed) and the whole check (the real verifyDocument, RSA-2048,
 * the same for both trees). The database server's CPU is not in these numbers; the poll (one
 * statement every 250 ms) is. Needs the machine's PostgreSQL (TEST_DATABASE_URL overrides); uses a
 * fresh schema and drops it.
 *
 *   git archive <rev> gateway adapters standards test | tar -x -C DIR && ln -s "$PWD/node_modules" DIR/node_modules
 *   node --import tsx test/bench/sender-pin-ab.ts --baseline DIR [--rounds 7] [--checks 5000]
 */
import { createPrivateKey, type X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger } from '../../gateway/log/logger.ts';
import { senderSignatureVerifier } from '../../gateway/pipeline/sender-signature.ts';
import { ensurePki } from '../../gateway/pki/bootstrap.ts';
import { FileSystemCertificateStore } from '../../gateway/pki/file-system-certificate-store.ts';
import { importFileSystemCertificates } from '../../gateway/pki/open-system-certificate-store.ts';
import { PgSystemCertificateStore } from '../../gateway/pki/pg-system-certificate-store.ts';
import { SystemPins } from '../../gateway/pki/system-pins.ts';
import { DocumentSigner } from '../../gateway/signing/signer.ts';
import { type VerifiedDocument, verifyDocument } from '../../gateway/signing/verifier.ts';
import { parseXmlSafely } from '../../gateway/xml/safe-parse.ts';
import { dropSchema, freshSchemaName, PG_URL } from '../conformance/pg-test-schema.ts';
import { alternatingRounds, cpuMicros } from './support/alternating-rounds.ts';

const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    checks: { type: 'string', default: '5000' },
  },
});
if (!args.baseline) throw new Error('--baseline DIR (an earlier tree with node_modules linked) is required');
const CHECKS = Number(args.checks);
const logger = createLogger({ level: 'silent' });

type Verify = (xml: string, pinned: X509Certificate, parsed: Document) => Promise<VerifiedDocument>;
type Check = (xml: string, systemId: string, parsed: Document) => Promise<VerifiedDocument>;
const baseline = (await import(
  pathToFileURL(path.join(path.resolve(args.baseline), 'gateway/pipeline/sender-signature.ts')).href
)) as {
  senderSignatureVerifier(deps: { systemCertPath(id: string): string; verifySignedBy: Verify }): Check;
};

const work = mkdtempSync(path.join(tmpdir(), 'gw-sender-pin-bench-'));
const schema = freshSchemaName('senderpinab');
const pki = await ensurePki({
  dir: path.join(work, 'pki'),
  systems: ['sn-melde'],
  passphrase: 'bench',
  signingAlgorithm: 'rsa-sha256',
  rsaBits: 2048,
  serverNames: ['localhost'],
});
const signed = new DocumentSigner({
  privateKey: createPrivateKey(readFileSync(pki.systemKeyPath('sn-melde'))),
  certPem: readFileSync(pki.systemCertPath('sn-melde'), 'utf8'),
  algorithm: 'rsa-sha256',
}).signCanonical(`<x:Antrag xmlns:x="urn:xoev-de:test">${'<x:Wert>1</x:Wert>'.repeat(40)}</x:Antrag>`);
const parsed = parseXmlSafely(signed);
const stubbed = { root: parsed.documentElement } as unknown as VerifiedDocument;
const stub: Verify = async () => stubbed;
const real: Verify = (xml, pinned, document) =>
  verifyDocument(xml, { trustAnchors: [pki.caX509], pinned, isRevoked: () => false }, document);

const fileStore = new FileSystemCertificateStore(pki.dir);
const filePins = await SystemPins.open(fileStore, { logger });
const pgStore = await PgSystemCertificateStore.connect({ url: PG_URL, schema });
await importFileSystemCertificates(pgStore, pki.dir);
const pgPins = await SystemPins.open(pgStore, { logger });

interface Tree {
  name: string;
  make(verify: Verify): Check;
}
const old: Tree = {
  name: 'old',
  make: (verify) =>
    baseline.senderSignatureVerifier({
      systemCertPath: (id) => pki.systemCertPath(id),
      verifySignedBy: verify,
    }),
};
const current = (pins: SystemPins): Tree => ({
  name: 'new',
  make: (verify) =>
    senderSignatureVerifier({
      pinnedCertificate: (id) => pins.pinnedCertificate(id),
      verifySignedBy: verify,
    }),
});

async function measure(check: Check, checks: number): Promise<{ cpuUs: number; wallUs: number }> {
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  for (let i = 0; i < checks; i++) await check(signed, 'sn-melde', parsed);
  return { wallUs: ((performance.now() - t0) * 1000) / checks, cpuUs: (cpuMicros() - cpu0) / checks };
}

try {
  for (const [store, pins] of [
    ['file', filePins],
    ['postgres', pgPins],
  ] as const) {
    await alternatingRounds(
      `pin lookup only (${store})`,
      old,
      current(pins),
      (tree) => measure(tree.make(stub), CHECKS),
      {
        rounds: Number(args.rounds),
        cpuDigits: 2,
      },
    );
    await alternatingRounds(
      `whole sender-signature check (${store})`,
      old,
      current(pins),
      (tree) => measure(tree.make(real), Math.max(1, Math.floor(CHECKS / 10))),
      { rounds: Number(args.rounds), cpuDigits: 2 },
    );
  }
} finally {
  filePins.close();
  pgPins.close();
  await pgStore.close();
  await dropSchema(schema);
  rmSync(work, { recursive: true, force: true });
}
