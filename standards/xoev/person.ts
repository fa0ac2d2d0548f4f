/**
 * Person and address types shared by the standards of the catalogue (XMeld's person record, XKfz's
 * keeper, XElterngeld's applicant). They are factories because each standard version binds them to
 * its own code list versions; the element names and their order are the same everywhere, so an
 * integrator who knows one standard's address knows them all. Each standard's XSD spells the same
 * types out (Type.Anschrift, Type.Geburt, …), as XÖV standards ship self-contained schemas.
 */
import { z } from 'zod';
import { type CodeList, codeOf } from './codelist.ts';
import { DATUM } from './nachrichtenkopf.ts';

/** A name field (familienname, vornamen, geburtsname): 1–120 characters. */
export const NAME = z.string().min(1).max(120);

export const POSTLEITZAHL = z.string().regex(/^\d{5}$/, 'must be five digits');

/**
 * The name fields of a natural person, in element order, to spread into a person type:
 * `z.object({ ...namensangaben(), geburt: geburt(LISTS.staat), … })`.
 */
export function namensangaben() {
  return {
    familienname: NAME,
    geburtsname: NAME.optional(),
    vornamen: NAME,
    doktorgrad: z.string().min(1).max(40).optional(),
  };
}

/** Date and place of birth; the state of birth is a code from `staat`. */
export function geburt(staat: CodeList) {
  return z.object({
    datum: DATUM,
    geburtsort: z.string().min(1).max(120),
    geburtsstaat: codeOf(staat).optional(),
  });
}

/** A domestic address; the municipality is its Amtlicher Gemeindeschlüssel from `ags`. */
export function anschrift(ags: CodeList) {
  return z.object({
    strasse: z.string().min(1).max(55),
    hausnummer: z.string().min(1).max(20).optional(),
    postleitzahl: POSTLEITZAHL,
    wohnort: z.string().min(1).max(40),
    gemeindeschluessel: codeOf(ags),
  });
}
