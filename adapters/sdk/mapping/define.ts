/**
 * The declarative mapping: a list of rules, each tying native field(s) to standard field(s) with a
 * converter, applied in both directions. The builder `f` is typed on the standard type, so a rule
 * naming a pointer the standard does not have — or a date converter on a coded field — does not
 * compile. What a rule cannot express goes into a typed code hook (`custom` rule or `hooks`).
 *
 *   const person = defineMapping<Person>((f) => [
 *     f.text('/familienname', 'NACHNAME'),
 *     f.date('/geburt/datum', 'GEBDAT', 'de'),
 *     f.code('/geschlecht', 'GESCHL', LISTS.geschlecht, { M: 'm', W: 'w' }),
 *     f.join('/vornamen', ['VORNAME1', 'VORNAME2', 'VORNAME3']),
 *   ]);
 *
 * Decoding never throws: every problem goes to the Mapper with the native and the standard field,
 * and the adapter calls mapper.finish(). Encoding collects problems (a code the system has no
 * counterpart for, a key it cannot address) and throws them together.
 */
import { GatewayError } from '../../../gateway/errors/catalogue.ts';
import type { CodeList } from '../../../standards/xoev/codelist.ts';
import type { Behoerde } from '../../../standards/xoev/nachrichtenkopf.ts';
import type { AdapterContext } from '../adapter.ts';
import { acceptedText, type DateFormat, type NumberFormat } from '../mapper.ts';
import {
  type BoolCodes,
  boolConverter,
  type Converter,
  type DecodeScope as ConverterDecodeScope,
  type EncodeScope as ConverterEncodeScope,
  codeConverter,
  codesConverter,
  dateConverter,
  decimalConverter,
  type FieldAt,
  kennungConverter,
  numberConverter,
  textConverter,
  textsConverter,
  uuidConverter,
  wordsConverter,
} from './converters.ts';
import {
  type At,
  type CodedValue,
  getAtKeys,
  getAtPathKeys,
  type Pointer,
  type PointerTo,
  pathKeys,
  pointerKeys,
  setAtKeys,
} from './paths.ts';

export type NativeTree = Record<string, unknown>;
type Tree = Record<string, unknown>;

export interface DecodeScope extends ConverterDecodeScope {
  /** The absolute pointer of a rule's pointer (rules inside `each` are relative to the element). */
  pointerOf(pointer: string): string;
}

export interface EncodeScope extends ConverterEncodeScope {
  nativeName(path: string): string;
  pointerOf(pointer: string): string;
}

/** One mapping rule. Most are built by `f.*`; `f.custom` takes hand-written ones. */
export interface Rule {
  /** Native paths and standard pointers the rule reads and writes, for docs and scaffolds. */
  native: readonly string[];
  standard: readonly string[];
  describe: string;
  decode(native: NativeTree, draft: Tree, scope: DecodeScope): void;
  encode(message: Tree, native: NativeTree, scope: EncodeScope): void;
}

export interface FieldOptions<V> {
  /** Absent natively → absent in the standard (and not written back when absent). */
  optional?: boolean;
  /** Absent natively → this value (or the value the function returns from the context). */
  default?: V | ((context: AdapterContext) => V);
}

/** Native values that mean "not given": missing, null, blank text, an empty list. */
export function isAbsent(value: unknown): boolean {
  return (
    value === undefined ||
    value === null ||
    (typeof value === 'string' && value.trim() === '') ||
    (Array.isArray(value) && value.length === 0)
  );
}

/** A native value as a tree for a sub-mapping: an XML element with text only arrives as its text, read as `#text`. */
function asTree(value: unknown): NativeTree {
  if (typeof value === 'string' || typeof value === 'number') return { '#text': value };
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as NativeTree) : {};
}

/** Deep-merges plain objects: fields written on the same native level by several rules meet. */
function mergeInto(target: NativeTree, source: NativeTree): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (
      value &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      existing &&
      typeof existing === 'object' &&
      !Array.isArray(existing)
    ) {
      mergeInto(existing as NativeTree, value as NativeTree);
    } else target[key] = value;
  }
}

/** The keys of every native field a mapping reads (for allAbsent). */
function nativeFieldKeys(mapping: Mapping<unknown>): (readonly string[])[] {
  return mapping.rules.flatMap((rule) => rule.native.map(pathKeys));
}

