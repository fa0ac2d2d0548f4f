/**
 * The message of a document under the gateway's own seal, read for delivery.
 *
 * Only the gateway's seal key signs what the delivery stage is handed (the verifier pins the
 * gateway's signing certificates), and the gateway seals a message only after validateMessage
 * passed on exactly that message: ingress validates every message it accepts, the version bridge
 * validates what it converts, and receipts are validated when they are built. A verified seal is
 * therefore the evidence that the schema check (zod, code lists, refinements) already held for
 * the sealed content; running it again per delivered record was about a seventh of the delivery
 * stage's main-thread time (profile of the embedded bench). The test beside this file checks, for
 * every standard document in the adapters' fixtures, that what is read equals what the schema
 * would hand back — it fails if a standard's schema starts to add defaults or transforms.
 *
 * What stays per record: the content is read from the verified element (fromElement, which is strict
 * about structure: no unknown or misplaced elements or attributes, typed scalars), and the header
 * fields the stage itself relies on are checked here, so that a document sealed by hand (`gw sign`)
 * without them is refused as permanently undeliverable instead of failing on every redelivery.
 */
import type { MessageTypeSpec, XoevMessage } from '../../standards/catalogue.ts';
import type { ReadableElement } from '../../standards/xoev/xml-codec.ts';
import { fromElement } from '../../standards/xoev/xml-codec.ts';

/** A sealed document that cannot be delivered as it is (not a message the stage can route). */
export class UnreadableSealedMessage extends Error {}

function present(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** The message of a verified seal's root element; throws UnreadableSealedMessage if it is not one. */
export function sealedMessage(spec: MessageTypeSpec, root: ReadableElement): XoevMessage {
  let read: unknown;
  try {
    read = fromElement(spec, root);
  } catch (error) {
    throw new UnreadableSealedMessage((error as Error).message);
  }
  const head = (read as { 'nachrichtenkopf.g2g'?: Record<string, Record<string, unknown> | undefined> })[
    'nachrichtenkopf.g2g'
  ];
  const id = head?.['identifikation.nachricht'];
  const typ = id?.nachrichtentyp as { code?: unknown } | undefined;
  if (
    !present(id?.nachrichtenUUID) ||
    !present(head?.autor?.kennung) ||
    !present(head?.leser?.kennung) ||
    typ?.code !== spec.code
  ) {
    throw new UnreadableSealedMessage(
      `${spec.id}: the header lacks nachrichtenUUID, autor or leser, or names another message type`,
    );
  }
  return read as XoevMessage;
}
