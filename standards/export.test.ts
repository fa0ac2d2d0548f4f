/**
 * `gw standards export <dir>` writes every XSD, code list and example; the exported examples validate
 * against the exported XSDs with xmllint, and the exported code lists are the catalogue's.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../gateway/config/load.ts';
import { tempDir } from '../test/support/gateway.ts';
import { exportCatalogue } from './export.ts';
import { catalogue } from './index.ts';
import { expectAllValid } from './xoev/testing/helpers.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function fresh(): string {
  const d = tempDir('export');
  dirs.push(d);
  return d;
}

describe('exportCatalogue', () => {
  it('writes every XSD, example and code list, and an index that names them', () => {
    const dir = fresh();
    const { files } = exportCatalogue(dir);
    const versions = catalogue.standards();
    const lists = new Map(versions.flatMap((v) => v.codeLists.map((l) => [l.id, l] as const)));
    expect(files.filter((f) => f.endsWith('.xsd'))).toHaveLength(versions.length);
    expect(files.filter((f) => f.includes('/examples/'))).toHaveLength(
      versions.reduce((n, v) => n + v.messageTypes.length, 0),
    );
    expect(readdirSync(path.join(dir, 'codelists')).sort()).toEqual(
      [...lists.keys()].map((id) => `${id}.json`).sort(),
    );
    for (const [id, list] of lists) {
      const written = JSON.parse(readFileSync(path.join(dir, 'codelists', `${id}.json`), 'utf8'));
      expect(written).toEqual({
        listURI: list.listURI,
        listVersionID: list.listVersionID,
        name: list.name,
        herausgeber: list.herausgeber,
        codes: list.codes,
      });
    }
    const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'));
    expect(
      index.versions.map((v: { standard: string; version: string }) => `${v.standard} ${v.version}`),
    ).toEqual(versions.map((v) => `${v.standard} ${v.version}`));
    for (const v of index.versions as {
      xsd: string;
      messageTypes: { example: string }[];
      codeLists: string[];
    }[]) {
      for (const f of [v.xsd, ...v.messageTypes.map((t) => t.example), ...v.codeLists])
        expect(files).toContain(f);
      expectAllValid(
        path.join(dir, v.xsd),
        v.messageTypes.map((t) => readFileSync(path.join(dir, t.example), 'utf8')),
      );
    }
    expect(index.converters).toHaveLength(2);
  });

  it('runs as `gw standards export <dir>`', () => {
    const dir = fresh();
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin/gw.js'), 'standards', 'export', dir], {
      encoding: 'utf8',
      cwd: REPO_ROOT,
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wrote 5 XSDs, 27 code lists and 19 examples to /);
    expect(readdirSync(path.join(dir, 'xkfz', '1.4', 'examples'))).toHaveLength(4);
  });
});