/** True if every native field (given by its keys) is absent from `tree`. */
function allAbsent(fields: readonly (readonly string[])[], tree: unknown): boolean {
  return fields.every((keys) => isAbsent(getAtPathKeys(tree, keys)));
}

interface Naming {
  nativeName(path: string): string;
  pointerOf(pointer: string): string;
}

/**
 * Where a rule's field sits. The names are worked out only when read: a converter reads them to
 * report a problem (and on decoding, to hand them to the Mapper), and an error-free encode never
 * does — formats such as XML dialects spend real work on a native name.
 */
class FieldLocation implements FieldAt {
  private nativeText: string | undefined;
  private pointerText: string | undefined;

  constructor(
    private readonly scope: Naming,
    private readonly path: string,
    private readonly relativePointer: string,
  ) {}

  get native(): string {
    this.nativeText ??= this.scope.nativeName(this.path);
    return this.nativeText;
  }

  get pointer(): string {
    this.pointerText ??= this.scope.pointerOf(this.relativePointer);
    return this.pointerText;
  }

  nativeAt(suffix: string): string {
    return this.scope.nativeName(`${this.path}${suffix}`);
  }
}

/**
 * The scope of a sub-mapping (`nested`, `each`, `choice`): native names and pointers get a prefix,
 * everything else is the parent's. A class rather than a spread with two arrow functions, because
 * one is made per sub-mapping per message.
 */
class ChildDecodeScope implements DecodeScope {
  readonly mapper: DecodeScope['mapper'];
  readonly context: AdapterContext;

  constructor(
    private readonly parent: DecodeScope,
    private readonly nativePrefix: string,
    private readonly pointerPrefix: string,
  ) {
    this.mapper = parent.mapper;
    this.context = parent.context;
  }

  nativeName(path: string): string {
    return this.parent.nativeName(`${this.nativePrefix}${path}`);
  }

  pointerOf(pointer: string): string {
    return this.parent.pointerOf(`${this.pointerPrefix}${pointer}`);
  }
}

/** ChildDecodeScope for encoding. */
class ChildEncodeScope implements EncodeScope {
  readonly context: AdapterContext;

  constructor(
    private readonly parent: EncodeScope,
    private readonly nativePrefix: string,
    private readonly pointerPrefix: string,
  ) {
    this.context = parent.context;
  }

  fail(pointer: string, detail: string, nativeField?: string): undefined {
    return this.parent.fail(pointer, detail, nativeField);
  }

  nativeName(path: string): string {
    return this.parent.nativeName(`${this.nativePrefix}${path}`);
  }

  pointerOf(pointer: string): string {
    return this.parent.pointerOf(`${this.pointerPrefix}${pointer}`);
  }
}

function fieldRule<V>(
  pointer: string,
  path: string,
  converter: Converter<unknown, V>,
  options: FieldOptions<V> = {},
  requiredLeaf = '',
): Rule {
  const keys = pathKeys(path);
  const pointerAt = pointerKeys(pointer);
  return {
    native: [path],
    standard: [pointer],
    describe: converter.describe,
    decode(native, draft, scope) {
      const raw = getAtPathKeys(native, keys);
      const at = new FieldLocation(scope, path, pointer);
      if (isAbsent(raw)) {
        if (options.default !== undefined) {
          const value =
            typeof options.default === 'function'
              ? (options.default as (c: AdapterContext) => V)(scope.context)
              : options.default;
          setAtKeys(draft, pointerAt, value);
        } else if (!options.optional) {
          scope.mapper.fail(at.native, `${at.pointer}${requiredLeaf}`, 'is required');
        }
        return;
      }
      setAtKeys(draft, pointerAt, converter.decode(raw, at, scope));
    },
    encode(message, native, scope) {
      const value = getAtKeys(message, pointerAt);
      if (value === undefined) return;
      setAtKeys(native, keys, converter.encode(value as V, new FieldLocation(scope, path, pointer), scope));
    },
  };
}

/** A mapping between a native tree and a standard object of type T. */
export interface Mapping<T> {
  rules: readonly Rule[];
  /** Native → standard draft (unvalidated; the gateway validates it against the schema). */
  decode(native: NativeTree, scope: DecodeScope): T;
  /** Standard → native tree; throws GW_ERR_MAPPING_FAILED naming every value without a native form. */
  encode(message: T, scope: Omit<EncodeScope, 'fail'>, into?: NativeTree): NativeTree;
  /** Encoding as one step of a larger mapping: problems go to the enclosing scope. */
  encodeInto(message: T, native: NativeTree, scope: EncodeScope): void;
}

