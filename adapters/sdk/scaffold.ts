/**
 * `gw adapter new <id>`: writes a working adapter folder — adapter.ts (spec, JSON format, one
 * declarative mapping per message type with a rule for every field of the standard), fixtures and
 * the one-line test — that passes the test kit as it is. The integrator then renames the native
 * side (paths, formats, code tables) to what the system really speaks, fixture by fixture.
 *
 * The mapping is generated from the message type's zod schema, so it names every field the
 * standard has and nothing else. The fixtures are the catalogue's example instance of each type
 * (or, where a standard ships none, a generated valid message) and its encoding by the new adapter.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { z } from 'zod';
import { parseXmlSafely } from '../../gateway/xml/safe-parse.ts';
import type { MessageTypeSpec, StandardVersion, XoevMessage } from '../../standards/catalogue.ts';
import { catalogue } from '../../standards/index.ts';
import type { CodeList } from '../../standards/xoev/codelist.ts';
import { DATUM, UUID, ZEITPUNKT } from '../../standards/xoev/nachrichtenkopf.ts';
import { messageArbitrary } from '../../standards/xoev/testing/arbitrary.ts';
import { fromElement, toCanonicalXml, validateMessage } from '../../standards/xoev/xml-codec.ts';
import type { Adapter } from './adapter.ts';
import { mapperConstraints } from './constrain.ts';
import { ADAPTERS_DIR } from './registry.ts';
import { fixtureContext } from './testkit.ts';

export interface ScaffoldOptions {
  id: string;
  /** The folder that holds adapter folders (default: the repository's adapters/). */
  adaptersDir?: string;
  title?: string;
  land?: string;
  /** Catalogue ids of the message types (default: the XMeld 0201). */
  messageTypes?: string[];
}

export interface ScaffoldResult {
  dir: string;
  files: string[];
}

interface Def {
  type: string;
  shape?: Record<string, Schema>;
  innerType?: Schema;
  element?: Schema;
  values?: unknown[];
}
interface Schema {
  _zod: { def: Def };
}

const ROOT_SKIPPED = new Set(['standard', 'version', 'produkt', 'produkthersteller', 'produktversion']);
const TYPE_POINTER = '/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtentyp';

/** `nachrichtenkopf.g2g` → `nachrichtenkopfG2g`: native keys without dots (dots separate native paths). */
function nativeKey(key: string): string {
  return key.replace(/[.-]([a-z0-9])/gi, (_m, c: string) => c.toUpperCase());
}

function codeListOf(schema: Schema): string | undefined {
  return (z.globalRegistry.get(schema as unknown as z.ZodType) as { codeList?: string } | undefined)
    ?.codeList;
}

function unwrap(schema: Schema): { schema: Schema; optional: boolean } {
  let s = schema;
  let optional = false;
  while (s._zod.def.type === 'optional') {
    optional = true;
    s = s._zod.def.innerType!;
  }
  return { schema: s, optional };
}

function minLength(schema: Schema): number {
  const checks = (schema._zod.def as { checks?: { _zod: { def: { check?: string; minimum?: number } } }[] })
    .checks;
  return checks?.find((c) => c._zod.def.check === 'min_length')?._zod.def.minimum ?? 0;
}

interface Generator {
  listName(uri: string): string;
  lines: string[];
}

