/**
 * The adapter test kit. An adapter folder ships fixture pairs:
 *   fixtures/<case>.native.<ext>     what the system sends or expects
 *   fixtures/<case>.standard.xml     the standard message it corresponds to (unsigned, any indentation)
 * For each pair the kit checks decode(native) = standard and, where the adapter encodes that message
 * type, decode(encode(standard)) = standard (nothing lost on the way out). Deterministic: the clock
 * and the id source are taken from the standard file. Used by `gw adapter test` and by vitest.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parseXmlSafely } from '../../gateway/xml/safe-parse.ts';
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import { catalogue } from '../../standards/index.ts';
import { messageId } from '../../standards/xoev/message.ts';
import { fromElement, validateMessage } from '../../standards/xoev/xml-codec.ts';
import type { Adapter, AdapterContext } from './adapter.ts';

export interface FixtureCase {
  name: string;
  nativeFile: string;
  standardFile: string;
}

export interface FixtureResult {
  name: string;
  check: 'decode' | 'encode-roundtrip';
  ok: boolean;
  detail?: string;
}

const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json',
  xml: 'application/xml',
  csv: 'text/csv',
  txt: 'text/plain',
  dat: 'text/plain',
};

export function contentTypeOf(file: string, adapter: Adapter): string {
  const ext = file.slice(file.lastIndexOf('.') + 1).toLowerCase();
  const guess = CONTENT_TYPES[ext];
  return guess && adapter.spec.decodes.contentTypes.includes(guess)
    ? guess
    : adapter.spec.decodes.contentTypes[0]!;
}

export function listFixtures(adapterDir: string): FixtureCase[] {
  const dir = path.join(adapterDir, 'fixtures');
  const files = readdirSync(dir);
  return files
    .filter((f) => f.endsWith('.standard.xml'))
    .map((f) => f.slice(0, -'.standard.xml'.length))
    .sort()
    .map((name) => {
      const native = files.find((f) => f.startsWith(`${name}.native.`));
      if (!native) throw new Error(`fixture ${name}: ${name}.standard.xml has no ${name}.native.* partner`);
      return {
        name,
        nativeFile: path.join(dir, native),
        standardFile: path.join(dir, `${name}.standard.xml`),
      };
    });
}

export function readStandard(file: string): { spec: MessageTypeSpec; message: XoevMessage } {
  const root = parseXmlSafely(readFileSync(file, 'utf8')).documentElement!;
  const spec = catalogue.byRoot(root.namespaceURI, root.localName ?? '');
  if (!spec)
    throw new Error(`${file}: {${root.namespaceURI}}${root.localName} is not a catalogued message type`);
  return { spec, message: validateMessage(spec, fromElement(spec, root)) };
}

/** A context whose clock and id source reproduce the expected standard message. */
export function fixtureContext(expected: XoevMessage): AdapterContext {
  return {
    newUUID: () => messageId(expected),
    now: () => new Date(expected['nachrichtenkopf.g2g']['identifikation.nachricht'].erstellungszeitpunkt),
    messageType(standard, version, name) {
      const spec = catalogue.messageType(standard, version, name);
      if (!spec) throw new Error(`${standard} ${version} ${name} is not in the catalogue`);
      return spec;
    },
  };
}

/** Absent and undefined-valued fields mean the same in a message (neither is serialized). */
function plain(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function difference(actualValue: unknown, expectedValue: unknown, at = ''): string {
  const actual = plain(actualValue);
  const expected = plain(expectedValue);
  if (isDeepStrictEqual(actual, expected)) return '';
  if (actual && expected && typeof actual === 'object' && typeof expected === 'object') {
    const keys = new Set([...Object.keys(actual), ...Object.keys(expected)]);
    for (const key of keys) {
      const d = difference(
        (actual as Record<string, unknown>)[key],
        (expected as Record<string, unknown>)[key],
        `${at}/${key}`,
      );
      if (d) return d;
    }
  }
  return `${at || '/'}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`;
}

function decodeOne(adapter: Adapter, body: Buffer, contentType: string, context: AdapterContext) {
  const decoded = adapter.decode({ body, contentType }, context);
  if (decoded.length !== 1) throw new Error(`decoded ${decoded.length} messages, expected 1`);
  const [d] = decoded;
  return { spec: d!.spec, message: validateMessage(d!.spec, d!.message) };
}

export function runFixture(adapter: Adapter, fixture: FixtureCase): FixtureResult[] {
  const results: FixtureResult[] = [];
  const expected = readStandard(fixture.standardFile);
  const context = fixtureContext(expected.message);
  const contentType = contentTypeOf(fixture.nativeFile, adapter);
  try {
    const got = decodeOne(adapter, readFileSync(fixture.nativeFile), contentType, context);
    const detail =
      got.spec.id !== expected.spec.id
        ? `type ${got.spec.id}, expected ${expected.spec.id}`
        : difference(got.message, expected.message);
    results.push({ name: fixture.name, check: 'decode', ok: !detail, detail: detail || undefined });
  } catch (error) {
    results.push({ name: fixture.name, check: 'decode', ok: false, detail: (error as Error).message });
  }
  if (adapter.spec.encodes.messageTypes.includes(expected.spec.name)) {
    try {
      const native = adapter.encode(expected.message, expected.spec, context);
      const back = decodeOne(adapter, native.body, native.contentType, context);
      const detail = difference(back.message, expected.message);
      results.push({
        name: fixture.name,
        check: 'encode-roundtrip',
        ok: !detail,
        detail: detail || undefined,
      });
    } catch (error) {
      results.push({
        name: fixture.name,
        check: 'encode-roundtrip',
        ok: false,
        detail: (error as Error).message,
      });
    }
  }
  return results;
}

export function runAdapterFixtures(adapter: Adapter, adapterDir: string): FixtureResult[] {
  return listFixtures(adapterDir).flatMap((fixture) => runFixture(adapter, fixture));
}
