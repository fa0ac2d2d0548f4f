/**
 * th-elterngeld — the Elterngeldstelle of Thüringen (fictional procedure "ELFE"). Receives
 * applications (XElterngeld 0101) and answers with decisions (0102) or requests for missing
 * documents (0103) over a JSON API in German office style: `meldungsart` names the message,
 * dates are TT.MM.JJJJ, amounts `1.624,35`, flags `ja`/`nein`, benefit variants Basis/Plus/Bonus.
 */
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import { antrag0101, bescheid0102, nachforderung0103 } from '../../standards/xelterngeld/1.2/index.ts';
import type { Antrag0101, Bescheid0102, Nachforderung0103 } from '../../standards/xelterngeld/1.2/schema.ts';
import { LISTS } from '../../standards/xelterngeld/1.2/schema.ts';
import { MAPPER_CONSTRAINTS, mapperConstraints } from '../sdk/constrain.ts';
import { jsonFormat } from '../sdk/formats/json.ts';
import { mappedAdapter } from '../sdk/mapped-adapter.ts';
import { defineMapping, type Fields, type Rule } from '../sdk/mapping/define.ts';
import { defineMessageMapping } from '../sdk/mapping/message-mapping.ts';

const PRODUKT = {
  produkt: 'ELFE Thüringen',
  produkthersteller: 'Thüringer Landesrechenzentrum (fiktiv)',
  produktversion: '1.9.0',
};

export const VARIANTE = { Basis: 'BEG', Plus: 'EGP', Bonus: 'PSB' };
export const GESCHLECHT = { maennlich: 'm', weiblich: 'w', divers: 'd', keine_angabe: 'x' };
const JA_NEIN = { true: ['ja'], false: ['nein'] };
const BETRAG = { decimalSeparator: ',', groupSeparator: '.' } as const;

function kopf<T extends Antrag0101 | Bescheid0102 | Nachforderung0103>(f: Fields<T>): Rule[] {
  const g = f as unknown as Fields<Antrag0101>;
  return [
    g.uuid('/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID', 'kopf.nachrichtId', {
      generate: true,
    }),
    g.uuid('/nachrichtenkopf.g2g/referenzUUID', 'kopf.bezugNachrichtId', { optional: true }),
    g.timestamp('/nachrichtenkopf.g2g/identifikation.nachricht/erstellungszeitpunkt', 'kopf.zeitpunkt'),
    g.bool('/test', 'kopf.testfall', JA_NEIN, { default: false }),
    g.behoerde('/nachrichtenkopf.g2g/autor', {
      kennung: 'kopf.absender.dvdv',
      name: 'kopf.absender.bezeichnung',
    }),
    g.behoerde('/nachrichtenkopf.g2g/leser', {
      kennung: 'kopf.empfaenger.dvdv',
      name: 'kopf.empfaenger.bezeichnung',
    }),
  ];
}