export interface MappingHooks<T> {
  /** After the rules: fill what they cannot express. Report problems with scope.mapper.fail. */
  decode?(draft: Partial<T> & Tree, native: NativeTree, scope: DecodeScope): void;
  /** After the rules: write what they cannot express. Report problems with scope.fail. */
  encode?(native: NativeTree, message: T, scope: EncodeScope): void;
}

export function defineMapping<T>(build: (f: Fields<T>) => Rule[], hooks: MappingHooks<T> = {}): Mapping<T> {
  const rules = build(new Fields<T>());
  const encodeInto = (message: T, native: NativeTree, scope: EncodeScope) => {
    for (const rule of rules) rule.encode(message as Tree, native, scope);
    hooks.encode?.(native, message, scope);
  };
  return {
    rules,
    decode(native, scope) {
      const draft: Tree = {};
      for (const rule of rules) rule.decode(native, draft, scope);
      hooks.decode?.(draft as Partial<T> & Tree, native, scope);
      return draft as T;
    },
    encodeInto,
    encode(message, scope, into = {}) {
      const errors: { pointer: string; detail: string; nativeField?: string }[] = [];
      const native = into;
      encodeInto(message, native, {
        ...scope,
        fail(pointer, detail, nativeField) {
          errors.push({ pointer, detail, nativeField });
          return undefined;
        },
      });
      if (errors.length > 0) {
        throw new GatewayError(
          'GW_ERR_MAPPING_FAILED',
          `cannot write ${errors[0]!.pointer} in the native format: ${errors[0]!.detail}`,
          { errors },
        );
      }
      return native;
    },
  };
}

type Element<A> = A extends readonly (infer E)[] ? E : never;

/** The rule builder handed to defineMapping; every method is typed on the standard type T. */
export class Fields<T> {
  /** A required (or optional) text. Numbers are accepted natively and stringified. */
  text<P extends PointerTo<T, string>>(pointer: P, native: string, options?: FieldOptions<At<T, P>>): Rule {
    return fieldRule(pointer, native, textConverter(), options as FieldOptions<string>);
  }

  /** A date: `iso` JJJJ-MM-TT, `de` TT.MM.JJJJ, `compact` JJJJMMTT. */
  date<P extends PointerTo<T, string>>(
    pointer: P,
    native: string,
    format: DateFormat,
    options?: FieldOptions<string>,
  ): Rule {
    return fieldRule(pointer, native, dateConverter(format), options);
  }

  number<P extends PointerTo<T, number>>(
    pointer: P,
    native: string,
    format?: NumberFormat & { asText?: boolean },
    options?: FieldOptions<number>,
  ): Rule {
    return fieldRule(pointer, native, numberConverter(format), options);
  }

  /** A decimal kept as text in the standard (`1234.56`), written natively as the system does (`1.234,56`). */
  decimal<P extends PointerTo<T, string>>(
    pointer: P,
    native: string,
    format?: Parameters<typeof decimalConverter>[0],
    options?: FieldOptions<string>,
  ): Rule {
    return fieldRule(pointer, native, decimalConverter(format), options);
  }

  /** Any converter: the typed code hook for a single field the built-in converters do not cover. */
  convert<P extends Pointer<T>>(
    pointer: P,
    native: string,
    converter: Converter<unknown, NonNullable<At<T, P>>>,
    options?: FieldOptions<NonNullable<At<T, P>>>,
  ): Rule {
    return fieldRule(pointer, native, converter, options);
  }

  /** A boolean written natively as one of `codes.true` / `codes.false` (`J`/`N`, `1`/`0`). */
  bool<P extends PointerTo<T, boolean>>(
    pointer: P,
    native: string,
    codes?: BoolCodes,
    options?: FieldOptions<boolean>,
  ): Rule {
    return fieldRule(pointer, native, boolConverter(codes), options);
  }

  /** A coded value on `list`; `valueMap` translates the system's own codes (native → standard). */
  code<P extends PointerTo<T, CodedValue>>(
    pointer: P,
    native: string,
    list: CodeList,
    valueMap?: Record<string, string>,
    options?: FieldOptions<CodedValue>,
  ): Rule {
    return fieldRule(pointer, native, codeConverter(list, valueMap), options, '/code');
  }

