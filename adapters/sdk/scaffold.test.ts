/**
 * `gw adapter new` and `gw adapter test` as an integrator runs them (separate processes, a fresh
 * folder outside the repository): the scaffold passes its own kit out of the box, and a broken
 * fixture makes `gw adapter test` print the difference and exit 1.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../gateway/config/load.ts';

const GW = path.join(REPO_ROOT, 'bin/gw.js');

function gw(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GW, ...args], { cwd: REPO_ROOT, env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

// Each test starts the CLI as its own processes (tsx compiles on start): allow for a loaded machine.
describe('gw adapter new / gw adapter test', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-scaffold-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('scaffolds an adapter that passes its own test kit', async () => {
    const created = await gw([
      'adapter',
      'new',
      'bb-melde',
      '--dir',
      dir,
      '--title',
      'Meldewesen Brandenburg',
      '--land',
      'BB',
      '--type',
      'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
      'xkfz:1.4:fahrzeug.halterwechsel.1002',
      'xelterngeld:1.2:elterngeld.antrag.0101',
    ]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const source = readFileSync(path.join(dir, 'bb-melde/adapter.ts'), 'utf8');
    expect(source).toContain(
      "f.code('/person/geschlecht', 'person.geschlecht', XMELD_25_11.geschlecht, undefined)",
    );
    expect(source).toContain("f.each('/bezug', 'bezug', defineMapping<");

    const tested = await gw(['adapter', 'test', 'bb-melde', '--dir', dir, '--runs', '25']);
    expect(tested.stdout).toContain('all 9 checks passed');
    expect(tested.stdout).toMatch(
      /bb-melde\s+xelterngeld:1\.2:elterngeld\.antrag\.0101 ×25\s+property-roundtrip\s+ok/,
    );
    expect(tested.code).toBe(0);
  });

  it('fails with the first difference when a fixture and the mapping disagree', async () => {
    const file = path.join(dir, 'bb-melde/fixtures/rueckmeldung.anmeldunginland.0201.native.json');
    const native = JSON.parse(readFileSync(file, 'utf8'));
    native.person.familienname = 'Krüger';
    writeFileSync(file, JSON.stringify(native));
    const tested = await gw(['adapter', 'test', '--dir', dir, '--runs', '5']);
    expect(tested.code).toBe(1);
    expect(tested.stdout).toMatch(
      /rueckmeldung\.anmeldunginland\.0201\s+decode\s+FAILED: \/person\/familienname: got "Krüger", expected "/,
    );
    expect(tested.stdout).toContain('1 of 9 checks FAILED');
  });

  it('names the adapters it knows when asked for one it does not', async () => {
    const tested = await gw(['adapter', 'test', 'no-such-system', '--dir', dir]);
    expect(tested.code).toBe(1);
    expect(tested.stderr).toContain('no adapter no-such-system');
    expect(tested.stderr).toContain('found: bb-melde');
  });
});
