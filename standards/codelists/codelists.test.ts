/**
 * The shipped code lists: well-formed, every file used by a catalogued version, and the AGS excerpt
 * covers what standards/codelists/README.md promises (every kreisfreie Stadt and a town in every
 * Landkreis of Sachsen, Sachsen-Anhalt and Thüringen).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { catalogue } from '../index.ts';
import type { CodeListFile } from '../xoev/codelist.ts';

const DIR = path.dirname(fileURLToPath(import.meta.url));
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.json'));

describe('code list files', () => {
  it.each(FILES)('%s is a versioned list with unique codes', (file) => {
    const list = JSON.parse(readFileSync(path.join(DIR, file), 'utf8')) as CodeListFile;
    expect(Object.keys(list)).toEqual(['listURI', 'listVersionID', 'name', 'herausgeber', 'codes']);
    expect(list.listURI).toMatch(/^urn:[a-z0-9-]+:/);
    // The version is part of the file name: two versions of a list ship side by side.
    expect(file.endsWith(`-${list.listVersionID}.json`)).toBe(true);
    expect(list.codes.length).toBeGreaterThan(0);
    expect(new Set(list.codes.map((c) => c.code)).size).toBe(list.codes.length);
    for (const c of list.codes) expect(c.name.length).toBeGreaterThan(0);
  });

  it('every file is used by a catalogued version, and every version lists its code lists', () => {
    const used = new Set(catalogue.standards().flatMap((v) => v.codeLists.map((l) => `${l.id}.json`)));
    expect([...used].sort()).toEqual([...FILES].sort());
  });
});

describe('the AGS excerpt', () => {
  const ags = catalogue.get('xmeld', '25.11')!.codeLists.find((l) => l.id === 'ags-2025-06-30')!;
  const codes = ags.codes.map((c) => c.code);

  it('holds eight-digit keys of Sachsen (14), Sachsen-Anhalt (15) and Thüringen (16), sorted', () => {
    for (const c of codes) expect(c).toMatch(/^1[456]\d{6}$/);
    expect(codes).toEqual([...codes].sort());
  });

  it('has every kreisfreie Stadt', () => {
    expect(codes).toEqual(
      expect.arrayContaining([
        ...['14511000', '14612000', '14713000'],
        ...['15001000', '15002000', '15003000'],
        ...['16051000', '16052000', '16053000', '16054000', '16055000'],
      ]),
    );
  });

  it('has a town (the Kreisstadt) in every Landkreis', () => {
    const kreise = {
      SN: ['14521', '14522', '14523', '14524', '14625', '14626', '14627', '14628', '14729', '14730'],
      ST: ['15081', '15082', '15083', '15084', '15085', '15086', '15087', '15088', '15089', '15090', '15091'],
      TH: [
        ...['16061', '16062', '16063', '16064', '16065', '16066', '16067', '16068', '16069'],
        ...['16070', '16071', '16072', '16073', '16074', '16075', '16076', '16077'],
      ],
    };
    for (const kreis of Object.values(kreise).flat()) {
      expect(
        codes.some((c) => c.startsWith(kreis)),
        kreis,
      ).toBe(true);
    }
    expect(codes.length).toBeGreaterThanOrEqual(100);
  });
});
