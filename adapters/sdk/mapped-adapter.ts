/**
 * An adapter made of declarations only: a native format, one declarative message mapping per
 * message type, and — when the system sends more than one type — the native field that tells them
 * apart. Most systems need nothing else; systems that do (one message over several records, say)
 * implement Adapter directly with the same pieces.
 *
 *   export default mappedAdapter({
 *     spec: { id: 'th-melde', title: 'Meldewesen Thüringen', land: 'TH' },
 *     format: csvFormat({ dialect, columns }),
 *     typeField: 'SATZART',
 *     messages: { RM: rueckmeldung, AW: auswertung },
 *   });
 */
import { GatewayError } from '../../gateway/errors/catalogue.ts';
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import type { Adapter, AdapterContext, AdapterSpec, DecodedMessage, RoundTripSpec } from './adapter.ts';
import type { NativeFormat } from './formats/native-format.ts';
import { acceptedText, Mapper } from './mapper.ts';
import type { DecodeScope } from './mapping/define.ts';
import type { MessageMapping } from './mapping/message-mapping.ts';
import { getAtPathKeys, pathKeys, setAtKeys } from './mapping/paths.ts';

const TYPE_POINTER = '/nachrichtenkopf.g2g/identifikation.nachricht/nachrichtentyp/code';

export interface MappedAdapterOptions {
  spec: Omit<AdapterSpec, 'format' | 'decodes' | 'encodes'> & { format?: string };
  format: NativeFormat;
  /** Native value of `typeField` → the mapping of that message type. */
  // biome-ignore lint/suspicious/noExplicitAny: each entry has its own message type
  messages: Record<string, MessageMapping<any>>;
  /** The native field naming the message type; omit when the system has one type only. */
  typeField?: string;
  /** Catalogue ids of the message types the system sends (default: all of `messages`). */
  sends?: readonly string[];
  /** Catalogue ids of the message types the system receives (default: all of `messages`). */
  receives?: readonly string[];
  roundTrip?: RoundTripSpec;
}

/** Pointers of a record's top-level mapping are already absolute. */
function absolutePointer(pointer: string): string {
  return pointer;
}

export function mappedAdapter(options: MappedAdapterOptions): Adapter {
  const { format, messages, typeField } = options;
  const entries = Object.entries(messages);
  if (entries.length === 0) throw new Error(`${options.spec.id}: no message mappings`);
  if (entries.length > 1 && !typeField)
    throw new Error(`${options.spec.id}: several message types need a typeField to tell them apart`);
  const names = entries.map(([, m]) => m.type.id);
  const sends = options.sends ?? names;
  const receives = options.receives ?? names;
  const byId = new Map(entries.map(([value, m]) => [m.type.id, { value, mapping: m }]));
  const output = format.write;
  const typeKeys = typeField ? pathKeys(typeField) : [];

  function select(tree: Record<string, unknown>, scope: DecodeScope) {
    if (!typeField) return entries[0]![1];
    const value = getAtPathKeys(tree, typeKeys);
    const text = acceptedText(value) ?? scope.mapper.text(value, scope.nativeName(typeField), TYPE_POINTER);
    if (!text) return undefined;
    // Own entries only: a type value such as `toString` must not find Object.prototype's.
    const mapping = Object.hasOwn(messages, text) ? messages[text] : undefined;
    if (!mapping || !sends.includes(mapping.type.id)) {
      const allowed = entries.filter(([, m]) => sends.includes(m.type.id)).map(([v]) => v);
      scope.mapper.fail(
        scope.nativeName(typeField),
        TYPE_POINTER,
        `unknown message type ${JSON.stringify(text)}; expected ${allowed.map((v) => JSON.stringify(v)).join(' or ')}`,
      );
      return undefined;
    }
    return mapping;
  }

  return {
    spec: {
      ...options.spec,
      format: options.spec.format ?? format.describe,
      decodes: { contentTypes: format.contentTypes, charset: format.charset, messageTypes: [...sends] },
      encodes: { contentType: format.contentTypes[0]!, messageTypes: [...receives] },
    },
    roundTrip: options.roundTrip,

    decode(input, context: AdapterContext): DecodedMessage[] {
      const records = format.read(input.body);
      const mapper = new Mapper();
      const decoded: DecodedMessage[] = [];
      for (const record of records) {
        const scope: DecodeScope = {
          mapper,
          context,
          nativeName: record.nativeName,
          pointerOf: absolutePointer,
        };
        const mapping = select(record.tree, scope);
        if (!mapping) continue;
        decoded.push({
          spec: mapping.type,
          message: mapping.decode(record.tree, scope),
          nativeRef: record.ref,
        });
      }
      return mapper.finish(decoded);
    },

    encode(message: XoevMessage, spec: MessageTypeSpec, context: AdapterContext) {
      const entry = byId.get(spec.id);
      // Coded: the message can never be written for this system, so delivery must not retry it.
      if (!entry || !receives.includes(spec.id))
        throw new GatewayError('GW_ERR_MAPPING_FAILED', `${options.spec.id} does not receive ${spec.id}`);
      const tree: Record<string, unknown> = {};
      if (typeField) setAtKeys(tree, typeKeys, entry.value);
      entry.mapping.encode(
        message,
        { context, nativeName: format.outputName, pointerOf: absolutePointer },
        tree,
      );
      return output([tree]);
    },
  };
}
