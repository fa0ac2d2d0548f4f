import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { contractsWith, tempDir } from '../../test/support/gateway.ts';
import { REPO_ROOT } from '../config/load.ts';
import { Contracts } from './contracts.ts';
import { Directory } from './directory.ts';

const contractsDir = path.join(REPO_ROOT, 'contracts');

describe('directory', () => {
  const directory = Directory.fromFile(path.join(contractsDir, 'directory.yaml'));

  it('finds the system serving an authority by its DVDV key', () => {
    expect(directory.systemFor('ags:15003000')?.id).toBe('st-melde');
    expect(directory.systemFor('ags:14612000')?.id).toBe('sn-melde');
  });

  it('denies by default: an authority no system serves has no route', () => {
    expect(directory.systemFor('ags:09162000')).toBeUndefined();
    expect(directory.systemFor('dvdv:15003000')).toBeUndefined();
    expect(directory.serves('sn-melde', 'ags:15003000')).toBe(false);
  });

  it('prefers the most specific pattern', () => {
    const d = new Directory([
      ...directory.systems,
      { ...directory.system('st-melde')!, id: 'md-melde', serves: ['ags:15003000'] },
    ]);
    expect(d.systemFor('ags:15003000')?.id).toBe('md-melde');
    expect(d.systemFor('ags:15002000')?.id).toBe('st-melde');
  });

  it('refuses an invalid directory file, naming the field', () => {
    const dir = contractsWith((systems) =>
      systems.map((s) => ({ ...s, delivery: { mode: 'push', url: 'http://insecure.example/' } }) as never),
    );
    expect(() => Directory.fromFile(path.join(dir, 'directory.yaml'))).toThrow(/systems\/0\/delivery\/url/);
  });
});

describe('contracts', () => {
  const contracts = Contracts.fromDirectory(contractsDir);
  const q = {
    senderSystem: 'sn-melde',
    senderAuthority: 'ags:14612000',
    receiverAuthority: 'ags:15003000',
    standard: 'xmeld',
    messageType: 'rueckmeldung.anmeldunginland.0201',
  };

  it('allows what a rule names', () => {
    expect(contracts.allowing(q)?.id).toBe('xmeld-rueckmeldung');
  });

  it('denies everything else', () => {
    expect(contracts.allowing({ ...q, receiverAuthority: 'ags:14713000' })).toBeUndefined();
    expect(contracts.allowing({ ...q, senderSystem: 'th-melde' })).toBeUndefined();
    expect(contracts.allowing({ ...q, senderAuthority: 'ags:15002000' })).toBeUndefined();
    expect(contracts.allowing({ ...q, messageType: 'quittung.0020' })).toBeUndefined();
    expect(contracts.allowing({ ...q, standard: 'xkfz' })).toBeUndefined();
  });

  it('refuses a contract file with an unknown field', () => {
    const dir = tempDir('contracts');
    writeFileSync(
      path.join(dir, 'bad.contract.yaml'),
      'id: bad\ntitle: Bad\nstandard: xmeld\nrules: []\nrequirements: { retentionDays: 1 }\nextra: 1\n',
    );
    expect(() => Contracts.fromDirectory(dir)).toThrow(/bad.contract.yaml/);
  });
});
