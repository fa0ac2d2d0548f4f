/**
 * Signature-wrapping and signature-tampering variants of a document enveloped-signed by its sender
 * (the `POST /v1/messages` path, gateway/pipeline/sender-signature.ts → gateway/signing/verifier.ts).
 * Each variant keeps the sender's real signature bytes somewhere and tries to make the gateway read
 * other content than the signed one, or to weaken what the signature proves.
 */
const SIG_START = '<ds:Signature ';
const SIG_END = '</ds:Signature>';

export interface SignedParts {
  /** `<root …>` start tag. */
  open: string;
  /** The signed content between the root's start tag and the signature. */
  content: string;
  /** The whole ds:Signature element. */
  signature: string;
  /** `</root>`. */
  close: string;
}

export function splitSigned(signed: string): SignedParts {
  const openEnd =
    signed.indexOf('>', signed.indexOf('<', signed.startsWith('<?xml') ? signed.indexOf('?>') + 2 : 0)) + 1;
  const sigStart = signed.indexOf(SIG_START);
  const sigEnd = signed.indexOf(SIG_END) + SIG_END.length;
  return {
    open: signed.slice(0, openEnd),
    content: signed.slice(openEnd, sigStart),
    signature: signed.slice(sigStart, sigEnd),
    close: signed.slice(sigEnd),
  };
}

/** `tamper` changes the content an attacker wants read (e.g. another family name). */
export function wrappingVariants(
  signed: string,
  tamper: (content: string) => string,
  otherCertificateBase64: string,
): { name: string; body: string; code: 'GW_ERR_SIGNATURE_INVALID' | 'GW_ERR_SCHEMA_INVALID' }[] {
  const { open, content, signature, close } = splitSigned(signed);
  const evil = tamper(content);
  const signedDocNoDecl = signed.replace(/^<\?xml[^>]*\?>\s*/, '');
  const inSignature = (extra: string) => signature.replace(SIG_END, `${extra}${SIG_END}`);
  const firstChildEnd = content.indexOf('>', content.indexOf('<nachrichtenkopf.g2g')) + 1;
  const variants: { name: string; body: string; code?: 'GW_ERR_SCHEMA_INVALID' }[] = [
    { name: 'content tampered after signing', body: `${open}${evil}${signature}${close}` },
    {
      name: 'original document wrapped into ds:Object, tampered content outside',
      body: `${open}${evil}${inSignature(`<ds:Object>${signedDocNoDecl}</ds:Object>`)}${close}`,
    },
    {
      name: 'original content wrapped into ds:Object of the signature, tampered content outside',
      body: `${open}${evil}${inSignature(`<ds:Object>${content}</ds:Object>`)}${close}`,
    },
    {
      name: 'signed document wrapped as a child of a tampered document',
      body: `${open}${evil}<wrapper>${signedDocNoDecl}</wrapper>${close}`,
    },
    { name: 'signature duplicated', body: `${open}${content}${signature}${signature}${close}` },
    {
      // The enveloped transform removes it wherever it is, so the digest holds; the codec takes a
      // signature only as the root's trailing child and refuses the document.
      name: 'signature moved to the first child',
      body: `${open}${signature}${content}${close}`,
      code: 'GW_ERR_SCHEMA_INVALID',
    },
    {
      name: 'signature moved into nachrichtenkopf.g2g',
      body: `${open}${content.slice(0, firstChildEnd)}${signature}${content.slice(firstChildEnd)}${close}`,
    },
    {
      name: 'second Reference in SignedInfo',
      body: `${open}${content}${signature.replace(
        '</ds:SignedInfo>',
        '<ds:Reference URI="#evil"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"></ds:DigestMethod><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo>',
      )}${close}`,
    },
    {
      name: 'second SignedInfo',
      body: `${open}${content}${signature.replace(
        '<ds:SignatureValue>',
        `${/<ds:SignedInfo>.*<\/ds:SignedInfo>/s.exec(signature)![0]}<ds:SignatureValue>`,
      )}${close}`,
    },
    {
      name: 'Reference URI pointing to an Id on tampered content',
      body: `${open}${evil.replace('<nachrichtenkopf.g2g>', '<nachrichtenkopf.g2g Id="signed">')}${signature.replace('URI=""', 'URI="#signed"')}${close}`,
    },
    {
      name: 'duplicated Id attributes',
      body: `${open.replace('>', ' Id="doc">')}${evil.replace('<nachrichtenkopf.g2g>', '<nachrichtenkopf.g2g Id="doc">')}${signature.replace('URI=""', 'URI="#doc"')}${close}`,
    },
    {
      name: 'Reference URI to an external resource',
      body: `${open}${content}${signature.replace('URI=""', 'URI="http://attacker.example/signed.xml"')}${close}`,
    },
    {
      name: 'comment inside DigestValue',
      body: `${open}${content}${signature.replace('<ds:DigestValue>', '<ds:DigestValue><!-- x -->')}${close}`,
    },
    {
      name: 'digest downgraded to SHA-1',
      body: `${open}${content}${signature.replace('http://www.w3.org/2001/04/xmlenc#sha256', 'http://www.w3.org/2000/09/xmldsig#sha1')}${close}`,
    },
    {
      name: 'enveloped-signature transform removed',
      body: `${open}${content}${signature.replace(/<ds:Transform Algorithm="http:\/\/www.w3.org\/2000\/09\/xmldsig#enveloped-signature"><\/ds:Transform>/, '')}${close}`,
    },
    {
      name: 'XSLT transform added',
      body: `${open}${content}${signature.replace(
        '</ds:Transforms>',
        '<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"><xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"/></ds:Transform></ds:Transforms>',
      )}${close}`,
    },
    {
      name: 'canonicalization with comments',
      body: `${open}${content}${signature.replace(
        '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">',
        '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#WithComments">',
      )}${close}`,
    },
    {
      name: 'SignatureValue emptied',
      body: `${open}${content}${signature.replace(/<ds:SignatureValue>[^<]*</, '<ds:SignatureValue><')}${close}`,
    },
    {
      name: 'SignatureValue with one bit flipped',
      body: `${open}${content}${signature.replace(/<ds:SignatureValue>(.)/, (_m, c: string) => `<ds:SignatureValue>${c === 'A' ? 'B' : 'A'}`)}${close}`,
    },
    {
      name: 'SignatureValue not base64',
      body: `${open}${content}${signature.replace(/<ds:SignatureValue>[^<]*</, '<ds:SignatureValue>%%%not-base64%%%<')}${close}`,
    },
    {
      name: 'KeyInfo certificate replaced by another system’s',
      body: `${open}${content}${signature.replace(/<ds:X509Certificate>[^<]*</, `<ds:X509Certificate>${otherCertificateBase64}<`)}${close}`,
    },
    {
      name: 'KeyInfo removed',
      body: `${open}${content}${signature.replace(/<ds:KeyInfo>.*<\/ds:KeyInfo>/s, '')}${close}`,
    },
    {
      name: 'ds prefix bound to a foreign namespace',
      body: `${open}${content}${signature.replace('xmlns:ds="http://www.w3.org/2000/09/xmldsig#"', 'xmlns:ds="urn:attacker:not-xmldsig"')}${close}`,
      // Then there is no signature at all, but an element the schema does not know.
      code: 'GW_ERR_SCHEMA_INVALID',
    },
  ];
  return variants.map((v) => ({ ...v, code: v.code ?? 'GW_ERR_SIGNATURE_INVALID' }));
}
