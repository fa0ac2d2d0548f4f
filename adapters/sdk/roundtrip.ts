/**
 * The property-based round trip (fast-check; test tooling, imported only by the kit): for every
 * message type an adapter both decodes and encodes, generate valid standard messages (the
 * catalogue's arbitraries: nasty text, every code of every list, edge dates), constrain them to
 * what the native format can carry (the adapter's RoundTripSpec), and check decode(encode(m)) = m.
 * A failure names the shrunk counterexample's first difference and the seed to replay it.
 */
import fc from 'fast-check';
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import { catalogue } from '../../standards/index.ts';
import { messageArbitrary } from '../../standards/xoev/testing/arbitrary.ts';
import { validateMessage } from '../../standards/xoev/xml-codec.ts';
import { type Adapter, handlesType } from './adapter.ts';
import { decodeAll, difference, type FixtureResult, fixtureContext } from './testkit.ts';

export const DEFAULT_RUNS = 100;

/** Catalogued message types the adapter maps both ways. */
export function roundTripTypes(adapter: Adapter): MessageTypeSpec[] {
  return catalogue
    .standards()
    .flatMap((v) => v.messageTypes)
    .filter(
      (spec) =>
        handlesType(adapter.spec.decodes.messageTypes, spec) &&
        handlesType(adapter.spec.encodes.messageTypes, spec),
    );
}

function runsFor(adapter: Adapter, override?: number): number {
  const env = Number(process.env.GW_ADAPTER_ROUNDTRIP_RUNS);
  return override ?? (Number.isInteger(env) && env > 0 ? env : (adapter.roundTrip?.runs ?? DEFAULT_RUNS));
}

/** The constrained message, or undefined when constraining left something the schema refuses. */
function constrained(
  adapter: Adapter,
  spec: MessageTypeSpec,
  generated: XoevMessage,
): XoevMessage | undefined {
  const message = adapter.roundTrip ? adapter.roundTrip.constrain(generated, spec) : generated;
  try {
    return validateMessage(spec, message);
  } catch {
    return undefined;
  }
}

function roundTripOne(adapter: Adapter, spec: MessageTypeSpec, message: XoevMessage): string {
  const context = fixtureContext(message);
  const native = adapter.encode(message, spec, context);
  const back = decodeAll(adapter, native.body, native.contentType, context);
  if (back.length !== 1) return `encode then decode gave ${back.length} messages`;
  if (back[0]!.spec.id !== spec.id) return `decoded as ${back[0]!.spec.id}`;
  return difference(back[0]!.message, message);
}

export function propertyRoundTrip(
  adapter: Adapter,
  options: { runs?: number; seed?: number } = {},
): FixtureResult[] {
  const numRuns = runsFor(adapter, options.runs);
  return roundTripTypes(adapter).map((spec) => {
    const name = `${spec.id} ×${numRuns}`;
    let discarded = 0;
    const property = fc.property(messageArbitrary(spec, { maxTextLength: 16 }), (generated) => {
      const message = constrained(adapter, spec, generated);
      if (!message) {
        discarded++;
        fc.pre(false);
        return;
      }
      const detail = roundTripOne(adapter, spec, message);
      if (detail) throw new Error(detail);
    });
    const result = fc.check(property, { numRuns, seed: options.seed, maxSkipsPerRun: 10 });
    if (!result.failed) {
      return {
        name,
        check: 'property-roundtrip' as const,
        ok: true,
        detail: discarded > 0 ? `${discarded} generated messages did not survive constrain()` : undefined,
      };
    }
    const generated = result.counterexample?.[0] as XoevMessage | undefined;
    const counterexample = generated && constrained(adapter, spec, generated);
    const reason =
      result.errorInstance instanceof Error
        ? result.errorInstance.message
        : `too many generated messages (${discarded}) did not survive constrain()`;
    return {
      name,
      check: 'property-roundtrip' as const,
      ok: false,
      detail: `${reason} (seed ${result.seed}${
        counterexample ? `; message ${JSON.stringify(counterexample).slice(0, 600)}` : ''
      })`,
    };
  });
}
