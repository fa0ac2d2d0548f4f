/**
 * kba-zfzr — the central vehicle register of the Kraftfahrt-Bundesamt (fictional interface). It
 * speaks XKfz 1.4 natively: it sends and receives the standard documents themselves, so there is
 * nothing to translate. Decoding is the catalogue's strict XML codec behind the gateway's hardened
 * parser; encoding is the canonical form of the verified message (the inbox carries the sealed
 * document beside it). The same documents can also come in through POST /v1/messages.
 */
import {
  ausserbetriebsetzung1003,
  halterwechsel1002,
  zulassung1001,
} from '../../standards/xkfz/1.4/index.ts';
import { defineAdapter, handlesType } from '../sdk/adapter.ts';
import { constrainTexts } from '../sdk/constrain.ts';
import { readStandardDocument, writeStandardDocument } from '../sdk/formats/standard-xml.ts';

const TYPES = [zulassung1001, halterwechsel1002, ausserbetriebsetzung1003].map((t) => t.id);

export default defineAdapter({
  spec: {
    id: 'kba-zfzr',
    title: 'Zentrales Fahrzeugregister (Kraftfahrt-Bundesamt)',
    land: 'BUND',
    format: 'XKfz 1.4 documents (XML, UTF-8): the standard itself, no translation',
    decodes: { contentTypes: ['application/xml', 'text/xml'], charset: 'utf-8', messageTypes: TYPES },
    encodes: { contentType: 'application/xml', messageTypes: TYPES },
  },
  roundTrip: {
    constraints: [
      'none from the system: it speaks the standard',
      "text contains no U+FFFD: the gateway's hardened XML parser refuses it as a sign of broken encoding",
      "text contains no U+0085, U+2028 or U+2029: the gateway's XML parser (xmldom) turns them into line feeds",
    ],
    constrain: (message) => constrainTexts(message, (t) => t.replace(/[\uFFFD\u0085\u2028\u2029]/g, '?')),
  },
  decode(input) {
    return [readStandardDocument(input.body, (spec) => handlesType(TYPES, spec))];
  },
  encode(message, spec) {
    return writeStandardDocument(spec, message);
  },
});
