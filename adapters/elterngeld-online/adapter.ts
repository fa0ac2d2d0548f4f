/**
 * elterngeld-online — the federal online application service for Elterngeld (fictional
 * "ElterngeldDigital"). Speaks JSON: it submits applications (`typ` ANTRAG → XElterngeld 0101)
 * and receives the Elterngeldstellen's decisions (BESCHEID → 0102) and requests for missing
 * documents (NACHFORDERUNG → 0103). Sex and benefit variants use the service's own words, amounts
 * are decimal strings.
 *
 * The application names no addressee: the adapter finds the responsible Elterngeldstelle from the
 * applicant's municipality (./zustaendigkeit.ts) and writes it as the antrag's leser and
 * zustaendigeStelle; the gateway's directory then routes that key to the Land's system.
 */
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import { antrag0101, bescheid0102, nachforderung0103 } from '../../standards/xelterngeld/1.2/index.ts';
import type { Antrag0101, Bescheid0102, Nachforderung0103 } from '../../standards/xelterngeld/1.2/schema.ts';
import { LISTS } from '../../standards/xelterngeld/1.2/schema.ts';
import { MAPPER_CONSTRAINTS, mapperConstraints, setAt } from '../sdk/constrain.ts';
import { jsonFormat } from '../sdk/formats/json.ts';
import { mappedAdapter } from '../sdk/mapped-adapter.ts';
import { defineMapping, type Fields, type Rule } from '../sdk/mapping/define.ts';
import { defineMessageMapping } from '../sdk/mapping/message-mapping.ts';
import { getPath, getPointer, setPointer } from '../sdk/mapping/paths.ts';
import { responsibleOffice } from './zustaendigkeit.ts';

const PRODUKT = {
  produkt: 'ElterngeldDigital',
  produkthersteller: 'Bundesministerium für Familie (fiktiv)',
  produktversion: '2026.1',
};
export const DIENST = { kennung: 'bund:elterngeld-online', name: 'Antragsdienst ElterngeldDigital' };

export const GESCHLECHT = { maennlich: 'm', weiblich: 'w', divers: 'd', ohne_angabe: 'x' };
export const VARIANTE = { BASIS: 'BEG', PLUS: 'EGP', BONUS: 'PSB' };
export const ENTSCHEIDUNG = { BEWILLIGT: '01', TEILWEISE_BEWILLIGT: '02', ABGELEHNT: '03' };

const AGS_FIELD = 'antragsteller.anschrift.gemeindeschluessel';

const antrag = defineMessageMapping<Antrag0101>({
  type: antrag0101,
  produkt: PRODUKT,
  rules: (f) => [
    f.uuid('/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', 'antragsId', { generate: true }),
    f.uuid('/nachrichtenkopf.g2g/referenzUUID', 'bezugsId', { optional: true }),
    f.timestamp('/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt', 'eingereichtAm'),
    f.bool('/test', 'test', undefined, { default: false }),
    f.constant('/nachrichtenkopf.g2g/autor', { verzeichnisdienst: 'DVDV', ...DIENST }),
    f.date('/antragsdatum', 'antragsdatum', 'iso'),
    f.text('/antragsteller/familienname', 'antragsteller.familienname'),
    f.text('/antragsteller/geburtsname', 'antragsteller.geburtsname', { optional: true }),
    f.text('/antragsteller/vornamen', 'antragsteller.vornamen'),
    f.text('/antragsteller/doktorgrad', 'antragsteller.titel', { optional: true }),
    f.date('/antragsteller/geburt/datum', 'antragsteller.geburtsdatum', 'iso'),
    f.text('/antragsteller/geburt/geburtsort', 'antragsteller.geburtsort'),
    f.code('/antragsteller/geburt/geburtsstaat', 'antragsteller.geburtsland', LISTS.staat, undefined, {
      optional: true,
    }),
    f.code('/antragsteller/geschlecht', 'antragsteller.geschlecht', LISTS.geschlecht, GESCHLECHT),
    f.codes('/antragsteller/staatsangehoerigkeit', 'antragsteller.staatsangehoerigkeiten', LISTS.staat),
    f.text('/antragsteller/anschrift/strasse', 'antragsteller.anschrift.strasse'),
    f.text('/antragsteller/anschrift/hausnummer', 'antragsteller.anschrift.hausnummer', { optional: true }),
    f.text('/antragsteller/anschrift/postleitzahl', 'antragsteller.anschrift.plz'),
    f.text('/antragsteller/anschrift/wohnort', 'antragsteller.anschrift.ort'),
    f.code('/antragsteller/anschrift/gemeindeschluessel', AGS_FIELD, LISTS.ags),
    f.text('/antragsteller/steuerIdentifikationsnummer', 'antragsteller.steuerId'),
    f.nested(
      '/andererElternteil',
      'andererElternteil',
      defineMapping<NonNullable<Antrag0101['andererElternteil']>>((g) => [
        g.text('/familienname', 'familienname'),
        g.text('/vornamen', 'vornamen'),
        g.date('/geburtsdatum', 'geburtsdatum', 'iso'),
      ]),
      { optional: true },
    ),
    f.text('/kind/familienname', 'kind.familienname'),
    f.text('/kind/vornamen', 'kind.vornamen'),
    f.date('/kind/geburtsdatum', 'kind.geburtsdatum', 'iso'),
    f.bool('/kind/mehrlingsgeburt', 'kind.mehrlinge', undefined, { default: false }),
    f.each(
      '/bezug',
      'bezugsmonate',
      defineMapping<Antrag0101['bezug'][number]>((g) => [
        g.number('/lebensmonat', 'lebensmonat'),
        g.code('/leistungsvariante', 'variante', LISTS.leistungsvariante, VARIANTE),
      ]),
    ),
    f.each(
      '/einkommensnachweis',
      'einkommen',
      defineMapping<Antrag0101['einkommensnachweis'][number]>((g) => [
        g.code('/unterlagenart', 'nachweis', LISTS.unterlagenart),
        g.date('/zeitraumVon', 'von', 'iso'),
        g.date('/zeitraumBis', 'bis', 'iso'),
        g.decimal('/bruttobetrag', 'brutto', {}, { optional: true }),
      ]),
      { minItems: 0 },
    ),
    f.text('/bankverbindung/iban', 'bank.iban'),
    f.text('/bankverbindung/kontoinhaber', 'bank.kontoinhaber'),
  ],
  hooks: {
    // Code hook: the addressee follows from the applicant's municipality (see ./zustaendigkeit.ts).
    decode(draft, native, scope) {
      const ags = getPath(native, AGS_FIELD);
      if (typeof ags !== 'string' || !ags) return; // already reported as missing by its rule
      const stelle = responsibleOffice(ags);
      if (!stelle) {
        scope.mapper.fail(
          scope.nativeName(AGS_FIELD),
          '/nachrichtenkopf.g2g/leser/kennung',
          `no connected Elterngeldstelle is responsible for municipality ${ags}`,
        );
        return;
      }
      setPointer(draft, '/nachrichtenkopf.g2g/leser', { verzeichnisdienst: 'DVDV', ...stelle });
      setPointer(draft, '/zustaendigeStelle', { ...stelle });
    },
  },
});

