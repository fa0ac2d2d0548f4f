/**
 * The shared XÖV message header `nachrichtenkopf.g2g` and the root attributes every message of
 * every standard carries. Object keys are the XML element names, so a JSON pointer in an error
 * (`/nachrichtenkopf.g2g/leser/kennung`) names the element an integrator sees in the XSD.
 */
import { z } from 'zod';
import { type CodeList, codeOf, XML_ATTRIBUTE } from './codelist.ts';

export const UUID = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'must be a lower-case RFC 4122 UUID');

/** xs:dateTime with milliseconds and an explicit offset, as XÖV requires for erstellungszeitpunkt. */
export const ZEITPUNKT = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$/, 'must be YYYY-MM-DDThh:mm:ss.sss with zone')
  .refine((s) => !Number.isNaN(Date.parse(s)), 'is not a valid point in time');

/** xs:date; also rejects impossible dates such as 2025-02-30. */
export const DATUM = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD')
  .refine((s) => new Date(`${s}T00:00:00Z`).toISOString().startsWith(s), 'is not a calendar date');

/** DVDV-style address of an authority: `praefix:kennung`, e.g. `ags:14612000`. */
export const KENNUNG = z.string().regex(/^[a-z]{2,10}:[A-Za-z0-9._-]{1,40}$/, 'must be praefix:kennung, e.g. ags:14612000');

export const Behoerde = z.object({
  verzeichnisdienst: z.literal('DVDV'),
  kennung: KENNUNG,
  name: z.string().min(1).max(255),
});
export type Behoerde = z.infer<typeof Behoerde>;

export function nachrichtenkopf(nachrichtentypen: CodeList) {
  return z.object({
    'identifikation.nachricht': z.object({
      nachrichtenUUID: UUID,
      nachrichtentyp: codeOf(nachrichtentypen),
      erstellungszeitpunkt: ZEITPUNKT,
    }),
    leser: Behoerde,
    autor: Behoerde,
    referenzUUID: UUID.optional(),
  });
}
export type Nachrichtenkopf = z.infer<ReturnType<typeof nachrichtenkopf>>;

/** Root attributes of every message (`standard`, `version`, `produkt`, …, `test`). */
export function rootAttributes(standard: string, version: string) {
  return {
    standard: z.literal(standard).meta(XML_ATTRIBUTE),
    version: z.literal(version).meta(XML_ATTRIBUTE),
    produkt: z.string().min(1).max(255).meta(XML_ATTRIBUTE),
    produkthersteller: z.string().min(1).max(255).meta(XML_ATTRIBUTE),
    produktversion: z.string().min(1).max(64).meta(XML_ATTRIBUTE),
    test: z.boolean().meta(XML_ATTRIBUTE),
  };
}