  /** Several coded values: a native list, or one string with `separator` between the codes. */
  codes<P extends PointerTo<T, CodedValue[]>>(
    pointer: P,
    native: string,
    list: CodeList,
    options: { valueMap?: Record<string, string>; separator?: string } & FieldOptions<CodedValue[]> = {},
  ): Rule {
    return fieldRule(pointer, native, codesConverter(list, options), options);
  }

  texts<P extends PointerTo<T, string[]>>(
    pointer: P,
    native: string,
    options: { separator?: string } & FieldOptions<string[]> = {},
  ): Rule {
    return fieldRule(pointer, native, textsConverter(options), options);
  }

  /** One standard text kept natively as a list of words (`["Anna","Lena"]` ↔ `Anna Lena`). */
  words<P extends PointerTo<T, string>>(
    pointer: P,
    native: string,
    separator = ' ',
    options?: FieldOptions<string>,
  ): Rule {
    return fieldRule(pointer, native, wordsConverter(separator), options);
  }

  /** A DVDV key whose prefix the system leaves implicit (`14612000` ↔ `ags:14612000`). */
  kennung<P extends PointerTo<T, string>>(
    pointer: P,
    native: string,
    prefix: string,
    options?: FieldOptions<string>,
  ): Rule {
    return fieldRule(pointer, native, kennungConverter(prefix), options);
  }

  /**
   * A UUID, lower-cased; with `generate`, a fresh one from the context when the system sends none;
   * with `optional`, absent stays absent (a referenzUUID of a first message).
   */
  uuid<P extends PointerTo<T, string>>(
    pointer: P,
    native: string,
    options: { generate?: boolean; optional?: boolean } = {},
  ): Rule {
    return fieldRule(
      pointer,
      native,
      uuidConverter(),
      options.generate ? { default: (c: AdapterContext) => c.newUUID() } : { optional: options.optional },
    );
  }

  /** A point in time; without a native field (or when it is absent) the time of decoding. */
  timestamp<P extends PointerTo<T, string>>(pointer: P, native?: string): Rule {
    if (native) return fieldRule(pointer, native, textConverter(), { default: (c) => c.now().toISOString() });
    return this.generated(pointer, (c) => c.now().toISOString() as At<T, P>);
  }

  /** A value the system never sends (a fixed `verzeichnisdienst`); not written back. */
  constant<P extends Pointer<T>>(pointer: P, value: At<T, P>): Rule {
    return this.generated(pointer, () => value);
  }

  /** A value computed from the context on decoding (not written back). */
  generated<P extends Pointer<T>>(pointer: P, value: (context: AdapterContext) => At<T, P>): Rule {
    const pointerAt = pointerKeys(pointer);
    return {
      native: [],
      standard: [pointer],
      describe: 'set by the adapter',
      decode: (_native, draft, scope) => setAtKeys(draft, pointerAt, value(scope.context)),
      encode: () => {},
    };
  }

  /**
   * Name joining: several native fields form one standard text (`VORNAME1`, `VORNAME2` ↔
   * `Anna Lena`). On the way back, the words are spread over the fields in order; the last field
   * takes the rest, so nothing is lost.
   */
  join<P extends PointerTo<T, string>>(
    pointer: P,
    natives: readonly string[],
    options: { separator?: string } & FieldOptions<string> = {},
  ): Rule {
    const separator = options.separator ?? ' ';
    const nativeKeys = natives.map(pathKeys);
    const pointerAt = pointerKeys(pointer);
    return {
      native: natives,
      standard: [pointer],
      describe: `joined by ${JSON.stringify(separator)}`,
      decode(native, draft, scope) {
        const parts: string[] = [];
        natives.forEach((path, i) => {
          const value = getAtPathKeys(native, nativeKeys[i]!);
          if (!isAbsent(value))
            parts.push(
              acceptedText(value) ??
                scope.mapper.text(value, scope.nativeName(path), scope.pointerOf(pointer)),
            );
        });
        if (parts.length === 0) {
          if (!options.optional)
            scope.mapper.fail(
              natives.map((path) => scope.nativeName(path)).join(' + '),
              scope.pointerOf(pointer),
              'is required',
            );
          return;
        }
        setAtKeys(draft, pointerAt, parts.join(separator));
      },
      encode(message, native) {
        const value = getAtKeys(message, pointerAt);
        if (typeof value !== 'string') return;
        const words = value.split(separator);
        nativeKeys.forEach((keys, i) => {
          const last = i === natives.length - 1;
          const part = last ? words.slice(i).join(separator) : words[i];
          if (part) setAtKeys(native, keys, part);
        });
      },
    };
  }

