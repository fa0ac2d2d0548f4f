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
import type { DateFormat, NumberFormat } from '../mapper.ts';
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
  getPath,
  getPointer,
  type Pointer,
  type PointerTo,
  setPath,
  setPointer,
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

/** True if every native field a mapping reads is absent from `tree`. */
function allAbsent(mapping: Mapping<unknown>, tree: unknown): boolean {
  return mapping.rules.every((rule) => rule.native.every((path) => isAbsent(getPath(tree, path))));
}

function fieldAt(
  scope: { nativeName(path: string): string; pointerOf(p: string): string },
  path: string,
  pointer: string,
): FieldAt {
  return {
    native: scope.nativeName(path),
    pointer: scope.pointerOf(pointer),
    nativeAt: (suffix) => scope.nativeName(`${path}${suffix}`),
  };
}

function fieldRule<V>(
  pointer: string,
  path: string,
  converter: Converter<unknown, V>,
  options: FieldOptions<V> = {},
  requiredLeaf = '',
): Rule {
  return {
    native: [path],
    standard: [pointer],
    describe: converter.describe,
    decode(native, draft, scope) {
      const raw = getPath(native, path);
      const at = fieldAt(scope, path, pointer);
      if (isAbsent(raw)) {
        if (options.default !== undefined) {
          const value =
            typeof options.default === 'function'
              ? (options.default as (c: AdapterContext) => V)(scope.context)
              : options.default;
          setPointer(draft, pointer, value);
        } else if (!options.optional) {
          scope.mapper.fail(at.native, `${at.pointer}${requiredLeaf}`, 'is required');
        }
        return;
      }
      setPointer(draft, pointer, converter.decode(raw, at, scope));
    },
    encode(message, native, scope) {
      const value = getPointer(message, pointer);
      if (value === undefined) return;
      setPath(native, path, converter.encode(value as V, fieldAt(scope, path, pointer), scope));
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
    return {
      native: [],
      standard: [pointer],
      describe: 'set by the adapter',
      decode: (_native, draft, scope) => setPointer(draft, pointer, value(scope.context)),
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
    return {
      native: natives,
      standard: [pointer],
      describe: `joined by ${JSON.stringify(separator)}`,
      decode(native, draft, scope) {
        const parts = natives
          .map((path) => ({ path, value: getPath(native, path) }))
          .filter((p) => !isAbsent(p.value))
          .map((p) => scope.mapper.text(p.value, scope.nativeName(p.path), scope.pointerOf(pointer)));
        if (parts.length === 0) {
          if (!options.optional)
            scope.mapper.fail(
              natives.map(scope.nativeName).join(' + '),
              scope.pointerOf(pointer),
              'is required',
            );
          return;
        }
        setPointer(draft, pointer, parts.join(separator));
      },
      encode(message, native) {
        const value = getPointer(message, pointer);
        if (typeof value !== 'string') return;
        const words = value.split(separator);
        natives.forEach((path, i) => {
          const last = i === natives.length - 1;
          const part = last ? words.slice(i).join(separator) : words[i];
          if (part) setPath(native, path, part);
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
    return {
      native: [native],
      standard: pointers,
      describe: `two parts separated by ${JSON.stringify(separator)}`,
      decode(tree, draft, scope) {
        const name = scope.nativeName(native);
        const raw = scope.mapper.text(getPath(tree, native), name, scope.pointerOf(pointers[0]));
        if (!raw) return;
        const at = raw.indexOf(separator.trim() || separator);
        if (at < 0) {
          scope.mapper.fail(
            name,
            scope.pointerOf(pointers[1]),
            `expected two parts separated by ${JSON.stringify(separator)}`,
          );
          return;
        }
        setPointer(draft, pointers[0], raw.slice(0, at).trim());
        setPointer(draft, pointers[1], raw.slice(at + (separator.trim() || separator).length).trim());
      },
      encode(message, tree) {
        const first = getPointer(message, pointers[0]);
        const second = getPointer(message, pointers[1]);
        if (typeof first === 'string' && typeof second === 'string')
          setPath(tree, native, `${first}${separator}${second}`);
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
    return {
      native: [native],
      standard: [pointer],
      describe: 'list',
      decode(tree, draft, scope) {
        const raw = getPath(tree, native);
        if (isAbsent(raw)) {
          if (options.optional) return;
          if ((options.minItems ?? 1) > 0)
            scope.mapper.fail(scope.nativeName(native), scope.pointerOf(pointer), 'at least one is required');
          else setPointer(draft, pointer, []);
          return;
        }
        const items = Array.isArray(raw) ? raw : [raw];
        setPointer(
          draft,
          pointer,
          items.map((item, i) =>
            mapping.decode(asTree(item), {
              ...scope,
              nativeName: (p) => scope.nativeName(`${native}[${i}].${p}`),
              pointerOf: (p) => scope.pointerOf(`${pointer}/${i}${p}`),
            }),
          ),
        );
      },
      encode(message, tree, scope) {
        const items = getPointer(message, pointer);
        if (!Array.isArray(items)) return;
        setPath(
          tree,
          native,
          items.map((item, i) => {
            const out: NativeTree = {};
            mapping.encodeInto(item as Element<NonNullable<At<T, P>>>, out, {
              ...scope,
              nativeName: (p) => scope.nativeName(`${native}[${i}].${p}`),
              pointerOf: (p) => scope.pointerOf(`${pointer}/${i}${p}`),
            });
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
    return {
      native: mapping.rules.flatMap((r) => r.native.map((n) => `${prefix}${n}`)),
      standard: mapping.rules.flatMap((r) => r.standard.map((s) => `${pointer}${s}`)),
      describe: 'object',
      decode(tree, draft, scope) {
        const raw = native ? getPath(tree, native) : tree;
        const sub = asTree(raw);
        if (options.optional && (isAbsent(raw) || allAbsent(mapping, sub))) return;
        setPointer(
          draft,
          pointer,
          mapping.decode(sub, {
            ...scope,
            nativeName: (p) => scope.nativeName(`${prefix}${p}`),
            pointerOf: (p) => scope.pointerOf(`${pointer}${p}`),
          }),
        );
      },
      encode(message, tree, scope) {
        const value = getPointer(message, pointer);
        if (value === undefined) return;
        const out: NativeTree = {};
        mapping.encodeInto(value as NonNullable<At<T, P>>, out, {
          ...scope,
          nativeName: (p) => scope.nativeName(`${prefix}${p}`),
          pointerOf: (p) => scope.pointerOf(`${pointer}${p}`),
        });
        if (native) setPath(tree, native, out);
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
    return {
      native: [native, ...entries.flatMap(([, a]) => a.mapping.rules.flatMap((r) => r.native))],
      standard: entries.map(([, a]) => a.pointer),
      describe: `one of ${entries.map(([k, a]) => `${k} (${a.pointer})`).join(', ')}`,
      decode(tree, draft, scope) {
        const name = scope.nativeName(native);
        const kind = scope.mapper.text(getPath(tree, native), name, scope.pointerOf(entries[0]![1].pointer));
        if (!kind) return;
        const chosen = alternatives[kind];
        if (!chosen) {
          scope.mapper.fail(
            name,
            scope.pointerOf(entries[0]![1].pointer),
            `must be one of ${entries.map(([k]) => JSON.stringify(k)).join(', ')}`,
          );
          return;
        }
        setPointer(
          draft,
          chosen.pointer,
          chosen.mapping.decode(tree, {
            ...scope,
            pointerOf: (p) => scope.pointerOf(`${chosen.pointer}${p}`),
          }),
        );
      },
      encode(message, tree, scope) {
        for (const [kind, a] of entries) {
          const value = getPointer(message, a.pointer);
          if (value === undefined) continue;
          setPath(tree, native, kind);
          a.mapping.encodeInto(value, tree, {
            ...scope,
            pointerOf: (p) => scope.pointerOf(`${a.pointer}${p}`),
          });
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
