/**
 * XMeld 25.05 ↔ 25.11: both directions on the examples and on random messages (fast-check), the
 * converted documents validate against the target XSD with xmllint, and a conversion that would lose
 * data is refused with GW_ERR_CONVERSION_LOSSY naming every field — by the converter, and by the
 * bridge's own round-trip check when a converter forgets something.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MessageTypeSpec, XoevMessage } from '../catalogue.ts';
import { catalogue } from '../index.ts';
import { convertChecked, versionBridge } from '../version-bridge.ts';
import type { Converter } from '../xoev/conversion.ts';
import { messageArbitrary } from '../xoev/testing/arbitrary.ts';
import { caught, exampleMessage, expectAllValid, versionOf } from '../xoev/testing/helpers.ts';
import { toCanonicalXml, validateMessage } from '../xoev/xml-codec.ts';
import type { Rueckmeldung0201 as R2505 } from './25.05/schema.ts';
import type { Rueckmeldung0201 as R2511 } from './25.11/schema.ts';
import { xmeld2505To2511, xmeld2511To2505 } from './bridge-25.05-25.11.ts';

const V2505 = catalogue.get('xmeld', '25.05')!;
const V2511 = catalogue.get('xmeld', '25.11')!;
const in2511 = (s: MessageTypeSpec) => catalogue.messageType('xmeld', '25.11', s.name)!;
const in2505 = (s: MessageTypeSpec) => catalogue.messageType('xmeld', '25.05', s.name)!;
const R0201_2505 = in2505({ name: 'rueckmeldung.anmeldunginland.0201' } as MessageTypeSpec);
const R0201_2511 = in2511(R0201_2505);
const RUNS = 150;

/** What 25.05 cannot carry, decided independently of the converter. */
function representableIn2505(spec: MessageTypeSpec, m: XoevMessage): boolean {
  if (spec.code !== '0201') return true;
  const r = m as unknown as R2511;
  return (
    r['wohnung.neu'].einzugsdatum === undefined &&
    r['wohnung.bisher'].einzugsdatum === undefined &&
    r.person.staatsangehoerigkeit.length <= 3 &&
    r.person.familienstand.code !== 'EA'
  );
}

describe('xmeld 25.05 → 25.11 (up)', () => {
  it('maps the 0201 example field by field and keeps the id', () => {
    const source = exampleMessage(R0201_2505) as unknown as R2505;
    const { to, message } = versionBridge.convert(R0201_2505, source as unknown as XoevMessage, '25.11');
    const m = message as unknown as R2511;
    expect(to).toBe(R0201_2511);
    expect(m.version).toBe('25.11');
    expect(m['nachrichtenkopf.g2g']).toEqual({
      ...source['nachrichtenkopf.g2g'],
      'identifikation.nachricht': {
        ...source['nachrichtenkopf.g2g']['identifikation.nachricht'],
        nachrichtentyp: {
          ...source['nachrichtenkopf.g2g']['identifikation.nachricht'].nachrichtentyp,
          listVersionID: '25.11',
        },
      },
    });
    expect(m.person.geburt).toEqual({
      datum: source.person.geburtsdatum,
      geburtsort: source.person.geburtsort,
      geburtsstaat: source.person.geburtsstaat,
    });
    expect(m.person.familienstand).toEqual({ ...source.person.familienstand, listVersionID: '2' });
    expect(m['wohnung.neu'].anschrift.wohnort).toBe(source['wohnung.neu'].anschrift.ort);
    expect(m['wohnung.neu']).not.toHaveProperty('einzugsdatum');
    expect(m['wohnung.neu'].anschrift).not.toHaveProperty('ort');
  });

  it('converts every 25.05 example; the results validate against the 25.11 XSD', () => {
    const docs = V2505.messageTypes.map((spec) => {
      const { to, message } = versionBridge.convert(spec, exampleMessage(spec), '25.11');
      return toCanonicalXml(to, message);
    });
    expectAllValid(V2511.xsdPath, docs);
  });

  it.each(V2505.messageTypes.map((s) => [s.name, s] as const))(
    'random %s: up and back down gives the original, and the 25.11 document passes xmllint',
    (_name, spec) => {
      const docs: string[] = [];
      fc.assert(
        fc.property(messageArbitrary(spec), (generated) => {
          // fast-check builds null-prototype objects; the codec and zod return plain ones.
          const message = validateMessage(spec, generated);
          const up = versionBridge.convert(spec, message, '25.11');
          const down = versionBridge.convert(up.to, up.message, '25.05');
          expect(down.message).toStrictEqual(message);
          docs.push(toCanonicalXml(up.to, up.message));
        }),
        { numRuns: RUNS },
      );
      expectAllValid(V2511.xsdPath, docs);
    },
  );
});

