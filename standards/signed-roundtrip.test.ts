/**
 * DESIGN.md invariant 4 for every string field of every message type of the four domains: what
 * validation accepts survives sign → parse → verify → read exactly, through the gateway's own
 * signer and verifier (which reads with @xmldom/xmldom). Line breaks that the parser would turn
 * into a line feed or a space (U+0085, U+2028, U+2029), and U+FFFD (which the hardened parser
 * refuses), are refused at validation with GW_ERR_SCHEMA_INVALID and the pointer of the field — not
 * silently changed or made unreadable on the way. CR, CRLF, tabs and line feeds are accepted and
 * survive (written as character references where needed).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../gateway/errors/catalogue.ts';
import { createCa, issueCertificate } from '../gateway/pki/ca.ts';
import { DocumentSigner } from '../gateway/signing/canonical-signer.ts';
import { verifyDocument } from '../gateway/signing/verifier.ts';
import type { MessageTypeSpec, XoevMessage } from './catalogue.ts';
import { catalogue } from './index.ts';
import { messageArbitrary, REFUSED_CHARS } from './xoev/testing/arbitrary.ts';
import { fromElement, jsonPointer, toCanonicalXml, validateMessage } from './xoev/xml-codec.ts';

const SPECS: MessageTypeSpec[] = catalogue.standards().flatMap((v) => v.messageTypes);
const DOMAINS = new Set(SPECS.map((s) => s.standard));

let signer: DocumentSigner;
let anchor: X509Certificate;

beforeAll(() => {
  const ca = createCa({ commonName: 'Round Trip Test CA', days: 2, keyAlgorithm: 'rsa-2048' });
  anchor = new X509Certificate(ca.certPem);
  const issued = issueCertificate(ca, {
    commonName: 'round trip signer',
    usage: 'signing',
    days: 1,
    keyAlgorithm: 'ec-p256',
  });
  signer = new DocumentSigner({
    privateKey: createPrivateKey(issued.keyPem),
    certPem: issued.certPem,
    algorithm: 'ecdsa-p256-sha256',
  });
});

/** Paths of every string in a value. */
function stringPaths(value: unknown, path: PropertyKey[] = []): PropertyKey[][] {
  if (typeof value === 'string') return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringPaths(v, [...path, i]));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => stringPaths(v, [...path, k]));
  }
  return [];
}

function withString(message: XoevMessage, path: PropertyKey[], replace: (s: string) => string): XoevMessage {
  const copy = structuredClone(message) as unknown as Record<PropertyKey, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<PropertyKey, unknown>;
  const last = path.at(-1)!;
  node[last] = replace(node[last] as string);
  return copy as unknown as XoevMessage;
}

/** sign → verify (parse) → read, as a receiver of the gateway's seal does. */
async function throughSignature(spec: MessageTypeSpec, message: XoevMessage): Promise<unknown> {
  const signed = signer.signCanonical(toCanonicalXml(spec, message));
  const verified = await verifyDocument(signed, { trustAnchors: [anchor] });
  return validateMessage(spec, fromElement(spec, verified.root as never));
}

it('covers the four domains', () => {
  expect([...DOMAINS].sort()).toEqual(['xbafoeg', 'xelterngeld', 'xkfz', 'xmeld']);
});

describe.each(SPECS.map((s) => [s.id, s] as const))('string fields of %s', (_id, spec) => {
  it('any accepted value survives sign → parse → read exactly; parser-normalised line breaks are refused with a pointer', async () => {
    let carried = 0;
    await fc.assert(
      fc.asyncProperty(
        messageArbitrary(spec, { maxTextLength: 12 }),
        fc.nat(),
        fc.nat(),
        fc.constantFrom(...REFUSED_CHARS, '\r', '\r\n', '\n', '\t', ' \r\n ', '&#x2028;'),
        async (generated, pick, at, inserted) => {
          const valid = validateMessage(spec, generated);
          // Put the character into one string field (it may land in a code or a pattern-checked one).
          const paths = stringPaths(valid);
          const path = paths[pick % paths.length]!;
          const candidate = withString(valid, path, (s) => {
            const i = at % (s.length + 1);
            return s.slice(0, i) + inserted + s.slice(i);
          });
          let accepted: XoevMessage;
          try {
            accepted = validateMessage(spec, candidate);
          } catch (error) {
            if (!isGatewayError(error)) throw error;
            // A refused character is refused with the field's pointer (by a code list or pattern
            // check first, if the field has one).
            if (REFUSED_CHARS.includes(inserted)) {
              expect(['GW_ERR_SCHEMA_INVALID', 'GW_ERR_CODE_NOT_IN_LIST']).toContain(error.code);
              expect(error.errors.map((e) => e.pointer)).toContain(jsonPointer(path));
            }
            return; // refused by the field's own checks (code list, pattern, length): nothing to carry
          }
          expect(REFUSED_CHARS.includes(inserted)).toBe(false);
          expect(await throughSignature(spec, accepted)).toStrictEqual(accepted);
          carried++;
        },
      ),
      { numRuns: 40 },
    );
    // Not only refusals: the round trip itself was exercised.
    expect(carried).toBeGreaterThan(0);
  });
});
