import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../../../gateway/errors/catalogue.ts';
import type { Halter } from '../../../standards/xkfz/1.4/schema.ts';
import type { Rueckmeldung0201 } from '../../../standards/xmeld/25.11/schema.ts';
import { LISTS } from '../../../standards/xmeld/25.11/schema.ts';
import type { AdapterContext } from '../adapter.ts';
import { jsonField } from '../formats/json.ts';
import { Mapper } from '../mapper.ts';
import { defineMapping, type NativeTree } from './define.ts';

type Person = Rueckmeldung0201['person'];
const context = {} as AdapterContext;

function decode<T>(mapping: { decode(n: NativeTree, s: never): T }, native: NativeTree) {
  const mapper = new Mapper();
  const value = mapping.decode(native, {
    mapper,
    context,
    nativeName: jsonField,
    pointerOf: (p: string) => p,
  } as never);
  return { value, errors: mapper.errors };
}

const person = defineMapping<Person>((f) => [
  f.split(['/familienname', '/vornamen'], 'NAME'),
  f.date('/geburt/datum', 'GEBDAT', 'compact'),
  f.text('/geburt/geburtsort', 'GEBORT'),
  f.code('/geschlecht', 'GESCHL', LISTS.geschlecht, { M: 'm', W: 'w' }),
  f.codes('/staatsangehoerigkeit', 'STAATEN', LISTS.staat, { separator: ',' }),
  f.code('/familienstand', 'FAMST', LISTS.familienstand),
  f.bool('/auskunftssperre', 'SPERRE', { true: ['J'], false: ['N'] }, { default: false }),
]);

describe('declarative mapping', () => {
  it('maps both ways: name splitting, compact dates, value maps, code lists in one field, defaults', () => {
    const native = {
      NAME: 'Nowak, Anna Lena',
      GEBDAT: '19880412',
      GEBORT: 'Halle',
      GESCHL: 'W',
      STAATEN: '000,152',
      FAMST: 'VH',
    };
    const { value, errors } = decode(person, native);
    expect(errors).toEqual([]);
    expect(value).toMatchObject({
      familienname: 'Nowak',
      vornamen: 'Anna Lena',
      geburt: { datum: '1988-04-12', geburtsort: 'Halle' },
      geschlecht: { code: 'w' },
      staatsangehoerigkeit: [{ code: '000' }, { code: '152' }],
      auskunftssperre: false,
    });
    expect(person.encode(value, { context, nativeName: (p) => p, pointerOf: (p) => p })).toEqual({
      ...native,
      SPERRE: 'N',
    });
  });

  it('collects every problem at once, each naming the native and the standard field', () => {
    const { errors } = decode(person, {
      NAME: 'Nowak',
      GEBDAT: '19880231',
      GESCHL: 'Q',
      STAATEN: '000,999',
      FAMST: 'VH',
      SPERRE: 'vielleicht',
    });
    expect(errors).toEqual([
      { nativeField: '$.NAME', pointer: '/vornamen', detail: 'expected two parts separated by ", "' },
      {
        nativeField: '$.GEBDAT',
        pointer: '/geburt/datum',
        detail: '"19880231" is not a date in the form JJJJMMTT',
      },
      { nativeField: '$.GEBORT', pointer: '/geburt/geburtsort', detail: 'is required' },
      expect.objectContaining({ nativeField: '$.GESCHL', pointer: '/geschlecht/code' }),
      expect.objectContaining({ nativeField: '$.STAATEN[1]', pointer: '/staatsangehoerigkeit/1/code' }),
      { nativeField: '$.SPERRE', pointer: '/auskunftssperre', detail: 'must be one of "J", "N"' },
    ]);
  });

  it('refuses to encode a code the system has no counterpart for, naming both fields', () => {
    const { value } = decode(person, {
      NAME: 'A, B',
      GEBDAT: '20000101',
      GEBORT: 'X',
      GESCHL: 'M',
      STAATEN: '000',
      FAMST: 'LD',
    });
    const divers = { ...value, geschlecht: { ...value.geschlecht, code: 'd' } };
    try {
      person.encode(divers, { context, nativeName: (p) => `field ${p}`, pointerOf: (p) => p });
      throw new Error('expected a GatewayError');
    } catch (error) {
      expect((error as GatewayError).code).toBe('GW_ERR_MAPPING_FAILED');
      expect((error as GatewayError).errors).toEqual([
        expect.objectContaining({ pointer: '/geschlecht/code', nativeField: 'field GESCHL' }),
      ]);
    }
  });

  it('maps an xs:choice by a kind field, and lists of objects with indexed names', () => {
    const halter = defineMapping<Halter>((f) => [
      f.choice('ART', {
        N: {
          pointer: '/natuerlichePerson',
          mapping: defineMapping<NonNullable<Halter['natuerlichePerson']>>((n) => [
            n.text('/familienname', 'NAME'),
            n.text('/vornamen', 'VORNAME'),
          ]),
        },
        J: {
          pointer: '/juristischePerson',
          mapping: defineMapping<NonNullable<Halter['juristischePerson']>>((j) => [j.text('/name', 'NAME')]),
        },
      }),
    ]);
    expect(decode(halter, { ART: 'J', NAME: 'Elbflorenz GmbH' }).value).toEqual({
      juristischePerson: { name: 'Elbflorenz GmbH' },
    });
    expect(decode(halter, { ART: 'X' }).errors[0]).toMatchObject({
      nativeField: '$.ART',
      detail: 'must be one of "N", "J"',
    });
    // A kind naming a property every object inherits is no alternative either.
    expect(decode(halter, { ART: 'toString' }).errors[0]).toMatchObject({
      nativeField: '$.ART',
      detail: 'must be one of "N", "J"',
    });

    const list = defineMapping<{ bezug: { lebensmonat: number; betrag: string }[] }>((f) => [
      f.each(
        '/bezug',
        'monate',
        defineMapping<{ lebensmonat: number; betrag: string }>((g) => [
          g.number('/lebensmonat', 'nr'),
          g.decimal('/betrag', 'euro', { decimalSeparator: ',', groupSeparator: '.' }),
        ]),
      ),
    ]);
    const { value, errors } = decode(list, {
      monate: [
        { nr: 1, euro: '1.624,35' },
        { nr: 'zwei', euro: '12,5' },
      ],
    });
    expect(errors).toEqual([
      {
        nativeField: '$.monate[1].nr',
        pointer: '/bezug/1/lebensmonat',
        detail: '"zwei" is not a number in the form 1234.56',
      },
    ]);
    expect(value.bezug[0]).toEqual({ lebensmonat: 1, betrag: '1624.35' });
    expect(value.bezug[1]!.betrag).toBe('12.50');
  });
});
