import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { catalogue } from '../../standards/index.ts';
import { fromElement, validateMessage } from '../../standards/xoev/xml-codec.ts';
import { REPO_ROOT } from '../config/load.ts';
import { parseXmlSafely } from '../xml/safe-parse.ts';
import { sealedMessage, UnreadableSealedMessage } from './sealed-message.ts';

const ADAPTERS = path.join(REPO_ROOT, 'adapters');
/** Every standard document the adapters ship as a fixture: all catalogued standards and versions. */
const STANDARD_DOCUMENTS = readdirSync(ADAPTERS, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => {
    const dir = path.join(ADAPTERS, d.name, 'fixtures');
    let files: string[] = [];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.standard.xml'));
    } catch {
      // An adapter without fixtures.
    }
    return files.map((f) => ({ name: `${d.name}/${f}`, xml: readFileSync(path.join(dir, f), 'utf8') }));
  });

function rootOf(xml: string) {
  const root = parseXmlSafely(xml).documentElement!;
  const spec = catalogue.byRoot(root.namespaceURI ?? '', root.localName ?? '')!;
  return { root, spec };
}

const SN_0201 = STANDARD_DOCUMENTS.find(
  (d) => d.name === 'sn-melde/0201-umzug-magdeburg-dresden.standard.xml',
)!;

describe('sealedMessage', () => {
  it('finds the fixtures', () => {
    expect(STANDARD_DOCUMENTS.length).toBeGreaterThan(10);
    expect(SN_0201).toBeDefined();
  });

  // Delivery no longer runs the schema over what it reads: that is only sound while the schema
  // hands back what it was given (no defaults, transforms or coercions added to a standard later).
  it.each(STANDARD_DOCUMENTS)('reads $name exactly as the validated message', ({ xml }) => {
    const { root, spec } = rootOf(xml);
    expect(sealedMessage(spec, root)).toStrictEqual(validateMessage(spec, fromElement(spec, root)));
  });

  it('refuses a document without the header fields the delivery stage routes and audits by', () => {
    for (const cut of [
      /<nachrichtenUUID>[^<]*<\/nachrichtenUUID>/,
      /<autor>[\s\S]*?<\/autor>/,
      /<leser>[\s\S]*?<\/leser>/,
    ]) {
      const xml = SN_0201.xml.replace(cut, '');
      expect(xml).not.toBe(SN_0201.xml);
      const { root, spec } = rootOf(xml);
      expect(() => sealedMessage(spec, root)).toThrow(UnreadableSealedMessage);
    }
  });

  it('refuses a header that names another message type than its root element', () => {
    const xml = SN_0201.xml.replace('<code>0201</code>', '<code>0203</code>');
    const { root, spec } = rootOf(xml);
    expect(() => sealedMessage(spec, root)).toThrow(/names another message type/);
  });

  it('refuses content outside the message type (an unknown element)', () => {
    const xml = SN_0201.xml.replace('<nachrichtenUUID>', '<extra>x</extra><nachrichtenUUID>');
    const { root, spec } = rootOf(xml);
    expect(() => sealedMessage(spec, root)).toThrow(UnreadableSealedMessage);
  });
});
