/**
 * `gw verify --trust <ca.pem> [--pinned <cert.pem>] <in.xml>` — the gateway's verifier, offline:
 * exit 0 and the signer on a valid signature; exit 1 and the reason token (see SIGNATURE_REFUSALS
 * in gateway/signing/verifier.ts) on an invalid one. The signer's certificate must chain to one of
 * the CA certificates in --trust and, with --pinned, be one of the pinned certificates.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { GatewayError } from '../../errors/catalogue.ts';
import { refusalReason, verifyDocument } from '../../signing/verifier.ts';

/** Every certificate in a PEM file (a bundle may hold several). */
function readCertificates(file: string): X509Certificate[] {
  const pems = readFileSync(file, 'utf8').match(
    /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g,
  );
  if (!pems) throw new GatewayError('GW_ERR_CONFIG_INVALID', `${file} holds no PEM certificate`);
  return pems.map((pem) => new X509Certificate(pem));
}

async function verify(
  input: string,
  options: { trust: string[]; pinned?: string[]; json?: boolean },
): Promise<void> {
  const trustAnchors = options.trust.flatMap(readCertificates);
  const pinned = options.pinned?.flatMap(readCertificates);
  const xml = readFileSync(input, 'utf8');
  try {
    const verified = await verifyDocument(xml, { trustAnchors, ...(pinned ? { pinned } : {}) });
    const signer = { ...verified.signer, subject: verified.signer.subject.replace(/\n/g, ', ') };
    process.stdout.write(
      options.json
        ? `${JSON.stringify({ valid: true, signer, digest: verified.digest })}\n`
        : `valid: signed by ${signer.subject} (serial ${signer.serial})\n`,
    );
  } catch (error) {
    const reason = refusalReason(error);
    if (!reason) throw error;
    const detail = (error as Error).message.slice(reason.length + 2);
    process.stdout.write(
      options.json
        ? `${JSON.stringify({ valid: false, reason, detail })}\n`
        : `invalid: ${reason}: ${detail}\n`,
    );
    process.exitCode = 1;
  }
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function verifyCommand(): Command {
  return new Command('verify')
    .description(
      'verify the enveloped XML signature of a document; exit 0 if valid, 1 with the reason if not',
    )
    .requiredOption(
      '--trust <ca.pem>',
      'trusted CA certificate(s) (repeatable; a file may hold several)',
      collect,
    )
    .option('--pinned <cert.pem>', 'the signer must be this certificate (repeatable)', collect)
    .option('--json', 'print the result as JSON')
    .argument('<in.xml>', 'the signed document')
    .action(verify);
}
