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

function segments(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`not a JSON pointer: ${JSON.stringify(pointer)}`);
  return pointer.slice(1).split('/').map(unescapeSegment);
}

type Tree = Record<string, unknown>;

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function getPointer(root: unknown, pointer: string): unknown {
  let node = root;
  for (const key of segments(pointer)) {
    if (!isTree(node) && !Array.isArray(node)) return undefined;
    node = (node as Tree)[key];
  }
  return node;
}

/** Sets a value, creating intermediate objects. `undefined` leaves the tree untouched. */
export function setPointer(root: Tree, pointer: string, value: unknown): void {
  if (value === undefined) return;
  const keys = segments(pointer);
  const last = keys.pop();
  if (last === undefined) throw new Error('cannot set the root');
  let node = root;
  for (const key of keys) {
    if (!isTree(node[key])) node[key] = {};
    node = node[key] as Tree;
  }
  node[last] = value;
}

function pathKeys(path: string): string[] {
  return path === '' || path === '$' ? [] : path.split('.');
}

/**
 * Reads a native dot path; absent when any step is missing. `#text` of an XML element without
 * attributes is the element itself (fast-xml-parser reads `<a>x</a>` as the string `x`).
 */
export function getPath(root: unknown, path: string): unknown {
  let node = root;
  for (const key of pathKeys(path)) {
    if (key === '#text' && (typeof node === 'string' || typeof node === 'number')) return node;
    if (!isTree(node)) return undefined;
    node = node[key];
  }
  return node;
}

/** Writes a native dot path, creating intermediate objects. `undefined` writes nothing. */
export function setPath(root: Tree, path: string, value: unknown): void {
  if (value === undefined) return;
  const keys = pathKeys(path);
  const last = keys.pop();
  if (last === undefined) throw new Error('cannot set the root');
  let node = root;
  for (const key of keys) {
    if (!isTree(node[key])) node[key] = {};
    node = node[key] as Tree;
  }
  node[last] = value;
}
