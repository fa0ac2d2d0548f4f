/**
 * The adapter interface: what an integrator implements to connect one system. An adapter only
 * translates between the system's native format and the catalogue's standard messages; it never
 * routes, signs, validates contracts or talks to the network — the gateway core does that.
 */
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';

export interface NativeInput {
  body: Buffer;
  /** Media type as sent by the system, without parameters except charset. */
  contentType: string;
}

export interface NativeOutput {
  body: Buffer;
  contentType: string;
}

export interface AdapterContext {
  /** A fresh RFC 4122 UUID for messages whose native form carries no id. */
  newUUID(): string;
  now(): Date;
  /** Looks a message type up in the standards catalogue. */
  messageType(standard: string, version: string, name: string): MessageTypeSpec;
}

/** One standard message decoded from native input, not yet validated. */
export interface DecodedMessage {
  spec: MessageTypeSpec;
  message: unknown;
  /** Where in the native input it came from (`record 3`, `$`), for error messages. */
  nativeRef: string;
}

export interface AdapterSpec {
  /** The system id this adapter serves by default (`sn-melde`); the directory may reuse an adapter for several systems. */
  id: string;
  title: string;
  /** Land code (SN, ST, TH) or BUND for federal systems. */
  land: string;
  /** Human description of the native format, for the generated docs. */
  format: string;
  /**
   * Message types as catalogue ids (`xmeld:25.11:rueckmeldung.auswertung.0203`) or bare names
   * (`rueckmeldung.auswertung.0203`: every catalogued version of that name).
   */
  decodes: {
    contentTypes: string[];
    /**
     * The charset the format decodes (`utf-8`, `windows-1252`, `iso-8859-1`): a request that declares
     * another one (`; charset=…`) is refused with 415 instead of being decoded as something it is not.
     */
    charset: string;
    messageTypes: string[];
  };
  encodes: { contentType: string; messageTypes: string[] };
}

/** True if `types` (ids or bare names, as in AdapterSpec) includes the message type `spec`. */
export function handlesType(types: readonly string[], spec: MessageTypeSpec): boolean {
  return types.includes(spec.id) || types.includes(spec.name);
}

/**
 * What the test kit's property-based round trip needs to know about the native format: which
 * standard messages it can carry. The kit generates valid messages of every type the adapter both
 * decodes and encodes, passes them through `constrain`, and checks decode(encode(m)) = m.
 */
export interface RoundTripSpec {
  /** What the native format cannot carry, one sentence each (printed by `gw adapter test`). */
  constraints: string[];
  /**
   * Maps a generated message onto one the native format can carry (strip characters the charset
   * lacks, clip to field widths, fix what the system does not transmit). Must return a message the
   * schema still accepts; the kit discards (and counts) the rare ones that are not.
   */
  constrain(message: XoevMessage, spec: MessageTypeSpec): XoevMessage;
  /** Runs per message type (default 100; GW_ADAPTER_ROUNDTRIP_RUNS overrides). */
  runs?: number;
}

export interface Adapter {
  spec: AdapterSpec;
  /** For adapters that map both ways; without it the kit checks the round trip unconstrained. */
  roundTrip?: RoundTripSpec;
  /** Native → standard. One input may carry many messages (a batch file). Throws AdapterError. */
  decode(input: NativeInput, context: AdapterContext): DecodedMessage[];
  /** Standard → native, for delivery to this system. The message is already verified and validated. */
  encode(message: XoevMessage, spec: MessageTypeSpec, context: AdapterContext): NativeOutput;
}

export function defineAdapter(adapter: Adapter): Adapter {
  return adapter;
}
