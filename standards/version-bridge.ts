/**
 * Version bridging: when a receiver does not accept the version a message is in, the gateway converts
 * it with a registered converter — up or down, one pair of versions at a time. Every conversion is
 * checked twice before it is used: the result must validate against the target version's schema, and
 * converting it back must give the original message exactly. A conversion that fails either check
 * is refused with GW_ERR_CONVERSION_LOSSY; nothing is ever dropped silently.
 *
 * To add a pair: write both directions (standards/<standard>/bridge-<a>-<b>.ts) and list them in
 * CONVERTERS. The catalogue API lists the pairs.
 */
import { GatewayError } from '../gateway/errors/catalogue.ts';
import type { MessageTypeSpec, XoevMessage } from './catalogue.ts';
import { catalogue } from './index.ts';
import { xmeld2505To2511, xmeld2511To2505 } from './xmeld/bridge-25.05-25.11.ts';
import { type Converter, firstDifference } from './xoev/conversion.ts';
import { validateMessage } from './xoev/xml-codec.ts';

const CONVERTERS: readonly Converter[] = [xmeld2505To2511, xmeld2511To2505];

const byPair = new Map<string, Converter>();
const pairKey = (standard: string, from: string, to: string) => `${standard}:${from}>${to}`;
for (const c of CONVERTERS) {
  const key = pairKey(c.standard, c.from, c.to);
  if (byPair.has(key)) throw new Error(`version bridge: ${key} registered twice`);
  for (const v of [c.from, c.to]) {
    if (!catalogue.get(c.standard, v))
      throw new Error(`version bridge: ${c.standard} ${v} is not in the catalogue`);
  }
  byPair.set(key, c);
}
for (const c of CONVERTERS) {
  // The lossless check converts back: a pair without its reverse cannot be checked.
  if (!byPair.has(pairKey(c.standard, c.to, c.from))) {
    throw new Error(`version bridge: ${c.standard} ${c.from} → ${c.to} has no converter back`);
  }
}

export interface Conversion {
  from: MessageTypeSpec;
  to: MessageTypeSpec;
  /** The converted message, valid in the target version; same nachrichtenUUID. */
  message: XoevMessage;
}

/**
 * Converts with `forward`, validates the result against the target version, converts it back with
 * `back` and requires the original message. Exported for tests of converters that are not registered.
 */
export function convertChecked(
  forward: Converter,
  back: Converter,
  spec: MessageTypeSpec,
  message: XoevMessage,
): Conversion {
  const target = catalogue.messageType(spec.standard, forward.to, spec.name);
  if (!target) throw new Error(`${spec.standard} ${forward.to} has no ${spec.name}`);
  let converted: XoevMessage;
  try {
    converted = validateMessage(target, forward.convert(message, spec));
  } catch (error) {
    if (!(error instanceof GatewayError) || error.code === 'GW_ERR_CONVERSION_LOSSY') throw error;
    throw new GatewayError(
      'GW_ERR_CONVERSION_LOSSY',
      `${spec.id} converted to ${forward.to} does not fit ${target.id}: ${error.message}`,
      { errors: error.errors, cause: error },
    );
  }
  const difference = firstDifference(message, validateMessage(spec, back.convert(converted, target)));
  if (difference !== undefined) {
    throw new GatewayError(
      'GW_ERR_CONVERSION_LOSSY',
      `${spec.id} → ${forward.to}: ${difference || '/'} does not survive the conversion`,
      { errors: [{ pointer: difference, detail: `lost or changed in ${spec.standard} ${forward.to}` }] },
    );
  }
  return { from: spec, to: target, message: converted };
}

export interface ConverterInfo {
  standard: string;
  from: string;
  to: string;
  messageTypes: readonly string[];
}

export const versionBridge = {
  /** Every registered pair, for the catalogue API. */
  converters(): ConverterInfo[] {
    return CONVERTERS.map(({ standard, from, to, messageTypes }) => ({ standard, from, to, messageTypes }));
  },

  /** True if a message of `spec` can be converted into `version` (it may still be refused as lossy). */
  canConvert(spec: MessageTypeSpec, version: string): boolean {
    const c = byPair.get(pairKey(spec.standard, spec.version, version));
    return !!c && c.messageTypes.includes(spec.name);
  },

  /**
   * Converts a valid message of `spec` into `version`. Throws GW_ERR_VERSION_NOT_ACCEPTED when no
   * converter exists, GW_ERR_CONVERSION_LOSSY when the target cannot carry the message.
   */
  convert(spec: MessageTypeSpec, message: XoevMessage, version: string): Conversion {
    const converter = byPair.get(pairKey(spec.standard, spec.version, version));
    const target = catalogue.messageType(spec.standard, version, spec.name);
    if (!converter || !target || !converter.messageTypes.includes(spec.name)) {
      throw new GatewayError(
        'GW_ERR_VERSION_NOT_ACCEPTED',
        `no converter from ${spec.standard} ${spec.version} to ${version} for ${spec.name}`,
      );
    }
    return convertChecked(
      converter,
      byPair.get(pairKey(spec.standard, version, spec.version))!,
      spec,
      message,
    );
  },

  /**
   * Bridges a message to a receiver that accepts `accepted` versions of its standard: undefined when
   * it already is in one of them, else the conversion to the first accepted version a converter
   * reaches. Throws GW_ERR_VERSION_NOT_ACCEPTED when none does, GW_ERR_CONVERSION_LOSSY when the
   * conversion would lose data.
   */
  bridge(spec: MessageTypeSpec, message: XoevMessage, accepted: readonly string[]): Conversion | undefined {
    if (accepted.includes(spec.version)) return undefined;
    const version = accepted.find((v) => versionBridge.canConvert(spec, v));
    if (version === undefined) {
      throw new GatewayError(
        'GW_ERR_VERSION_NOT_ACCEPTED',
        `the receiver accepts ${spec.standard} ${accepted.join(', ') || '(no version)'}, not ${spec.version}, and no converter bridges them`,
      );
    }
    return versionBridge.convert(spec, message, version);
  },
};
