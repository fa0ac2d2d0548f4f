/**
 * The string helpers hooks call on every message (getPath, setPath, getPointer, setPointer) split
 * each path once and remember the keys: on a first and on a remembered call they read and write what
 * the key functions do with freshly split keys, and throw the same errors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  getAtKeys,
  getAtPathKeys,
  getPath,
  getPointer,
  pathKeys,
  pointerKeys,
  setAtKeys,
  setPath,
  setPointer,
} from './paths.ts';

const segment = fc.oneof(
  fc.constantFrom('a', 'b', 'person', '#text', '@Gemeinde', 'toString', 'length', '0', '~0', '~1'),
  fc.string({ maxLength: 3 }).filter((s) => !s.includes('.') && !s.includes('/')),
);
const tree = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 3 }),
    fc.integer(),
    fc.constant(null),
    fc.array(tie('node'), { maxLength: 2 }),
    fc.dictionary(segment, tie('node'), { maxKeys: 3 }),
  ),
})).node;
const root = fc.dictionary(segment, tree, { maxKeys: 4 });
const dotPath = fc.array(segment, { maxLength: 3 }).map((s) => s.join('.'));
const pointer = fc.array(segment, { maxLength: 3 }).map((s) => s.map((k) => `/${k}`).join(''));

function outcome(run: () => unknown): unknown {
  try {
    return { value: run() };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** Runs `write` on a copy of `t`; the copy (serialised: key order counts) and what it threw. */
function written(t: object, write: (copy: Record<string, unknown>) => void): unknown {
  const copy = structuredClone(t) as Record<string, unknown>;
  const result = outcome(() => write(copy));
  return { result, tree: JSON.stringify(copy) };
}

describe('remembered paths', () => {
  it('read as freshly split keys do, the first time and again', () => {
    fc.assert(
      fc.property(root, dotPath, pointer, (t, p, q) => {
        for (let i = 0; i < 2; i++) {
          expect(Object.is(getPath(t, p), getAtPathKeys(t, pathKeys(p)))).toBe(true);
          expect(Object.is(getPointer(t, q), getAtKeys(t, pointerKeys(q)))).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('write as freshly split keys do, the first time and again', () => {
    fc.assert(
      fc.property(root, dotPath, pointer, fc.oneof(tree, fc.constant(undefined)), (t, p, q, value) => {
        for (let i = 0; i < 2; i++) {
          expect(written(t, (c) => setPath(c, p, value))).toStrictEqual(
            written(t, (c) => {
              if (value !== undefined) setAtKeys(c, pathKeys(p), value);
            }),
          );
          expect(written(t, (c) => setPointer(c, q, value))).toStrictEqual(
            written(t, (c) => {
              if (value !== undefined) setAtKeys(c, pointerKeys(q), value);
            }),
          );
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('refuse what they refused before, every time', () => {
    for (let i = 0; i < 2; i++) {
      expect(() => setPointer({}, 'no-slash', 1)).toThrow('not a JSON pointer');
      expect(() => setPath({}, '', 1)).toThrow('cannot set the root');
    }
  });
});
