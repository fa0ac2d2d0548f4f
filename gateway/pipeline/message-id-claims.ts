/**
 * The nachrichtenUUIDs this process is accepting right now. The replay check asks the audit store
 * whether an id was accepted, but `accepted` is written only after sealing and publishing: two
 * requests with one id in the ingress at once (a sender's double send, an attacker replaying a
 * captured request) would both find the store silent and both be published. A request therefore
 * claims its ids here first, synchronously (no await between looking and taking), and holds them
 * until it is answered: accepted, the store answers for the id from then on; refused or failed, the
 * id is free again, so that a sender's retry after a 503 goes through.
 *
 * A request that finds an id held waits for the holder to be answered and then tries again (the
 * ingress does): 409 means "already accepted" (errors/catalogue.ts), so a sender may drop a message
 * it gets 409 for, and answering it while the holder may still fail could lose the message.
 *
 * The wait is bounded (config messageIdWaitMs, messageIdInFlight below): a holder normally answers
 * in milliseconds, and one that does not (a publish hanging on the bus) must not hold its waiters'
 * HTTP requests open for as long as it hangs.
 *
 * In-process only; processes sharing PostgreSQL claim their ids there as well, after these
 * (ports/shared-message-id-claims.ts, pg-message-id-leases.ts).
 */
import { GatewayError } from '../errors/catalogue.ts';

export type MessageIdClaim =
  | {
      claimed: true;
      release(): void;
      /**
       * Whether the ids are still this request's, asked right before publishing: always, here (one
       * process, and a claim is only given up by its own request); undefined means "yes, at once".
       */
      confirm(): undefined;
    }
  | {
      claimed: false;
      /** The first id of the request that is held. Nothing was claimed. */
      heldId: string;
      /** Resolves once the holder released its ids; absent if the holder is this request (an id twice). */
      released?: Promise<void>;
    };

/** One request's claim: its ids map to it while it holds them. */
interface Holding {
  /** Requests waiting for this one to be answered (created only when one waits). */
  waiting?: (() => void)[];
}

export class MessageIdClaims {
  private readonly held = new Map<string, Holding>();

  /** Claims every id of a request, or none of them. */
  claim(messageIds: readonly string[]): MessageIdClaim {
    const holding: Holding = {};
    for (let i = 0; i < messageIds.length; i++) {
      const id = messageIds[i]!;
      const holder = this.held.get(id);
      if (holder !== undefined) {
        // Undo this request's own claims: all or none.
        for (let j = 0; j < i; j++) this.held.delete(messageIds[j]!);
        if (holder === holding) return { claimed: false, heldId: id };
        holder.waiting ??= [];
        const waiting = holder.waiting;
        return { claimed: false, heldId: id, released: new Promise((resolve) => waiting.push(resolve)) };
      }
      this.held.set(id, holding);
    }
    return {
      claimed: true,
      confirm: heldHere,
      release: () => {
        // Only what is still this request's: a second release must not free another request's claim.
        for (const id of messageIds) if (this.held.get(id) === holding) this.held.delete(id);
        const waiting = holding.waiting;
        holding.waiting = undefined;
        if (waiting) for (const wake of waiting) wake();
      },
    };
  }

  /** How many ids are held (tests, diagnostics). */
  get size(): number {
    return this.held.size;
  }
}

/** An in-process claim cannot be lost: nothing to ask, nothing to wait for. */
function heldHere(): undefined {
  return undefined;
}

/**
 * The answer to a request that waited `waitedMs` for the holder of one of its ids (in this process
 * or another one) and gave up: nothing was claimed or published, and the sender's retry decides (the
 * holder accepted: 409; it failed or its claim lapsed: accepted).
 */
export function messageIdInFlight(heldId: string | undefined, waitedMs: number): GatewayError {
  return new GatewayError(
    'GW_ERR_MESSAGE_ID_IN_FLIGHT',
    `${heldId ? `nachrichtenUUID ${heldId}` : 'a nachrichtenUUID of the request'} is held by another request still in flight after ${waitedMs} ms; retry later`,
    { headers: { 'retry-after': String(Math.max(1, Math.ceil(waitedMs / 1000))) } },
  );
}