  /**
   * Name splitting: one native field holds two standard texts (`Nowak, Anna Lena` ↔ familienname
   * and vornamen). Splits at the first `separator`.
   */
  split<P1 extends PointerTo<T, string>, P2 extends PointerTo<T, string>>(
    pointers: readonly [P1, P2],
    native: string,
    options: { separator?: string } = {},
  ): Rule {
    const separator = options.separator ?? ', ';
    const keys = pathKeys(native);
    const [firstAt, secondAt] = [pointerKeys(pointers[0]), pointerKeys(pointers[1])];
    return {
      native: [native],
      standard: pointers,
      describe: `two parts separated by ${JSON.stringify(separator)}`,
      decode(tree, draft, scope) {
        const value = getAtPathKeys(tree, keys);
        const raw =
          acceptedText(value) ??
          scope.mapper.text(value, scope.nativeName(native), scope.pointerOf(pointers[0]));
        if (!raw) return;
        const at = raw.indexOf(separator.trim() || separator);
        if (at < 0) {
          scope.mapper.fail(
            scope.nativeName(native),
            scope.pointerOf(pointers[1]),
            `expected two parts separated by ${JSON.stringify(separator)}`,
          );
          return;
        }
        setAtKeys(draft, firstAt, raw.slice(0, at).trim());
        setAtKeys(draft, secondAt, raw.slice(at + (separator.trim() || separator).length).trim());
      },
      encode(message, tree) {
        const first = getAtKeys(message, firstAt);
        const second = getAtKeys(message, secondAt);
        if (typeof first === 'string' && typeof second === 'string')
          setAtKeys(tree, keys, `${first}${separator}${second}`);
      },
    };
  }

  /**
   * A list of objects: each native element is mapped with `mapping` (pointers relative to the
   * element). Absent natively: an error if `minItems` (default 1) > 0, else an empty list —
   * unless `optional`, when the standard field stays absent.
   */
  each<P extends PointerTo<T, readonly unknown[]>>(
    pointer: P,
    native: string,
    mapping: Mapping<Element<NonNullable<At<T, P>>>>,
    options: { optional?: boolean; minItems?: number } = {},
  ): Rule {
    const keys = pathKeys(native);
    const pointerAt = pointerKeys(pointer);
    return {
      native: [native],
      standard: [pointer],
      describe: 'list',
      decode(tree, draft, scope) {
        const raw = getAtPathKeys(tree, keys);
        if (isAbsent(raw)) {
          if (options.optional) return;
          if ((options.minItems ?? 1) > 0)
            scope.mapper.fail(scope.nativeName(native), scope.pointerOf(pointer), 'at least one is required');
          else setAtKeys(draft, pointerAt, []);
          return;
        }
        const items = Array.isArray(raw) ? raw : [raw];
        setAtKeys(
          draft,
          pointerAt,
          items.map((item, i) =>
            mapping.decode(asTree(item), new ChildDecodeScope(scope, `${native}[${i}].`, `${pointer}/${i}`)),
          ),
        );
      },
      encode(message, tree, scope) {
        const items = getAtKeys(message, pointerAt);
        if (!Array.isArray(items)) return;
        setAtKeys(
          tree,
          keys,
          items.map((item, i) => {
            const out: NativeTree = {};
            mapping.encodeInto(
              item as Element<NonNullable<At<T, P>>>,
              out,
              new ChildEncodeScope(scope, `${native}[${i}].`, `${pointer}/${i}`),
            );
            return out;
          }),
        );
      },
    };
  }