describe('xmeld 25.11 → 25.05 (down)', () => {
  it('converts the 25.11 examples 25.05 can carry; the results validate against the 25.05 XSD', () => {
    const docs = V2511.messageTypes
      .filter((spec) => spec.code !== '0201')
      .map((spec) => {
        const { to, message } = versionBridge.convert(spec, exampleMessage(spec), '25.05');
        expect(message.version).toBe('25.05');
        return toCanonicalXml(to, message);
      });
    expect(docs).toHaveLength(3);
    expectAllValid(V2505.xsdPath, docs);
  });

  it.each(V2511.messageTypes.map((s) => [s.name, s] as const))(
    'random %s: converts exactly when 25.05 can carry it, and then back up gives the original',
    (_name, spec) => {
      const docs: string[] = [];
      let refused = 0;
      fc.assert(
        fc.property(messageArbitrary(spec), (generated) => {
          const message = validateMessage(spec, generated);
          if (representableIn2505(spec, message)) {
            const down = versionBridge.convert(spec, message, '25.05');
            expect(versionBridge.convert(down.to, down.message, '25.11').message).toStrictEqual(message);
            docs.push(toCanonicalXml(down.to, down.message));
          } else {
            refused++;
            const error = caught(() => versionBridge.convert(spec, message, '25.05'));
            expect(error.code).toBe('GW_ERR_CONVERSION_LOSSY');
            expect(error.errors.length).toBeGreaterThan(0);
          }
        }),
        { numRuns: RUNS },
      );
      expect(docs.length).toBeGreaterThan(0);
      if (spec.code === '0201') expect(refused).toBeGreaterThan(0);
      expectAllValid(V2505.xsdPath, docs);
    },
  );
});

describe('lossy conversions are refused, never silently dropped', () => {
  const example2511 = () => structuredClone(exampleMessage(R0201_2511)) as unknown as R2511;
  const convertDown = (m: R2511) =>
    caught(() => versionBridge.convert(R0201_2511, m as unknown as XoevMessage, '25.05'));

  it('refuses a move-in date, naming both dwellings', () => {
    const error = convertDown(example2511());
    expect(error.code).toBe('GW_ERR_CONVERSION_LOSSY');
    expect(error.status).toBe(422);
    expect(error.message).toContain('without losing data');
    expect(error.errors.map((e) => e.pointer)).toEqual([
      '/wohnung.neu/einzugsdatum',
      '/wohnung.bisher/einzugsdatum',
    ]);
  });

  it('refuses a fourth nationality and Familienstand EA, with pointers into the 25.11 message', () => {
    const m = example2511();
    delete m['wohnung.neu'].einzugsdatum;
    delete m['wohnung.bisher'].einzugsdatum;
    const staat = m.person.staatsangehoerigkeit[0]!;
    m.person.staatsangehoerigkeit = [
      staat,
      { ...staat, code: '129' },
      { ...staat, code: '137' },
      { ...staat, code: '148' },
    ];
    m.person.familienstand = { ...m.person.familienstand, code: 'EA' };
    const error = convertDown(m);
    expect(error.errors.map((e) => e.pointer)).toEqual([
      '/person/staatsangehoerigkeit/3',
      '/person/familienstand/code',
    ]);
    m.person.staatsangehoerigkeit.pop();
    m.person.familienstand.code = 'GS';
    expect(versionBridge.convert(R0201_2511, m as unknown as XoevMessage, '25.05').message.version).toBe(
      '25.05',
    );
  });

  it('the round-trip check refuses a converter that forgets a field', () => {
    const forgetful: Converter = {
      ...xmeld2505To2511,
      convert(message, spec) {
        const out = xmeld2505To2511.convert(message, spec) as R2511;
        delete out.person.doktorgrad;
        return out;
      },
    };
    const source = exampleMessage(R0201_2505);
    expect((source as unknown as R2505).person.doktorgrad).toBeDefined();
    const error = caught(() => convertChecked(forgetful, xmeld2511To2505, R0201_2505, source));
    expect(error.code).toBe('GW_ERR_CONVERSION_LOSSY');
    expect(error.errors).toEqual([
      { pointer: '/person/doktorgrad', detail: expect.stringContaining('25.11') },
    ]);
  });

  it('the target validation refuses a converter that leaves a 25.05 name in place', () => {
    const careless: Converter = {
      ...xmeld2505To2511,
      convert(message, spec) {
        const out = xmeld2505To2511.convert(message, spec) as R2511;
        const a = out['wohnung.neu'].anschrift as unknown as Record<string, unknown>;
        a.ort = a.wohnort;
        delete a.wohnort;
        return out;
      },
    };
    const error = caught(() =>
      convertChecked(careless, xmeld2511To2505, R0201_2505, exampleMessage(R0201_2505)),
    );
    expect(error.code).toBe('GW_ERR_CONVERSION_LOSSY');
    expect(error.errors.map((e) => e.pointer)).toContain('/wohnung.neu/anschrift/wohnort');
  });
});

describe('the bridge picks a converter for what the receiver accepts', () => {
  it('lists both directions', () => {
    expect(versionBridge.converters().map((c) => `${c.standard} ${c.from}→${c.to}`)).toEqual([
      'xmeld 25.05→25.11',
      'xmeld 25.11→25.05',
    ]);
  });

  it('converts only when needed, and refuses when nothing bridges', () => {
    const m = exampleMessage(R0201_2505);
    expect(versionBridge.bridge(R0201_2505, m, ['25.05', '25.11'])).toBeUndefined();
    expect(versionBridge.bridge(R0201_2505, m, ['25.11'])?.to).toBe(R0201_2511);
    expect(caught(() => versionBridge.bridge(R0201_2505, m, ['24.11'])).code).toBe(
      'GW_ERR_VERSION_NOT_ACCEPTED',
    );
    const kfz = catalogue.byId('xkfz:1.4:fahrzeug.zulassung.1001')!;
    expect(versionBridge.canConvert(kfz, '1.3')).toBe(false);
    expect(caught(() => versionBridge.bridge(kfz, exampleMessage(kfz), ['1.3'])).message).toContain(
      'no converter',
    );
    expect(versionOf(R0201_2505)).toBe(V2505);
  });
});
