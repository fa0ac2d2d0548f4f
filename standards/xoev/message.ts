/**
 * Small helpers on messages of any standard: the header, the message id, a fresh header.
 */
import { randomUUID } from 'node:crypto';
import type { XoevMessage } from '../catalogue.ts';
import { type CodeList, codeValue } from './codelist.ts';
import type { Behoerde, Nachrichtenkopf } from './nachrichtenkopf.ts';

/** The message's `nachrichtenkopf.g2g`. */
export function header(msg: XoevMessage): Nachrichtenkopf {
  return msg['nachrichtenkopf.g2g'];
}

/** The message's nachrichtenUUID: its id end to end (deduplication, audit, receipts). */
export function messageId(msg: XoevMessage): string {
  return msg['nachrichtenkopf.g2g']['identifikation.nachricht'].nachrichtenUUID;
}

export interface NewHeaderOptions {
  /** The standard version's nachrichtentyp code list (e.g. LISTS.nachrichtentyp of xmeld 25.11). */
  typeList: CodeList;
  /** The message type's code on that list (`0201`); throws if it is not on the list. */
  code: string;
  leser: Behoerde;
  autor: Behoerde;
  /** The nachrichtenUUID of the message this one answers. */
  referenzUUID?: string;
  /** Defaults to a fresh random (v4) UUID. */
  uuid?: string;
  /** Defaults to the current time; written with milliseconds and `Z`. */
  now?: Date;
}

/** Builds a `nachrichtenkopf.g2g`; `referenzUUID` is present only when given. */
export function newHeader(options: NewHeaderOptions): Nachrichtenkopf {
  const kopf: Nachrichtenkopf = {
    'identifikation.nachricht': {
      nachrichtenUUID: options.uuid ?? randomUUID(),
      nachrichtentyp: codeValue(options.typeList, options.code),
      erstellungszeitpunkt: (options.now ?? new Date()).toISOString(),
    },
    leser: { ...options.leser },
    autor: { ...options.autor },
  };
  if (options.referenzUUID !== undefined) kopf.referenzUUID = options.referenzUUID;
  return kopf;
}
