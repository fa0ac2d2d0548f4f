/**
 * XMeld 25.11 (Meldewesen), after the element names of the real XMeld: the Rückmeldung after a
 * move between registration offices (0201), its evaluation (0203), the notice that it is
 * implausible (0204), and the receipt (quittung.0020). Object keys are XML element names; the XSD in
 * ./xmeld.xsd describes the same documents for vendors and xmllint. What changed since 25.05 is in
 * ../CHANGES.md.
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

export const STANDARD = 'XMeld';
export const VERSION = '25.11';
export const NAMESPACE = 'urn:xoev-de:xmeld:25.11';

export const LISTS = {
  nachrichtentyp: loadCodeList('xmeld-nachrichtentyp-25.11.json'),
  geschlecht: loadCodeList('geschlecht-1.json'),
  staat: loadCodeList('staat-2025-01.json'),
  familienstand: loadCodeList('familienstand-2.json'),
  ags: loadCodeList('ags-2025-06-30.json'),
  auswertungsergebnis: loadCodeList('xmeld-auswertungsergebnis-1.json'),
  unplausibilitaetsgrund: loadCodeList('xmeld-unplausibilitaetsgrund-1.json'),
  quittungsergebnis: loadCodeList('xmeld-quittungsergebnis-1.json'),
};

export const Anschrift = anschrift(LISTS.ags);

export const Wohnung = z.object({
  anschrift: Anschrift,
  einzugsdatum: DATUM.optional(),
});

export const Person = z.object({
  ...namensangaben(),
  geburt: geburt(LISTS.staat),
  geschlecht: codeOf(LISTS.geschlecht),
  staatsangehoerigkeit: z.array(codeOf(LISTS.staat)).min(1).max(4),
  familienstand: codeOf(LISTS.familienstand),
  auskunftssperre: z.boolean(),
});

export const Rueckmeldung0201 = z.object({
  ...rootAttributes(STANDARD, VERSION),
  'nachrichtenkopf.g2g': nachrichtenkopf(LISTS.nachrichtentyp),
  anmeldedatum: DATUM,
  person: Person,
  'wohnung.neu': Wohnung,
  'wohnung.bisher': Wohnung,
});
export type Rueckmeldung0201 = z.infer<typeof Rueckmeldung0201>;

export const Auswertung0203 = z.object({
  ...rootAttributes(STANDARD, VERSION),
  'nachrichtenkopf.g2g': antwortkopf(LISTS.nachrichtentyp),
  ergebnis: codeOf(LISTS.auswertungsergebnis),
  fortschreibungsdatum: DATUM.optional(),
  hinweis: z.string().min(1).max(2000).optional(),
});
export type Auswertung0203 = z.infer<typeof Auswertung0203>;

export const Unplausibel0204 = z.object({
  ...rootAttributes(STANDARD, VERSION),
  'nachrichtenkopf.g2g': antwortkopf(LISTS.nachrichtentyp),
  grund: codeOf(LISTS.unplausibilitaetsgrund),
  /** The disputed items as element paths of the 0201, e.g. `person/geburt/datum`. */
  beanstandeteAngabe: z.array(z.string().min(1).max(120)).max(10),
  hinweis: z.string().min(1).max(2000).optional(),
});
export type Unplausibel0204 = z.infer<typeof Unplausibel0204>;

export const Fehler = z.object({
  fehlercode: z.string().min(1).max(40),
  fehlertext: z.string().min(1).max(500),
});

export const Quittung0020 = z.object({
  ...rootAttributes(STANDARD, VERSION),
  'nachrichtenkopf.g2g': antwortkopf(LISTS.nachrichtentyp),
  /** When the receiving system took the message over (its acknowledgement). */
  eingangszeitpunkt: ZEITPUNKT,
  ergebnis: codeOf(LISTS.quittungsergebnis),
  fehler: z.array(Fehler).max(20),
});
export type Quittung0020 = z.infer<typeof Quittung0020>;
