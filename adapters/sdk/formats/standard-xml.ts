/**
 * For systems that already speak a catalogued standard (the central vehicle register speaks XKfz):
 * no translation. Reading parses the document with the gateway's hardened parser and the
 * catalogue's strict XML codec; writing is the canonical form of the (verified) message.
 */
import { GatewayError } from '../../../gateway/errors/catalogue.ts';
import { parseXmlSafely } from '../../../gateway/xml/safe-parse.ts';
import type { MessageTypeSpec, XoevMessage } from '../../../standards/catalogue.ts';
import { catalogue } from '../../../standards/index.ts';
import { fromElement, toCanonicalXml } from '../../../standards/xoev/xml-codec.ts';
import type { DecodedMessage, NativeOutput } from '../adapter.ts';
import { decodeUtf8 } from './text.ts';

/** One standard document → its message; `accepts` decides which catalogued types are allowed. */
export function readStandardDocument(
  body: Buffer,
  accepts: (spec: MessageTypeSpec) => boolean,
): DecodedMessage {
  const root = parseXmlSafely(decodeUtf8(body)).documentElement!;
  const spec = catalogue.byRoot(root.namespaceURI, root.localName ?? '');
  const element = `{${root.namespaceURI ?? ''}}${root.localName}`;
  if (!spec || !accepts(spec)) {
    throw new GatewayError(
      'GW_ERR_UNKNOWN_STANDARD',
      spec ? `this system does not send ${spec.id}` : `${element} is not a catalogued message type`,
      { errors: [{ pointer: '', nativeField: `/${root.localName}`, detail: `root element ${element}` }] },
    );
  }
  return { spec, message: fromElement(spec, root), nativeRef: `/${root.localName}` };
}

export function writeStandardDocument(spec: MessageTypeSpec, message: XoevMessage): NativeOutput {
  return {
    contentType: 'application/xml',
    body: Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n${toCanonicalXml(spec, message)}\n`, 'utf8'),
  };
}
