/**
 * Delivering receipts to systems whose adapter does not map them. None of the demo world's native
 * formats has a receipt record (their adapters encode the domain's business messages only), and a
 * receipt must not end in the dead-letter queue for that. Decision: such a system gets the receipt
 * as the standard document itself (`application/xml`, the canonical XÖV form the gateway sealed),
 * in its inbox payload or push body; in pull mode the sealed document is beside it as always.
 * An adapter that declares the receipt type in `spec.encodes.messageTypes` maps it as usual.
 */
import { type Adapter, handlesType } from '../../adapters/sdk/adapter.ts';
import { AdapterRegistry } from '../../adapters/sdk/registry.ts';
import { toCanonicalXml } from '../../standards/xoev/xml-codec.ts';
import { isReceiptType } from './receipt-type.ts';

export const RECEIPT_FALLBACK_CONTENT_TYPE = 'application/xml';

/** The adapter, except that receipts it does not map are delivered as the standard document. */
export function withReceiptFallback(adapter: Adapter): Adapter {
  return {
    spec: adapter.spec,
    ...(adapter.roundTrip ? { roundTrip: adapter.roundTrip } : {}),
    decode: (input, context) => adapter.decode(input, context),
    encode(message, spec, context) {
      if (isReceiptType(spec) && !handlesType(adapter.spec.encodes.messageTypes, spec)) {
        return {
          body: Buffer.from(toCanonicalXml(spec, message), 'utf8'),
          contentType: RECEIPT_FALLBACK_CONTENT_TYPE,
        };
      }
      return adapter.encode(message, spec, context);
    },
  };
}

/** A registry holding every adapter of `registry` with the receipt fallback. */
export function registryWithReceiptFallback(registry: AdapterRegistry): AdapterRegistry {
  const wrapped = new AdapterRegistry();
  for (const adapter of registry.all()) wrapped.register(withReceiptFallback(adapter));
  return wrapped;
}
