/**
 * BAföG-TH keeps a file's open repayment claims in one CSV column: `GRUND/TT.MM.JJJJ/BETRAG`, claims
 * separated by `|` (`3/12.06.2026/412,50|1/03.02.2026/1.020,00`). None of the parts can contain a
 * separator (a one-digit code, a German date, an amount with decimal comma), so the column is
 * lossless; an empty column is no open claim. Errors name the claim (`line 2, column
 * RUECKFORDERUNGEN[1]`) and the standard field (`/rueckforderung/1/offenerBetrag`).
 */
import type { Abgabe0401 } from '../../standards/xbafoeg/1.0/schema.ts';
import { LISTS } from '../../standards/xbafoeg/1.0/schema.ts';
import {
  type Converter,
  codeConverter,
  dateConverter,
  decimalConverter,
  type FieldAt,
} from '../sdk/mapping/converters.ts';

type Claim = Abgabe0401['rueckforderung'][number];

/** BAföG-TH's one-digit reasons → the XBAföG list rueckforderungsgrund. */
export const RUECKFORDERUNGSGRUND = { '1': '01', '2': '02', '3': '03', '4': '04', '9': '99' };

const CLAIMS = '|';
const PARTS = '/';

/** Part `field` of claim `index` of the column at `at`. */
function partAt(at: FieldAt, index: number, field: keyof Claim): FieldAt {
  const native = at.nativeAt(`[${index}]`);
  return { native, pointer: `${at.pointer}/${index}/${field}`, nativeAt: () => native };
}

export function rueckforderungenConverter(): Converter<unknown, Claim[]> {
  const grund = codeConverter(LISTS.rueckforderungsgrund, RUECKFORDERUNGSGRUND);
  const datum = dateConverter('de');
  const betrag = decimalConverter({ decimalSeparator: ',', groupSeparator: '.' });
  return {
    describe: 'open repayment claims GRUND/TT.MM.JJJJ/BETRAG, separated by |',
    decode(value, at, scope) {
      const text = scope.mapper.textAt(value, at);
      // A malformed claim is reported and left out: the Mapper fails the message with every problem.
      return text.split(CLAIMS).flatMap((claim, i) => {
        const parts = claim.split(PARTS).map((p) => p.trim());
        if (parts.length !== 3) {
          scope.mapper.fail(
            at.nativeAt(`[${i}]`),
            `${at.pointer}/${i}`,
            `${JSON.stringify(claim)} is not GRUND/TT.MM.JJJJ/BETRAG`,
          );
          return [];
        }
        return [
          {
            grund: grund.decode(parts[0], partAt(at, i, 'grund'), scope) as Claim['grund'],
            bescheiddatum: datum.decode(parts[1], partAt(at, i, 'bescheiddatum'), scope)!,
            offenerBetrag: betrag.decode(parts[2], partAt(at, i, 'offenerBetrag'), scope)!,
          },
        ];
      });
    },
    encode(claims, at, scope) {
      return claims
        .map((c, i) =>
          [
            grund.encode(c.grund, partAt(at, i, 'grund'), scope),
            datum.encode(c.bescheiddatum, partAt(at, i, 'bescheiddatum'), scope),
            betrag.encode(c.offenerBetrag, partAt(at, i, 'offenerBetrag'), scope),
          ].join(PARTS),
        )
        .join(CLAIMS);
    },
  };
}