/** The answers' header: the Elterngeldstelle's message id, the application it answers, both parties. */
function antwortkopf<T extends Bescheid0102 | Nachforderung0103>(f: Fields<T>): Rule[] {
  const g = f as unknown as Fields<Bescheid0102>;
  return [
    g.uuid('/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', 'nachrichtId', {
      generate: true,
    }),
    g.uuid('/nachrichtenkopf.g2g/referenzUUID', 'antragsId'),
    g.timestamp('/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt', 'erstelltAm'),
    g.bool('/test', 'test', undefined, { default: false }),
    g.behoerde('/nachrichtenkopf.g2g/autor', { kennung: 'stelle.kennung', name: 'stelle.name' }),
    g.behoerde('/nachrichtenkopf.g2g/leser', { kennung: 'empfaenger.kennung', name: 'empfaenger.name' }),
    g.text('/aktenzeichen', 'aktenzeichen'),
  ];
}

const bescheid = defineMessageMapping<Bescheid0102>({
  type: bescheid0102,
  produkt: PRODUKT,
  rules: (f) => [
    ...antwortkopf(f),
    f.date('/bescheiddatum', 'bescheiddatum', 'iso'),
    f.code('/entscheidung', 'entscheidung', LISTS.entscheidung, ENTSCHEIDUNG),
    f.each(
      '/bewilligung',
      'monate',
      defineMapping<Bescheid0102['bewilligung'][number]>((g) => [
        g.number('/lebensmonat', 'lebensmonat'),
        g.code('/leistungsvariante', 'variante', LISTS.leistungsvariante, VARIANTE),
        g.decimal('/betrag', 'betrag'),
      ]),
      { minItems: 0 },
    ),
    f.text('/begruendung', 'begruendung', { optional: true }),
    f.text('/rechtsbehelfsbelehrung', 'rechtsbehelfsbelehrung'),
  ],
});

const nachforderung = defineMessageMapping<Nachforderung0103>({
  type: nachforderung0103,
  produkt: PRODUKT,
  rules: (f) => [
    ...antwortkopf(f),
    f.date('/frist', 'frist', 'iso'),
    f.each(
      '/fehlendeUnterlage',
      'unterlagen',
      defineMapping<Nachforderung0103['fehlendeUnterlage'][number]>((g) => [
        g.code('/unterlagenart', 'art', LISTS.unterlagenart),
        g.text('/erlaeuterung', 'erlaeuterung', { optional: true }),
      ]),
    ),
    f.text('/hinweis', 'hinweis', { optional: true }),
  ],
});

export default mappedAdapter({
  spec: { id: 'elterngeld-online', title: 'Antragsdienst ElterngeldDigital (Bund)', land: 'BUND' },
  format: jsonFormat(),
  typeField: 'typ',
  messages: { ANTRAG: antrag, BESCHEID: bescheid, NACHFORDERUNG: nachforderung },
  roundTrip: {
    constraints: [
      ...MAPPER_CONSTRAINTS,
      'an application comes from the service itself (autor) and goes to the Elterngeldstelle responsible for the applicant’s municipality (leser, zustaendigeStelle); municipalities without a connected Elterngeldstelle (Sachsen-Anhalt) cannot apply',
      'produkt, produkthersteller and produktversion are those of ElterngeldDigital',
    ],
    constrain(message: XoevMessage, spec: MessageTypeSpec) {
      let m = mapperConstraints(message);
      if (spec.id === antrag0101.id) {
        m = setAt(m, '/antragsteller/anschrift/gemeindeschluessel/code', (ags: string) =>
          responsibleOffice(ags) ? ags : '14612000',
        );
        const stelle = responsibleOffice(
          getPointer(m, '/antragsteller/anschrift/gemeindeschluessel/code') as string,
        )!;
        m = setAt(m, '/nachrichtenkopf.g2g/leser', () => ({ verzeichnisdienst: 'DVDV', ...stelle }));
        m = setAt(m, '/nachrichtenkopf.g2g/autor', () => ({ verzeichnisdienst: 'DVDV', ...DIENST }));
        m = setAt(m, '/zustaendigeStelle', () => ({ ...stelle }));
      }
      return { ...m, ...PRODUKT } as XoevMessage;
    },
  },
});
