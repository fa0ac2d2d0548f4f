/**
 * Writes the whole catalogue to a directory, the way a vendor or an XRepository mirror wants it:
 *
 *   <dir>/index.json                              versions, message types, files, converters
 *   <dir>/<standard>/<version>/<name>.xsd         the XSD of each version
 *   <dir>/<standard>/<version>/examples/<type>.xml one example instance per message type
 *   <dir>/codelists/<id>.json                     every code list version, once
 *
 * Existing files with the same names are overwritten; nothing else in <dir> is touched.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { catalogue } from './index.ts';
import { versionBridge } from './version-bridge.ts';
import type { CodeList } from './xoev/codelist.ts';

export interface ExportResult {
  /** Written files, relative to the directory, in the order written. */
  files: string[];
}

export function exportCatalogue(dir: string): ExportResult {
  const files: string[] = [];
  const write = (relative: string, content: string) => {
    mkdirSync(path.dirname(path.join(dir, relative)), { recursive: true });
    writeFileSync(path.join(dir, relative), content);
    files.push(relative);
  };
  const copy = (relative: string, from: string) => {
    mkdirSync(path.dirname(path.join(dir, relative)), { recursive: true });
    copyFileSync(from, path.join(dir, relative));
    files.push(relative);
  };

  const lists = new Map<string, CodeList>();
  const versions = catalogue.standards().map((v) => {
    const folder = path.posix.join(v.standard, v.version);
    const xsd = path.posix.join(folder, path.basename(v.xsdPath));
    copy(xsd, v.xsdPath);
    const messageTypes = v.messageTypes.map((t) => {
      const example = path.posix.join(folder, 'examples', `${t.name}.xml`);
      copy(example, path.join(v.examplesDir, `${t.name}.xml`));
      return { name: t.name, code: t.code, id: t.id, example };
    });
    for (const l of v.codeLists) lists.set(l.id, l);
    return {
      standard: v.standard,
      title: v.title,
      version: v.version,
      namespace: v.namespace,
      description: v.description,
      xsd,
      messageTypes,
      codeLists: v.codeLists.map((l) => `codelists/${l.id}.json`),
    };
  });
  for (const l of lists.values()) {
    const { listURI, listVersionID, name, herausgeber, codes } = l;
    write(
      `codelists/${l.id}.json`,
      `${JSON.stringify({ listURI, listVersionID, name, herausgeber, codes }, null, 2)}\n`,
    );
  }
  write('index.json', `${JSON.stringify({ versions, converters: versionBridge.converters() }, null, 2)}\n`);
  return { files };
}
