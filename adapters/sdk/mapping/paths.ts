/**
 * Addressing values on both sides of a mapping.
 *
 * Standard side: RFC 6901 JSON pointers (`/person/geburt/datum`), the same pointers the gateway puts
 * into problem answers. `Pointer<S>` is the union of every pointer into a message type S (coded
 * values are leaves), so a mapping that names a field the standard does not have does not compile.
 *
 * Native side: dot paths (`person.vornamen`, `AnschriftNeu.@Gemeinde`, `NACHNAME`) into the plain
 * tree a format helper produced — parsed JSON, a fast-xml-parser node, a CSV or fixed-width record.
 */

type Primitive = string | number | boolean | bigint | symbol | null | undefined;

/** A coded value: `{ listURI, listVersionID, code }`. Pointers stop at it (a code is one field). */
export interface CodedValue {
  listURI: string;
  listVersionID: string;
  code: string;
  name?: string;
}

type Leaf = Primitive | CodedValue | readonly unknown[];

/** Every JSON pointer into T (objects only; arrays and coded values are leaves). */
export type Pointer<T> = T extends Leaf
  ? never
  : {
      [K in keyof T & string]-?: NonNullable<T[K]> extends Leaf
        ? `/${K}`
        : `/${K}` | `/${K}${Pointer<NonNullable<T[K]>>}`;
    }[keyof T & string];

/** The type of the value at pointer P in T. */
export type At<T, P extends string> = P extends `/${infer K}/${infer Rest}`
  ? K extends keyof T
    ? At<NonNullable<T[K]>, `/${Rest}`>
    : never
  : P extends `/${infer K}`
    ? K extends keyof T
      ? T[K]
      : never
    : never;

/** Pointers into T whose value (ignoring optionality) is assignable to V. */
export type PointerTo<T, V> = {
  [P in Pointer<T>]: NonNullable<At<T, P>> extends V ? P : never;
}[Pointer<T>];

function unescapeSegment(segment: string): string {
  return segment.replaceAll('~1', '/').replaceAll('~0', '~');
}

/** The keys of a JSON pointer, unescaped. Rules call it once, when they are defined. */
export function pointerKeys(pointer: string): readonly string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`not a JSON pointer: ${JSON.stringify(pointer)}`);
  return pointer.slice(1).split('/').map(unescapeSegment);
}

/** The keys of a native dot path (`''` and `$` are the root). Rules call it once, when they are defined. */
export function pathKeys(path: string): readonly string[] {
  return path === '' || path === '$' ? [] : path.split('.');
}

type Tree = Record<string, unknown>;

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the value at pointer keys (from pointerKeys); absent when any step is missing. */
export function getAtKeys(root: unknown, keys: readonly string[]): unknown {
  let node = root;
  for (let i = 0; i < keys.length; i++) {
    if (!isTree(node) && !Array.isArray(node)) return undefined;
    node = (node as Tree)[keys[i]!];
  }
  return node;
}

/** Sets the value at non-empty keys (of a pointer or a path), creating intermediate objects. `undefined` writes nothing. */
export function setAtKeys(root: Tree, keys: readonly string[], value: unknown): void {
  if (value === undefined) return;
  if (keys.length === 0) throw new Error('cannot set the root');
  let node = root;
  const last = keys.length - 1;
  for (let i = 0; i < last; i++) {
    const key = keys[i]!;
    if (!isTree(node[key])) node[key] = {};
    node = node[key] as Tree;
  }
  node[keys[last]!] = value;
}

/**
 * Reads the value at native path keys (from pathKeys); absent when any step is missing. `#text` of
 * an XML element without attributes is the element itself (fast-xml-parser reads `<a>x</a>` as the
 * string `x`).
 */
export function getAtPathKeys(root: unknown, keys: readonly string[]): unknown {
  let node = root;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (key === '#text' && (typeof node === 'string' || typeof node === 'number')) return node;
    if (!isTree(node)) return undefined;
    node = node[key];
  }
  return node;
}

/**
 * Keys of the paths and pointers that hooks pass as strings on every message (`getPath(native,
 * 'person.gemeinde')`), split once. Bounded: a hook that builds its paths per message (with an
 * index, say) fills it and then splits as before.
 */
const MAX_REMEMBERED = 4096;
const rememberedPointers = new Map<string, readonly string[]>();
const rememberedPaths = new Map<string, readonly string[]>();

function remembered(
  memo: Map<string, readonly string[]>,
  text: string,
  split: (text: string) => readonly string[],
): readonly string[] {
  let keys = memo.get(text);
  if (keys === undefined) {
    keys = Object.freeze([...split(text)]);
    if (memo.size < MAX_REMEMBERED) memo.set(text, keys);
  }
  return keys;
}

export function getPointer(root: unknown, pointer: string): unknown {
  return getAtKeys(root, remembered(rememberedPointers, pointer, pointerKeys));
}

/** Sets a value, creating intermediate objects. `undefined` leaves the tree untouched. */
export function setPointer(root: Tree, pointer: string, value: unknown): void {
  if (value === undefined) return;
  setAtKeys(root, remembered(rememberedPointers, pointer, pointerKeys), value);
}

/** Reads a native dot path; absent when any step is missing (see getAtPathKeys). */
export function getPath(root: unknown, path: string): unknown {
  return getAtPathKeys(root, remembered(rememberedPaths, path, pathKeys));
}

/** Writes a native dot path, creating intermediate objects. `undefined` writes nothing. */
export function setPath(root: Tree, path: string, value: unknown): void {
  if (value === undefined) return;
  setAtKeys(root, remembered(rememberedPaths, path, pathKeys), value);
}
