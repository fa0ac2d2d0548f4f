/**
 * `gw sign --key <pem> --cert <pem> <in.xml>` — the gateway's seal, made by hand: an enveloped
 * XML-DSig signature (exc-c14n, SHA-256, RSA-SHA256 or ECDSA-P256-SHA256 by the key's type) over the
 * whole document, written to stdout. The input is canonicalized first (exc-c14n without comments),
 * so any well-formed document can be signed; the output is what the gateway's seal looks like.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { GatewayError } from '../../errors/catalogue.ts';
import { signingAlgorithmOfKey } from '../../pki/bootstrap.ts';
import { canonicalizeDocument } from '../../signing/canonicalize.ts';
import { DocumentSigner, XMLDSIG_NS } from '../../signing/signer.ts';

function readKey(file: string, passphraseEnv: string | undefined): KeyObject {
  const pem = readFileSync(file, 'utf8');
  const passphrase = passphraseEnv ? process.env[passphraseEnv] : undefined;
  if (passphraseEnv && !passphrase) {
    throw new GatewayError('GW_ERR_CONFIG_INVALID', `${passphraseEnv} is not set (--passphrase-env)`);
  }
  try {
    return createPrivateKey(passphrase ? { key: pem, passphrase } : pem);
  } catch (error) {
    throw new GatewayError(
      'GW_ERR_CONFIG_INVALID',
      `${file}: cannot read the private key: ${(error as Error).message}`,
    );
  }
}

async function sign(
  input: string,
  options: { key: string; cert: string; passphraseEnv?: string },
): Promise<void> {
  const privateKey = readKey(options.key, options.passphraseEnv);
  const signer = new DocumentSigner({
    privateKey,
    certPem: readFileSync(options.cert, 'utf8'),
    algorithm: signingAlgorithmOfKey(privateKey),
  });
  const canonical = canonicalizeDocument(readFileSync(input, 'utf8'));
  if (canonical.includes(XMLDSIG_NS)) {
    throw new GatewayError('GW_ERR_BAD_REQUEST', `${input} already carries an XML signature`);
  }
  process.stdout.write(signer.signCanonical(canonical));
}

export function signCommand(): Command {
  return new Command('sign')
    .description(
      'sign an XML document (enveloped XML-DSig, exc-c14n, SHA-256); the signed document goes to stdout',
    )
    .requiredOption('--key <pem>', 'private key (PKCS#8, PKCS#1 or SEC1 PEM; RSA ≥ 2048 bits or EC P-256)')
    .requiredOption('--cert <pem>', 'the certificate of that key (goes into KeyInfo)')
    .option('--passphrase-env <VAR>', 'the environment variable holding the passphrase of an encrypted key')
    .argument('<in.xml>', 'the document to sign')
    .action(sign);
}