const antrag = defineMessageMapping<Antrag0101>({
  type: antrag0101,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.date('/antragsdatum', 'antrag.eingangsdatum', 'de'),
    f.text('/antragsteller/familienname', 'antrag.antragstellerin.nachname'),
    f.text('/antragsteller/geburtsname', 'antrag.antragstellerin.geburtsname', { optional: true }),
    f.text('/antragsteller/vornamen', 'antrag.antragstellerin.vorname'),
    f.text('/antragsteller/doktorgrad', 'antrag.antragstellerin.akademischerGrad', { optional: true }),
    f.date('/antragsteller/geburt/datum', 'antrag.antragstellerin.geburtsdatum', 'de'),
    f.text('/antragsteller/geburt/geburtsort', 'antrag.antragstellerin.geburtsort'),
    f.code(
      '/antragsteller/geburt/geburtsstaat',
      'antrag.antragstellerin.geburtsstaat',
      LISTS.staat,
      undefined,
      {
        optional: true,
      },
    ),
    f.code('/antragsteller/geschlecht', 'antrag.antragstellerin.geschlecht', LISTS.geschlecht, GESCHLECHT),
    f.codes(
      '/antragsteller/staatsangehoerigkeit',
      'antrag.antragstellerin.staatsangehoerigkeit',
      LISTS.staat,
    ),
    f.text('/antragsteller/anschrift/strasse', 'antrag.antragstellerin.wohnanschrift.strasse'),
    f.text('/antragsteller/anschrift/hausnummer', 'antrag.antragstellerin.wohnanschrift.hausnr', {
      optional: true,
    }),
    f.text('/antragsteller/anschrift/postleitzahl', 'antrag.antragstellerin.wohnanschrift.plz'),
    f.text('/antragsteller/anschrift/wohnort', 'antrag.antragstellerin.wohnanschrift.ort'),
    f.code(
      '/antragsteller/anschrift/gemeindeschluessel',
      'antrag.antragstellerin.wohnanschrift.ags',
      LISTS.ags,
    ),
    f.text('/antragsteller/steuerIdentifikationsnummer', 'antrag.antragstellerin.steuerId'),
    f.nested(
      '/andererElternteil',
      'antrag.elternteil2',
      defineMapping<NonNullable<Antrag0101['andererElternteil']>>((g) => [
        g.text('/familienname', 'nachname'),
        g.text('/vornamen', 'vorname'),
        g.date('/geburtsdatum', 'geburtsdatum', 'de'),
      ]),
      { optional: true },
    ),
    f.text('/kind/familienname', 'antrag.kind.nachname'),
    f.text('/kind/vornamen', 'antrag.kind.vorname'),
    f.date('/kind/geburtsdatum', 'antrag.kind.geburtsdatum', 'de'),
    f.bool('/kind/mehrlingsgeburt', 'antrag.kind.mehrling', JA_NEIN, { default: false }),
    f.each(
      '/bezug',
      'antrag.monate',
      defineMapping<Antrag0101['bezug'][number]>((g) => [
        g.number('/lebensmonat', 'lm'),
        g.code('/leistungsvariante', 'art', LISTS.leistungsvariante, VARIANTE),
      ]),
    ),
    f.each(
      '/einkommensnachweis',
      'antrag.einkommensnachweise',
      defineMapping<Antrag0101['einkommensnachweis'][number]>((g) => [
        g.code('/unterlagenart', 'art', LISTS.unterlagenart),
        g.date('/zeitraumVon', 'von', 'de'),
        g.date('/zeitraumBis', 'bis', 'de'),
        g.decimal('/bruttobetrag', 'brutto', BETRAG, { optional: true }),
      ]),
      { minItems: 0 },
    ),
    f.text('/bankverbindung/iban', 'antrag.iban'),
    f.text('/bankverbindung/kontoinhaber', 'antrag.kontoinhaber'),
    f.text('/zustaendigeStelle/kennung', 'antrag.zustaendig.dvdv'),
    f.text('/zustaendigeStelle/name', 'antrag.zustaendig.bezeichnung'),
  ],
});

const bescheid = defineMessageMapping<Bescheid0102>({
  type: bescheid0102,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.text('/aktenzeichen', 'bescheid.aktenzeichen'),
    f.date('/bescheiddatum', 'bescheid.datum', 'de'),
    f.code('/entscheidung', 'bescheid.ergebnis', LISTS.entscheidung),
    f.each(
      '/bewilligung',
      'bescheid.zahlungen',
      defineMapping<Bescheid0102['bewilligung'][number]>((g) => [
        g.number('/lebensmonat', 'lm'),
        g.code('/leistungsvariante', 'art', LISTS.leistungsvariante, VARIANTE),
        g.decimal('/betrag', 'betrag', BETRAG),
      ]),
      { minItems: 0 },
    ),
    f.text('/begruendung', 'bescheid.begruendung', { optional: true }),
    f.text('/rechtsbehelfsbelehrung', 'bescheid.rechtsbehelf'),
  ],
});

const nachforderung = defineMessageMapping<Nachforderung0103>({
  type: nachforderung0103,
  produkt: PRODUKT,
  rules: (f) => [
    ...kopf(f),
    f.text('/aktenzeichen', 'nachforderung.aktenzeichen'),
    f.date('/frist', 'nachforderung.fristBis', 'de'),
    f.each(
      '/fehlendeUnterlage',
      'nachforderung.fehlend',
      defineMapping<Nachforderung0103['fehlendeUnterlage'][number]>((g) => [
        g.code('/unterlagenart', 'art', LISTS.unterlagenart),
        g.text('/erlaeuterung', 'text', { optional: true }),
      ]),
    ),
    f.text('/hinweis', 'nachforderung.hinweis', { optional: true }),
  ],
});

export default mappedAdapter({
  spec: { id: 'th-elterngeld', title: 'Elterngeldstelle Thüringen (ELFE)', land: 'TH' },
  format: jsonFormat(),
  typeField: 'meldungsart',
  messages: { EG_ANTRAG: antrag, EG_BESCHEID: bescheid, EG_NACHFORDERUNG: nachforderung },
  roundTrip: {
    constraints: [
      ...MAPPER_CONSTRAINTS,
      'produkt, produkthersteller and produktversion are those of ELFE Thüringen',
    ],
    constrain: (message: XoevMessage, _spec: MessageTypeSpec) => ({
      ...mapperConstraints(message),
      ...PRODUKT,
    }),
  },
});
