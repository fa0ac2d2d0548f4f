/**
 * The adapter test kit: fixtures. An adapter folder ships fixture cases:
 *   fixtures/<case>.native.<ext>        what the system sends (or is sent)
 *   fixtures/<case>.standard.xml        the standard message it corresponds to (unsigned, any indentation)
 *   fixtures/<case>.standard.<n>.xml    instead, for a batch: the n-th message the native file carries
 *   fixtures/<case>.encoded.<ext>       exactly what encode(standard) must produce
 * A case has a .native file (the sending direction), an .encoded file (the receiving direction:
 * the standard message may come from another system), or both. The kit checks
 * decode(native) = standard(s) and, where the adapter encodes that message type,
 * decode(encode(standard)) = standard (nothing lost on the way out); with an .encoded file,
 * encode(standard) byte for byte. Deterministic: the clock and the id source are
 * taken from the standard files. The property-based round trip is in ./roundtrip.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parseXmlSafely } from '../../gateway/xml/safe-parse.ts';
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import { catalogue } from '../../standards/index.ts';
import { messageId } from '../../standards/xoev/message.ts';
import { fromElement, validateMessage } from '../../standards/xoev/xml-codec.ts';
import { type Adapter, type AdapterContext, handlesType } from './adapter.ts';

export interface FixtureCase {
  name: string;
  nativeFile?: string;
  /** One file, or the messages of a batch in order. */
  standardFiles: string[];
  encodedFile?: string;
}

export type Check = 'decode' | 'encode-roundtrip' | 'encode-exact' | 'property-roundtrip';

export interface FixtureResult {
  name: string;
  check: Check;
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

/** The media type without parameters, as the gateway hands it to decode(). */
export function mediaType(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

export function contentTypeOf(file: string, adapter: Adapter): string {
  const ext = file.slice(file.lastIndexOf('.') + 1).toLowerCase();
  const guess = CONTENT_TYPES[ext];
  return guess && adapter.spec.decodes.contentTypes.includes(guess)
    ? guess
    : adapter.spec.decodes.contentTypes[0]!;
}

export function listFixtures(adapterDir: string): FixtureCase[] {
  const dir = path.join(adapterDir, 'fixtures');
  const files = readdirSync(dir).sort();
  const standards = new Map<string, { n: number; file: string }[]>();
  for (const f of files) {
    const m = /^(.+)\.standard(?:\.(\d+))?\.xml$/.exec(f);
    if (!m) continue;
    const list = standards.get(m[1]!) ?? [];
    list.push({ n: m[2] ? Number(m[2]) : 0, file: path.join(dir, f) });
    standards.set(m[1]!, list);
  }
  return [...standards.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, list]) => {
      const native = files.find((f) => f.startsWith(`${name}.native.`));
      const encoded = files.find((f) => f.startsWith(`${name}.encoded.`));
      if (!native && !encoded)
        throw new Error(
          `fixture ${name}: ${name}.standard*.xml has neither a .native.* nor an .encoded.* partner`,
        );
      return {
        name,
        nativeFile: native ? path.join(dir, native) : undefined,
        standardFiles: list.sort((a, b) => a.n - b.n).map((s) => s.file),
        encodedFile: encoded ? path.join(dir, encoded) : undefined,
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

/**
 * A context whose clock and id source reproduce the expected messages: now() is the first one's
 * erstellungszeitpunkt, newUUID() hands out their ids in order.
 */
export function fixtureContext(...expected: XoevMessage[]): AdapterContext {
  let next = 0;
  return {
    newUUID: () => messageId(expected[Math.min(next++, expected.length - 1)]!),
    now: () => new Date(expected[0]!['nachrichtenkopf.g2g']['identifikation.nachricht'].erstellungszeitpunkt),
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

/** The first difference between two messages as `pointer: got …, expected …`; '' when equal. */
export function difference(actualValue: unknown, expectedValue: unknown, at = ''): string {
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

/** Decodes and validates like the gateway's ingress does. */
export function decodeAll(adapter: Adapter, body: Buffer, contentType: string, context: AdapterContext) {
  return adapter
    .decode({ body, contentType: mediaType(contentType) }, context)
    .map((d) => ({ spec: d.spec, message: validateMessage(d.spec, d.message), nativeRef: d.nativeRef }));
}

function compare(
  got: { spec: MessageTypeSpec; message: XoevMessage }[],
  expected: { spec: MessageTypeSpec; message: XoevMessage }[],
): string {
  if (got.length !== expected.length) return `decoded ${got.length} messages, expected ${expected.length}`;
  for (let i = 0; i < got.length; i++) {
    const where = expected.length > 1 ? `message ${i + 1}: ` : '';
    if (got[i]!.spec.id !== expected[i]!.spec.id)
      return `${where}type ${got[i]!.spec.id}, expected ${expected[i]!.spec.id}`;
    const d = difference(got[i]!.message, expected[i]!.message);
    if (d) return `${where}${d}`;
  }
  return '';
}

function attempt(name: string, check: Check, run: () => string): FixtureResult {
  try {
    const detail = run();
    return { name, check, ok: !detail, detail: detail || undefined };
  } catch (error) {
    return { name, check, ok: false, detail: (error as Error).message };
  }
}

export function runFixture(adapter: Adapter, fixture: FixtureCase): FixtureResult[] {
  const expected = fixture.standardFiles.map(readStandard);
  const context = fixtureContext(...expected.map((e) => e.message));
  const results: FixtureResult[] = [];
  const nativeFile = fixture.nativeFile;
  if (nativeFile) {
    results.push(
      attempt(fixture.name, 'decode', () =>
        compare(
          decodeAll(adapter, readFileSync(nativeFile), contentTypeOf(nativeFile, adapter), context),
          expected,
        ),
      ),
    );
    expected.forEach((one, i) => {
      if (!handlesType(adapter.spec.encodes.messageTypes, one.spec)) return;
      const label = expected.length > 1 ? `${fixture.name} #${i + 1}` : fixture.name;
      results.push(
        attempt(label, 'encode-roundtrip', () => {
          const ctx = fixtureContext(one.message);
          const native = adapter.encode(one.message, one.spec, ctx);
          return compare(decodeAll(adapter, native.body, native.contentType, ctx), [one]);
        }),
      );
    });
  }
  if (fixture.encodedFile) {
    results.push(
      attempt(fixture.name, 'encode-exact', () => {
        if (expected.length !== 1) return 'an .encoded fixture needs exactly one standard message';
        const one = expected[0]!;
        const got = adapter.encode(one.message, one.spec, fixtureContext(one.message)).body;
        const want = readFileSync(fixture.encodedFile!);
        if (got.equals(want)) return '';
        let at = 0;
        while (at < got.length && got[at] === want[at]) at++;
        return `encode differs from ${path.basename(fixture.encodedFile!)} at byte ${at}: got ${JSON.stringify(
          got.subarray(Math.max(0, at - 20), at + 20).toString('latin1'),
        )}, expected ${JSON.stringify(want.subarray(Math.max(0, at - 20), at + 20).toString('latin1'))}`;
      }),
    );
  }
  return results;
}

export function runAdapterFixtures(adapter: Adapter, adapterDir: string): FixtureResult[] {
  return listFixtures(adapterDir).flatMap((fixture) => runFixture(adapter, fixture));
}