/** Rules for the fields of object `shape` (pointers from `pointer`, native paths from `native`), into `out`. */
function rulesFor(
  shape: Record<string, Schema>,
  pointer: string,
  native: string,
  typeExpr: string,
  builder: string,
  gen: Generator,
  indent: string,
  out: string[],
  root: boolean,
): void {
  for (const [key, field] of Object.entries(shape)) {
    if (root && ROOT_SKIPPED.has(key)) continue;
    const ptr = `${pointer}/${key}`;
    if (ptr === TYPE_POINTER) continue;
    const path = native ? `${native}.${nativeKey(key)}` : nativeKey(key);
    const { schema, optional } = unwrap(field);
    const opt = optional ? ', { optional: true }' : '';
    const def = schema._zod.def;
    const list = codeListOf(schema);
    const q = (s: string) => `'${s}'`;
    if (list)
      out.push(`${indent}${builder}.code(${q(ptr)}, ${q(path)}, ${gen.listName(list)}, undefined${opt}),`);
    else if (schema === (DATUM as unknown))
      out.push(`${indent}${builder}.date(${q(ptr)}, ${q(path)}, 'iso'${opt}),`);
    else if (schema === (ZEITPUNKT as unknown))
      out.push(`${indent}${builder}.timestamp(${q(ptr)}, ${q(path)}),`);
    else if (schema === (UUID as unknown))
      out.push(`${indent}${builder}.uuid(${q(ptr)}, ${q(path)}${optional ? ', { optional: true }' : ''}),`);
    else if (def.type === 'boolean')
      out.push(`${indent}${builder}.bool(${q(ptr)}, ${q(path)}, undefined${opt}),`);
    else if (def.type === 'number')
      out.push(`${indent}${builder}.number(${q(ptr)}, ${q(path)}, undefined${opt}),`);
    else if (def.type === 'literal')
      out.push(
        `${indent}${builder}.constant(${q(ptr)}, ${typeof def.values![0] === 'string' ? q(def.values![0]) : JSON.stringify(def.values![0])}),`,
      );
    else if (def.type === 'string' || def.type === 'enum')
      out.push(`${indent}${builder}.text(${q(ptr)}, ${q(path)}${opt}),`);
    else if (def.type === 'array') {
      const element = unwrap(def.element!).schema;
      const elementList = codeListOf(element);
      const min = minLength(schema);
      const absent = optional ? '{ optional: true }' : min > 0 ? '' : '{ default: [] }';
      const listOptions = optional ? '{ optional: true }' : `{ minItems: ${min} }`;
      if (elementList)
        out.push(
          `${indent}${builder}.codes(${q(ptr)}, ${q(path)}, ${gen.listName(elementList)}${absent ? `, ${absent}` : ''}),`,
        );
      else if (element._zod.def.type === 'object') {
        const inner = `${typeExpr}[${q(key)}]`;
        out.push(
          `${indent}${builder}.each(${q(ptr)}, ${q(path)}, defineMapping<NonNullable<${inner}>[number]>((g) => [`,
        );
        rulesFor(
          element._zod.def.shape!,
          '',
          '',
          `NonNullable<${inner}>[number]`,
          'g',
          gen,
          `${indent}  `,
          out,
          false,
        );
        out.push(`${indent}]), ${listOptions}),`);
      } else out.push(`${indent}${builder}.texts(${q(ptr)}, ${q(path)}${absent ? `, ${absent}` : ''}),`);
    } else if (def.type === 'object') {
      const inner = `${typeExpr}[${q(key)}]`;
      if (optional) {
        out.push(
          `${indent}${builder}.nested(${q(ptr)}, ${q(path)}, defineMapping<NonNullable<${inner}>>((g) => [`,
        );
        rulesFor(def.shape!, '', '', `NonNullable<${inner}>`, 'g', gen, `${indent}  `, out, false);
        out.push(`${indent}]), { optional: true }),`);
      } else rulesFor(def.shape!, ptr, path, `NonNullable<${inner}>`, builder, gen, indent, out, false);
    } else throw new Error(`scaffold: ${ptr} has zod type ${def.type}, which the scaffold cannot map`);
  }
}

/** The native value naming a message type: its code, qualified when two chosen types share one. */
function typeValue(spec: MessageTypeSpec, all: MessageTypeSpec[]): string {
  return all.filter((s) => s.code === spec.code).length > 1
    ? `${spec.standard}-${spec.version}-${spec.code}`
    : spec.code;
}

function versionOf(spec: MessageTypeSpec): StandardVersion {
  const version = catalogue.get(spec.standard, spec.version);
  if (!version) throw new Error(`${spec.id}: standard version not in the catalogue`);
  return version;
}

/** The schema module of a standard version: `<version dir>/schema.ts`, exporting LISTS and the message schemas. */
function schemaModule(version: StandardVersion): string {
  return path.join(path.dirname(version.xsdPath), 'schema.ts');
}

async function exportsOf(version: StandardVersion): Promise<Record<string, unknown>> {
  return (await import(pathToFileURL(schemaModule(version)).href)) as Record<string, unknown>;
}

function importPath(fromDir: string, file: string): string {
  const rel = path.relative(fromDir, file).split(path.sep).join('/');
  return rel.startsWith('.') ? rel : `./${rel}`;
}

/** True if the nearest package.json above `dir` declares ES modules. */
function insideModulePackage(dir: string): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    const file = path.join(d, 'package.json');
    if (existsSync(file))
      return (JSON.parse(readFileSync(file, 'utf8')) as { type?: string }).type === 'module';
    if (path.dirname(d) === d) return false;
  }
}

