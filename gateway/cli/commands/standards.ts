/** `gw standards export <dir>`: every XSD, code list and example instance of the catalogue, for vendors. */
import path from 'node:path';
import { Command } from 'commander';
import { exportCatalogue } from '../../../standards/export.ts';

export function standardsExport(dir: string): void {
  const target = path.resolve(dir);
  const { files } = exportCatalogue(target);
  const count = (re: RegExp) => files.filter((f) => re.test(f)).length;
  process.stdout.write(
    `wrote ${count(/\.xsd$/)} XSDs, ${count(/^codelists\//)} code lists and ${count(/\/examples\//)} examples to ${target}\n`,
  );
}

export function standardsCommand(): Command {
  const standards = new Command('standards').description(
    'the standards catalogue (XÖV-style XSDs, code lists)',
  );
  standards
    .command('export')
    .description('write every XSD, code list and example instance (and an index.json) to a directory')
    .argument('<dir>', 'target directory (created if missing)')
    .action((dir: string) => standardsExport(dir));
  return standards;
}
