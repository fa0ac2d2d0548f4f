/**
 * validateMessage parses with zod's compiled fast path (z.compile) of each message type's schema.
 * Zod returns the fast path's value as it is when it accepts, so it must accept exactly what the
 * schema's runtime parser accepts and build the same value (same keys, same order: the canonical
 * XML follows the value). Rejections are parsed again by the runtime parser, so their issues are
 * the runtime's; this checks that too. Differential, on valid messages and on mutated ones.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { MessageTypeSpec } from '../catalogue.ts';
import { catalogue } from '../index.ts';
import { messageArbitrary } from './testing/arbitrary.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);

const specs: MessageTypeSpec[] = catalogue.standards().flatMap((s) => s.messageTypes);

type Container = Record<string, unknown> | unknown[];

/** Every object and array in `value` with the keys it holds. */
function containers(value: unknown, out: Container[] = []): Container[] {
  if (typeof value === 'object' && value !== null) {
    out.push(value as Container);
    for (const child of Object.values(value)) containers(child, out);
  }
  return out;
}

const replacement = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('', ' ', 'x'.repeat(300), '2026-02-30', 'ags:14612000', '\u2028', '\uFFFD', '\uD800'),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant([]),
  fc.constant({}),
);

/** A valid message with one value replaced, one key removed or one unknown key added. */
function mutated(spec: MessageTypeSpec) {
  return fc
    .tuple(
      messageArbitrary(spec),
      fc.nat(),
      fc.nat(),
      fc.constantFrom('replace', 'delete', 'add'),
      replacement,
    )
    .map(([message, at, key, action, value]) => {
      const copy = structuredClone(message);
      const all = containers(copy);
      const target = all[at % all.length]!;
      const keys = Object.keys(target);
      if (action === 'add' || keys.length === 0) (target as Record<string, unknown>).unbekannt = value;
      else {
        const k = keys[key % keys.length]!;
        if (action === 'delete') delete (target as Record<string, unknown>)[k];
        else (target as Record<string, unknown>)[k] = value;
      }
      return copy;
    });
}

function expectSameParse(spec: MessageTypeSpec, compiled: z.ZodType, input: unknown): void {
  const runtime = spec.schema.safeParse(input);
  const fast = compiled.safeParse(input);
  expect(fast.success).toBe(runtime.success);
  if (runtime.success) {
    expect(fast.data).toStrictEqual(runtime.data);
    expect(JSON.stringify(fast.data)).toBe(JSON.stringify(runtime.data));
  } else {
    expect(fast.error?.issues).toStrictEqual(runtime.error.issues);
  }
}

describe('z.compile of every catalogued schema parses as the runtime parser does', () => {
  it('compiles every schema to a fast path (none falls back to the runtime as a whole)', () => {
    for (const spec of specs) expect(() => z.compile(spec.schema, { strict: true })).not.toThrow();
  });

  for (const spec of specs) {
    const compiled = z.compile(spec.schema);
    it(`${spec.id}: valid and mutated messages`, () => {
      fc.assert(
        fc.property(messageArbitrary(spec, { maxTextLength: 40 }), (message) =>
          expectSameParse(spec, compiled, message),
        ),
        { numRuns: RUNS },
      );
      fc.assert(
        fc.property(mutated(spec), (input) => expectSameParse(spec, compiled, input)),
        { numRuns: RUNS * 3 },
      );
    }, 120_000);
  }
});