function pretty(xml: string): string {
  let depth = 0;
  let out = '';
  for (const token of xml.split(/(<[^>]+>)/).filter(Boolean)) {
    if (token.startsWith('</')) {
      depth--;
      if (out.endsWith('\n')) out += `${'  '.repeat(depth)}${token}\n`;
      else out += `${token}\n`;
    } else if (token.startsWith('<')) {
      out += `${'  '.repeat(depth)}${token}`;
      if (!token.endsWith('/>')) depth++;
      out += '\n';
    } else {
      out = `${out.slice(0, -1)}${token}`;
    }
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n${out}`;
}

function exampleMessage(spec: MessageTypeSpec, version: StandardVersion): XoevMessage {
  const file = path.join(version.examplesDir ?? '', `${spec.name}.xml`);
  if (version.examplesDir && existsSync(file)) {
    const root = parseXmlSafely(readFileSync(file, 'utf8')).documentElement!;
    return validateMessage(spec, fromElement(spec, root));
  }
  const [sample] = fc.sample(
    messageArbitrary(spec, { maxTextLength: 12 }).filter((m) => {
      try {
        validateMessage(spec, mapperConstraints(m));
        return true;
      } catch {
        return false;
      }
    }),
    { seed: 2026, numRuns: 1 },
  );
  return sample!;
}

export async function scaffoldAdapter(options: ScaffoldOptions): Promise<ScaffoldResult> {
  const { id } = options;
  if (!/^[a-z0-9][a-z0-9-]{1,62}$/.test(id))
    throw new Error(`adapter id ${id}: lower-case letters, digits and dashes`);
  const adaptersDir = path.resolve(options.adaptersDir ?? ADAPTERS_DIR);
  const dir = path.join(adaptersDir, id);
  if (existsSync(dir)) throw new Error(`${dir} exists already`);
  const typeIds = options.messageTypes ?? ['xmeld:25.11:rueckmeldung.anmeldunginland.0201'];
  const specs = typeIds.map((t) => {
    const spec = catalogue.byId(t);
    if (!spec)
      throw new Error(`${t} is not a catalogued message type (gw adapter new --help lists the form)`);
    return spec;
  });

  const imports = new Map<string, Set<string>>();
  const typeImports = new Map<string, Set<string>>();
  const add = (map: Map<string, Set<string>>, file: string, name: string) => {
    const set = map.get(file) ?? new Set<string>();
    set.add(name);
    map.set(file, set);
  };
  const constNames: string[] = [];
  const mappings: string[] = [];
  const usedNames = new Set<string>();
  for (const spec of specs) {
    const version = versionOf(spec);
    const mod = await exportsOf(version);
    const schemaName = Object.entries(mod).find(([, v]) => v === spec.schema)?.[0];
    if (!schemaName) throw new Error(`${schemaModule(version)} exports no schema for ${spec.id}`);
    const lists = (mod.LISTS ?? {}) as Record<string, CodeList>;
    const moduleFile = importPath(dir, schemaModule(version));
    const indexFile = importPath(dir, path.join(path.dirname(version.xsdPath), 'index.ts'));
    const indexMod = (await import(
      pathToFileURL(path.join(path.dirname(version.xsdPath), 'index.ts')).href
    )) as Record<string, unknown>;
    const exported = Object.entries(indexMod).find(([, v]) => v === spec)?.[0];
    if (!exported) throw new Error(`${spec.id}: its version's index.ts does not export the message type`);
    // Two versions of one standard export the same names: qualify the later ones.
    const suffix = `_${spec.standard}${spec.version.replace(/\W/g, '')}`;
    const specName = usedNames.has(exported) ? `${exported}${suffix}` : exported;
    const typeName = usedNames.has(schemaName) ? `${schemaName}${suffix}` : schemaName;
    usedNames.add(specName).add(typeName);
    add(imports, indexFile, specName === exported ? exported : `${exported} as ${specName}`);
    add(typeImports, moduleFile, typeName === schemaName ? schemaName : `${schemaName} as ${typeName}`);
    const gen: Generator = {
      lines: [],
      listName(uri) {
        const entry = Object.entries(lists).find(([, l]) => l.listURI === uri);
        if (!entry)
          throw new Error(`${spec.id}: code list ${uri} is not in LISTS of ${schemaModule(version)}`);
        add(
          imports,
          moduleFile,
          `LISTS as ${spec.standard.toUpperCase()}_${spec.version.replace(/\W/g, '_')}`,
        );
        return `${spec.standard.toUpperCase()}_${spec.version.replace(/\W/g, '_')}.${entry[0]}`;
      },
    };
    const rules: string[] = [];
    rulesFor(
      (spec.schema as unknown as Schema)._zod.def.shape!,
      '',
      '',
      typeName,
      'f',
      gen,
      '    ',
      rules,
      true,
    );
    const constName = `${specName}Mapping`;
    constNames.push(constName);
    mappings.push(
      [
        `/** ${spec.id}: one rule per field of the standard. Rename the native side (the second argument). */`,
        `const ${constName} = defineMessageMapping<${typeName}>({`,
        `  type: ${specName},`,
        '  produkt: PRODUKT,',
        '  rules: (f) => [',
        ...rules,
        '  ],',
        '});',
      ].join('\n'),
    );
  }

  const sdk = (file: string) => importPath(dir, path.join(ADAPTERS_DIR, 'sdk', file));
  const importLines = [
    ...[...typeImports].map(
      ([file, names]) => `import type { ${[...names].sort().join(', ')} } from '${file}';`,
    ),
    ...[...imports].map(([file, names]) => `import { ${[...names].sort().join(', ')} } from '${file}';`),
    `import { MAPPER_CONSTRAINTS, mapperConstraints } from '${sdk('constrain.ts')}';`,
    `import { jsonFormat } from '${sdk('formats/json.ts')}';`,
    `import { mappedAdapter } from '${sdk('mapped-adapter.ts')}';`,
    `import { defineMapping } from '${sdk('mapping/define.ts')}';`,
    `import { defineMessageMapping } from '${sdk('mapping/message-mapping.ts')}';`,
  ];
  const title = options.title ?? id;
  const adapterTs = `/**
 * ${id} — ${title}. Scaffolded by \`gw adapter new\`: JSON, one object per message, the native
 * field names mirror the standard's. Change the second argument of each rule to the system's own
 * field, add value maps for its own codes (f.code(pointer, field, list, { M: 'm', W: 'w' })), pick
 * another format helper if it does not speak JSON, and keep \`gw adapter test ${id}\` green.
 */
${importLines.join('\n')}

const PRODUKT = { produkt: '${id}', produkthersteller: '${title.replaceAll("'", "\\'")}', produktversion: '0.1.0' };

${mappings.join('\n\n')}

export default mappedAdapter({
  spec: { id: '${id}', title: '${title.replaceAll("'", "\\'")}', land: '${options.land ?? 'BUND'}' },
  format: jsonFormat(),
  typeField: 'nachrichtentyp',
  messages: { ${specs.map((s, i) => `'${typeValue(s, specs)}': ${constNames[i]}`).join(', ')} },
  roundTrip: {
    constraints: [...MAPPER_CONSTRAINTS, 'produkt, produkthersteller and produktversion are those of ${id}'],
    constrain: (message) => ({ ...mapperConstraints(message), ...PRODUKT }),
  },
});
`;
  const testTs = `import { testAdapterFixtures } from '${sdk('vitest.ts')}';
import adapter from './adapter.ts';

testAdapterFixtures(adapter, import.meta.dirname);
`;
  mkdirSync(path.join(dir, 'fixtures'), { recursive: true });
  // Adapters are ES modules; outside a package that says so, Node would load them as CommonJS.
  if (!insideModulePackage(adaptersDir)) {
    writeFileSync(path.join(adaptersDir, 'package.json'), '{ "private": true, "type": "module" }\n');
  }
  const files = [path.join(dir, 'adapter.ts'), path.join(dir, `${id}.test.ts`)];
  writeFileSync(files[0]!, adapterTs);
  writeFileSync(files[1]!, testTs);

  const adapter = ((await import(pathToFileURL(files[0]!).href)) as { default: Adapter }).default;
  for (const spec of specs) {
    const produkt = { produkt: id, produkthersteller: title, produktversion: '0.1.0' };
    const message = validateMessage(spec, {
      ...mapperConstraints(exampleMessage(spec, versionOf(spec))),
      ...produkt,
    });
    const base =
      specs.filter((s) => s.name === spec.name).length > 1 ? `${spec.name}.${spec.version}` : spec.name;
    const standardFile = path.join(dir, 'fixtures', `${base}.standard.xml`);
    writeFileSync(standardFile, pretty(toCanonicalXml(spec, message)));
    const native = adapter.encode(message, spec, fixtureContext(message));
    const nativeFile = path.join(dir, 'fixtures', `${base}.native.json`);
    writeFileSync(nativeFile, native.body);
    files.push(standardFile, nativeFile);
  }
  return { dir, files };
}
