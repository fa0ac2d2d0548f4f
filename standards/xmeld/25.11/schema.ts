/**
 * XMeld 25.11 (Meldewesen), after the element names of the real XMeld: the Rückmeldung after a
 * move between registration offices (0201), its evaluation (0203). Object keys are XML element
 * names; the XSD in ./xmeld.xsd describes the same documents for vendors and xmllint.
 */
import { z } from 'zod';
import { codeOf, loadCodeList } from '../../xoev/codelist.ts';
import { DATUM, nachrichtenkopf, rootAttributes, UUID } from '../../xoev/nachrichtenkopf.ts';

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
};

const name = z.string().min(1).max(120);

export const Anschrift = z.object({
  strasse: z.string().min(1).max(55),
  hausnummer: z.string().min(1).max(20).optional(),
  postleitzahl: z.string().regex(/^\d{5}$/, 'must be five digits'),
  wohnort: z.string().min(1).max(40),
  gemeindeschluessel: codeOf(LISTS.ags),
});

export const Wohnung = z.object({
  anschrift: Anschrift,
  einzugsdatum: DATUM.optional(),
});

export const Person = z.object({
  familienname: name,
  geburtsname: name.optional(),
  vornamen: name,
  doktorgrad: z.string().min(1).max(40).optional(),
  geburt: z.object({
    datum: DATUM,
    geburtsort: z.string().min(1).max(120),
    geburtsstaat: codeOf(LISTS.staat).optional(),
  }),
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
  'nachrichtenkopf.g2g': nachrichtenkopf(LISTS.nachrichtentyp).extend({
    referenzUUID: UUID,
  }),
  ergebnis: codeOf(LISTS.auswertungsergebnis),
  fortschreibungsdatum: DATUM.optional(),
  hinweis: z.string().min(1).max(2000).optional(),
});
export type Auswertung0203 = z.infer<typeof Auswertung0203>;
