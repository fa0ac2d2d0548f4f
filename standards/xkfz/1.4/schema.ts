/**
 * XKfz 1.4 (Kfz-Zulassung): what a registration authority reports to the central vehicle register
 * when it registers a vehicle (1001), records a change of keeper (1002) or takes a vehicle out of
 * operation (1003). Keepers reuse the catalogue's person and address types (../../xoev/person.ts).
 * Object keys are XML element names; ./xkfz.xsd describes the same documents.
 */
import { z } from 'zod';
import { codeOf, loadCodeList } from '../../xoev/codelist.ts';
import {
  antwortkopf,
  DATUM,
  nachrichtenkopf,
  rootAttributes,
  ZEITPUNKT,
} from '../../xoev/nachrichtenkopf.ts';
import { anschrift, geburt, namensangaben } from '../../xoev/person.ts';

export const STANDARD = 'XKfz';
export const VERSION = '1.4';
export const NAMESPACE = 'urn:xoev-de:xkfz:1.4';

export const LISTS = {
  nachrichtentyp: loadCodeList('xkfz-nachrichtentyp-1.4.json'),
  fahrzeugklasse: loadCodeList('eg-fahrzeugklasse-2018.json'),
  ausserbetriebsetzungsgrund: loadCodeList('xkfz-ausserbetriebsetzungsgrund-1.json'),
  quittungsergebnis: loadCodeList('xkfz-quittungsergebnis-1.json'),
  staat: loadCodeList('staat-2025-01.json'),
  ags: loadCodeList('ags-2025-06-30.json'),
};

/** Fahrzeug-Identifizierungsnummer (ISO 3779): 17 characters, no I, O or Q (they read as 1 and 0). */
export const FIN = z
  .string()
  .regex(/^[A-HJ-NPR-Z0-9]{17}$/, 'must be 17 characters A–Z (without I, O, Q) and 0–9');

/** Nummer der Zulassungsbescheinigung Teil II (this catalogue's format: two letters, six digits). */
export const ZB2_NUMMER = z.string().regex(/^[A-Z]{2}[0-9]{6}$/, 'must be two letters and six digits');

/** Month of the next general inspection (HU), as on the inspection sticker: `YYYY-MM`. */
export const MONAT = z.string().regex(/^(19|20)\d{2}-(0[1-9]|1[0-2])$/, 'must be YYYY-MM');

export const Kennzeichen = z.object({
  /** The district code, e.g. `DD` (Dresden), `MD` (Magdeburg), `EF` (Erfurt). */
  unterscheidungszeichen: z.string().regex(/^[A-ZÄÖÜ]{1,3}$/, 'must be one to three capital letters'),
  /** Letters and digits after the district code, e.g. `AB 1234`; a trailing E (electric) or H (historic). */
  erkennungsnummer: z
    .string()
    .regex(/^[A-Z]{1,2} [1-9][0-9]{0,3}[EH]?$/, 'must be one or two letters, a space, one to four digits'),
});
export type Kennzeichen = z.infer<typeof Kennzeichen>;

export const Fahrzeug = z.object({
  fin: FIN,
  fahrzeugklasse: codeOf(LISTS.fahrzeugklasse),
  marke: z.string().min(1).max(50),
  handelsbezeichnung: z.string().min(1).max(50).optional(),
  /** Date of first registration anywhere. */
  erstzulassung: DATUM,
});
export type Fahrzeug = z.infer<typeof Fahrzeug>;

export const NatuerlichePerson = z.object({
  ...namensangaben(),
  geburt: geburt(LISTS.staat),
});

export const JuristischePerson = z.object({
  name: z.string().min(1).max(255),
  /** Handelsregister or Vereinsregister entry, e.g. `HRB 12345 Amtsgericht Dresden`. */
  registereintrag: z.string().min(1).max(80).optional(),
});

/** A keeper: exactly one of natuerlichePerson and juristischePerson (xs:choice), and the address. */
export const Halter = z
  .object({
    natuerlichePerson: NatuerlichePerson.optional(),
    juristischePerson: JuristischePerson.optional(),
    anschrift: anschrift(LISTS.ags),
  })
  .refine((h) => (h.natuerlichePerson === undefined) !== (h.juristischePerson === undefined), {
    message: 'must contain exactly one of natuerlichePerson and juristischePerson',
  });
export type Halter = z.infer<typeof Halter>;

function base() {
  return {
    ...rootAttributes(STANDARD, VERSION),
    'nachrichtenkopf.g2g': nachrichtenkopf(LISTS.nachrichtentyp),
  };
}

export const Zulassung1001 = z.object({
  ...base(),
  zulassungsdatum: DATUM,
  fahrzeug: Fahrzeug,
  kennzeichen: Kennzeichen,
  zb2Nummer: ZB2_NUMMER,
  halter: Halter,
  naechsteHauptuntersuchung: MONAT,
});
export type Zulassung1001 = z.infer<typeof Zulassung1001>;

export const Halterwechsel1002 = z.object({
  ...base(),
  /** The day the new keeper was registered. */
  umschreibungsdatum: DATUM,
  fahrzeug: Fahrzeug,
  kennzeichen: Kennzeichen,
  /** Present when the vehicle got a new plate; absent when the new keeper kept the old one. */
  'kennzeichen.neu': Kennzeichen.optional(),
  zb2Nummer: ZB2_NUMMER,
  'halter.bisher': Halter,
  'halter.neu': Halter,
  naechsteHauptuntersuchung: MONAT,
});
export type Halterwechsel1002 = z.infer<typeof Halterwechsel1002>;

export const Ausserbetriebsetzung1003 = z.object({
  ...base(),
  ausserbetriebsetzungsdatum: DATUM,
  grund: codeOf(LISTS.ausserbetriebsetzungsgrund),
  fahrzeug: Fahrzeug,
  kennzeichen: Kennzeichen,
  /** Until when the plate stays reserved for the keeper; absent when it is released. */
  kennzeichenReserviertBis: DATUM.optional(),
  zb2Nummer: ZB2_NUMMER,
  halter: Halter,
});
export type Ausserbetriebsetzung1003 = z.infer<typeof Ausserbetriebsetzung1003>;

export const Fehler = z.object({
  fehlercode: z.string().min(1).max(40),
  fehlertext: z.string().min(1).max(500),
});

/**
 * `quittung.1000`: the receipt for any XKfz message, shaped like XMeld's quittung.0020 (the gateway
 * sends it to the sender when the receiving system acknowledged; see gateway/receipts/). XKfz-style
 * catalogues had no receipt; this is the smallest one that says "taken over at" for a referenzUUID.
 */
export const Quittung1000 = z.object({
  ...rootAttributes(STANDARD, VERSION),
  'nachrichtenkopf.g2g': antwortkopf(LISTS.nachrichtentyp),
  /** When the receiving system took the message over (its acknowledgement). */
  eingangszeitpunkt: ZEITPUNKT,
  ergebnis: codeOf(LISTS.quittungsergebnis),
  fehler: z.array(Fehler).max(20),
});
export type Quittung1000 = z.infer<typeof Quittung1000>;
