/**
 * XMeld 25.05 (Meldewesen), the version before 25.11: the same four message types, with the person's
 * birth data as flat fields, the address field `ort`, no move-in date, at most three nationalities and
 * the Familienstand list in version 1. ../CHANGES.md lists every difference; ../bridge-25.05-25.11.ts
 * converts between the two. Object keys are XML element names; ./xmeld.xsd describes the same documents.
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
import { namensangaben, POSTLEITZAHL } from '../../xoev/person.ts';

export const STANDARD = 'XMeld';
export const VERSION = '25.05';
export const NAMESPACE = 'urn:xoev-de:xmeld:25.05';

export const LISTS = {
  nachrichtentyp: loadCodeList('xmeld-nachrichtentyp-25.05.json'),
  geschlecht: loadCodeList('geschlecht-1.json'),
  staat: loadCodeList('staat-2025-01.json'),
  familienstand: loadCodeList('familienstand-1.json'),
  ags: loadCodeList('ags-2025-06-30.json'),
  auswertungsergebnis: loadCodeList('xmeld-auswertungsergebnis-1.json'),
  unplausibilitaetsgrund: loadCodeList('xmeld-unplausibilitaetsgrund-1.json'),
  quittungsergebnis: loadCodeList('xmeld-quittungsergebnis-1.json'),
};

/** 25.05 names the municipality `ort` (25.11: `wohnort`). */
export const Anschrift = z.object({
  strasse: z.string().min(1).max(55),
  hausnummer: z.string().min(1).max(20).optional(),
  postleitzahl: POSTLEITZAHL,
  ort: z.string().min(1).max(40),
  gemeindeschluessel: codeOf(LISTS.ags),
});

/** 25.05 has no einzugsdatum. */
export const Wohnung = z.object({
  anschrift: Anschrift,
});

/** 25.05 keeps the birth data flat (25.11 groups them in `geburt`) and allows three nationalities. */
export const Person = z.object({
  ...namensangaben(),
  geburtsdatum: DATUM,
  geburtsort: z.string().min(1).max(120),
  geburtsstaat: codeOf(LISTS.staat).optional(),
  geschlecht: codeOf(LISTS.geschlecht),
  staatsangehoerigkeit: z.array(codeOf(LISTS.staat)).min(1).max(3),
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
  beanstandeteAngabe: z.array(z.string().min(1).max(120)).max(10),
  hinweis: z.string().min(1).max(2000).optional(),
});
export type Unplausibel0204 = z.infer<typeof Unplausibel0204>;

export const Quittung0020 = z.object({
  ...rootAttributes(STANDARD, VERSION),
  'nachrichtenkopf.g2g': antwortkopf(LISTS.nachrichtentyp),
  eingangszeitpunkt: ZEITPUNKT,
  ergebnis: codeOf(LISTS.quittungsergebnis),
  fehler: z
    .array(z.object({ fehlercode: z.string().min(1).max(40), fehlertext: z.string().min(1).max(500) }))
    .max(20),
});
export type Quittung0020 = z.infer<typeof Quittung0020>;
