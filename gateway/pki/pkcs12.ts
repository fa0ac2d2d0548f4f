/**
 * PKCS#12 (RFC 7292) bundles of a system's key and certificate chain, for systems whose TLS stacks
 * want one file (Java keystores, Windows, curl --cert-type P12).
 *
 * Assembled with node-forge's ASN.1 writer and PKCS#12 key derivation rather than
 * forge.pkcs12.toPkcs12Asn1, because forge can parse neither EC keys nor EC certificates and the
 * gateway issues both. Modern algorithms only, as OpenSSL 3 writes them by default:
 * - the key: a pkcs8ShroudedKeyBag holding the EncryptedPrivateKeyInfo that OpenSSL itself produces
 *   (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC) via Node's KeyObject.export;
 * - the certificates: a certBag each, the first one (the system's) tied to the key by localKeyId;
 * - integrity: HMAC-SHA256 over the AuthenticatedSafe, key from the PKCS#12 KDF (ID 3).
 */
import {
  createHash,
  createHmac,
  createPrivateKey,
  type KeyObject,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import forge from 'node-forge';

const { asn1 } = forge;
const U = asn1.Class.UNIVERSAL;

const OID = {
  data: '1.2.840.113549.1.7.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  localKeyId: '1.2.840.113549.1.9.21',
  friendlyName: '1.2.840.113549.1.9.20',
  sha256: '2.16.840.1.101.3.4.2.1',
};

const MAC_ITERATIONS = 2048;

function oid(dotted: string): forge.asn1.Asn1 {
  return asn1.create(U, asn1.Type.OID, false, asn1.oidToDer(dotted).getBytes());
}

function octets(bytes: Buffer): forge.asn1.Asn1 {
  return asn1.create(U, asn1.Type.OCTETSTRING, false, bytes.toString('binary'));
}

function der(node: forge.asn1.Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

function raw(bytes: Buffer): forge.asn1.Asn1 {
  return asn1.fromDer(forge.util.createBuffer(bytes.toString('binary')));
}

function attributes(localKeyId: Buffer, friendlyName: string | undefined): forge.asn1.Asn1 {
  const list = [
    asn1.create(U, asn1.Type.SEQUENCE, true, [
      oid(OID.localKeyId),
      asn1.create(U, asn1.Type.SET, true, [octets(localKeyId)]),
    ]),
  ];
  if (friendlyName) {
    list.push(
      asn1.create(U, asn1.Type.SEQUENCE, true, [
        oid(OID.friendlyName),
        asn1.create(U, asn1.Type.SET, true, [asn1.create(U, asn1.Type.BMPSTRING, false, friendlyName)]),
      ]),
    );
  }
  return asn1.create(U, asn1.Type.SET, true, list);
}

/** ContentInfo of type data wrapping the DER of a SafeContents. */
function dataContentInfo(safeContents: forge.asn1.Asn1): forge.asn1.Asn1 {
  return asn1.create(U, asn1.Type.SEQUENCE, true, [
    oid(OID.data),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [octets(der(safeContents))]),
  ]);
}

export interface Pkcs12Input {
  key: KeyObject | string;
  /** The end-entity certificate first, then its issuers. */
  certificatesPem: string[];
  password: string;
  friendlyName?: string;
}

export function createPkcs12(input: Pkcs12Input): Buffer {
  if (input.certificatesPem.length === 0) throw new Error('createPkcs12: at least one certificate');
  const key = typeof input.key === 'string' ? createPrivateKey(input.key) : input.key;
  const certificates = input.certificatesPem.map((pem) => new X509Certificate(pem).raw);
  const localKeyId = createHash('sha1').update(certificates[0]!).digest();
  const bagAttributes = () => attributes(localKeyId, input.friendlyName);

  const encryptedKey = key.export({
    type: 'pkcs8',
    format: 'der',
    cipher: 'aes-256-cbc',
    passphrase: input.password,
  });
  const keyBag = asn1.create(U, asn1.Type.SEQUENCE, true, [
    oid(OID.pkcs8ShroudedKeyBag),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [raw(encryptedKey)]),
    bagAttributes(),
  ]);
  const certBags = certificates.map((certificate, index) => {
    const fields = [
      oid(OID.certBag),
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
        asn1.create(U, asn1.Type.SEQUENCE, true, [
          oid(OID.x509Certificate),
          asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [octets(certificate)]),
        ]),
      ]),
    ];
    if (index === 0) fields.push(bagAttributes());
    return asn1.create(U, asn1.Type.SEQUENCE, true, fields);
  });

  const authenticatedSafe = der(
    asn1.create(U, asn1.Type.SEQUENCE, true, [
      dataContentInfo(asn1.create(U, asn1.Type.SEQUENCE, true, certBags)),
      dataContentInfo(asn1.create(U, asn1.Type.SEQUENCE, true, [keyBag])),
    ]),
  );

  const salt = randomBytes(16);
  const macKey = Buffer.from(
    forge.pkcs12
      .generateKey(
        input.password,
        forge.util.createBuffer(salt.toString('binary')),
        3,
        MAC_ITERATIONS,
        32,
        forge.md.sha256.create(),
      )
      .getBytes(),
    'binary',
  );
  const mac = createHmac('sha256', macKey).update(authenticatedSafe).digest();

  return der(
    asn1.create(U, asn1.Type.SEQUENCE, true, [
      asn1.create(U, asn1.Type.INTEGER, false, String.fromCharCode(3)),
      asn1.create(U, asn1.Type.SEQUENCE, true, [
        oid(OID.data),
        asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [octets(authenticatedSafe)]),
      ]),
      asn1.create(U, asn1.Type.SEQUENCE, true, [
        asn1.create(U, asn1.Type.SEQUENCE, true, [
          asn1.create(U, asn1.Type.SEQUENCE, true, [
            oid(OID.sha256),
            asn1.create(U, asn1.Type.NULL, false, ''),
          ]),
          octets(mac),
        ]),
        octets(salt),
        asn1.create(U, asn1.Type.INTEGER, false, integer(MAC_ITERATIONS)),
      ]),
    ]),
  );
}

function integer(value: number): string {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return bytes.toString('binary');
}