  /**
   * An object mapped with its own mapping (reuse a person or address mapping in several messages).
   * `native` '' keeps the object's fields on the same native level (flat records). An `optional`
   * object is absent when every native field of its mapping is absent.
   */
  nested<P extends Pointer<T>>(
    pointer: P,
    native: string,
    mapping: Mapping<NonNullable<At<T, P>>>,
    options: { optional?: boolean } = {},
  ): Rule {
    const prefix = native ? `${native}.` : '';
    const keys = pathKeys(native);
    const pointerAt = pointerKeys(pointer);
    const fields = options.optional ? nativeFieldKeys(mapping as Mapping<unknown>) : [];
    return {
      native: mapping.rules.flatMap((r) => r.native.map((n) => `${prefix}${n}`)),
      standard: mapping.rules.flatMap((r) => r.standard.map((s) => `${pointer}${s}`)),
      describe: 'object',
      decode(tree, draft, scope) {
        const raw = native ? getAtPathKeys(tree, keys) : tree;
        const sub = asTree(raw);
        if (options.optional && (isAbsent(raw) || allAbsent(fields, sub))) return;
        setAtKeys(draft, pointerAt, mapping.decode(sub, new ChildDecodeScope(scope, prefix, pointer)));
      },
      encode(message, tree, scope) {
        const value = getAtKeys(message, pointerAt);
        if (value === undefined) return;
        const out: NativeTree = {};
        mapping.encodeInto(value as NonNullable<At<T, P>>, out, new ChildEncodeScope(scope, prefix, pointer));
        if (native) setAtKeys(tree, keys, out);
        else mergeInto(tree, out);
      },
    };
  }

  /**
   * An authority (`leser`, `autor`): its DVDV key and name; `prefix` when the system keeps keys
   * without one (`14612000` for `ags:14612000`). `verzeichnisdienst` is always DVDV.
   */
  behoerde<P extends PointerTo<T, Behoerde>>(
    pointer: P,
    native: { kennung: string; name: string; prefix?: string },
  ): Rule {
    const mapping = defineMapping<Behoerde>((g) => [
      g.constant('/verzeichnisdienst', 'DVDV'),
      native.prefix
        ? g.kennung('/kennung', native.kennung, native.prefix)
        : g.text('/kennung', native.kennung),
      g.text('/name', native.name),
    ]);
    return this.nested(pointer, '', mapping as unknown as Mapping<NonNullable<At<T, P>>>);
  }

  /**
   * An xs:choice kept natively as a kind field: `native` holds a value naming which of the
   * alternatives is present (`N` → natuerlichePerson, `J` → juristischePerson); each alternative
   * is mapped by its own mapping on the same native level.
   */
  choice(
    native: string,
    // biome-ignore lint/suspicious/noExplicitAny: each alternative has its own type
    alternatives: Record<string, { pointer: Pointer<T>; mapping: Mapping<any> }>,
  ): Rule {
    const entries = Object.entries(alternatives);
    const keys = pathKeys(native);
    const pointerAts = new Map(entries.map(([kind, a]) => [kind, pointerKeys(a.pointer)]));
    return {
      native: [native, ...entries.flatMap(([, a]) => a.mapping.rules.flatMap((r) => r.native))],
      standard: entries.map(([, a]) => a.pointer),
      describe: `one of ${entries.map(([k, a]) => `${k} (${a.pointer})`).join(', ')}`,
      decode(tree, draft, scope) {
        const value = getAtPathKeys(tree, keys);
        const kind =
          acceptedText(value) ??
          scope.mapper.text(value, scope.nativeName(native), scope.pointerOf(entries[0]![1].pointer));
        if (!kind) return;
        const chosen = Object.hasOwn(alternatives, kind) ? alternatives[kind] : undefined;
        if (!chosen) {
          scope.mapper.fail(
            scope.nativeName(native),
            scope.pointerOf(entries[0]![1].pointer),
            `must be one of ${entries.map(([k]) => JSON.stringify(k)).join(', ')}`,
          );
          return;
        }
        setAtKeys(
          draft,
          pointerAts.get(kind)!,
          chosen.mapping.decode(tree, new ChildDecodeScope(scope, '', chosen.pointer)),
        );
      },
      encode(message, tree, scope) {
        for (const [kind, a] of entries) {
          const value = getAtKeys(message, pointerAts.get(kind)!);
          if (value === undefined) continue;
          setAtKeys(tree, keys, kind);
          a.mapping.encodeInto(value, tree, new ChildEncodeScope(scope, '', a.pointer));
          return;
        }
      },
    };
  }

  /** A hand-written rule for what the declarative rules cannot express. */
  custom(rule: Rule): Rule {
    return rule;
  }
}
