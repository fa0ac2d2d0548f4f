/**
 * Claims on nachrichtenUUIDs shared by the processes of one installation (several `gw start` behind
 * a load balancer, one PostgreSQL): the cross-process half of the ingress's replay protection
 * (gateway/pipeline/message-id-claims.ts is the in-process half, and is asked first).
 */
export interface SharedMessageIdClaims {
  /**
   * Claims every id for this process, or none. While another process holds one of them, first
   * calls `refuseAccepted` (it throws if the trail has one of the ids as accepted: a holder that
   * accepted leaves its claims to expire) and rejects with its error; else waits until the holder
   * releases it or its claim expires, and tries again. Rejects when closed. Resolves with the lease,
   * to be confirmed right before publishing.
   */
  claim(
    messageIds: readonly string[],
    refuseAccepted: () => Promise<void>,
    options?: {
      /**
       * performance.now() after which waiting for a holder ends: rejects with
       * GW_ERR_MESSAGE_ID_IN_FLIGHT, nothing claimed. Without it, waits until the holder's claim expires.
       */
      waitUntil?: number;
    },
  ): Promise<SharedMessageIdLease>;
  /**
   * Gives up what `claim` took, once the request was answered. Accepted: the claims are left to
   * expire, since the trail refuses the ids from now on. Refused or failed: they go at once, so
   * that a retry of the sender's does not wait.
   */
  release(messageIds: readonly string[], outcome: { accepted: boolean }): Promise<void>;
  close(): Promise<void>;
}

/** A claim `claim` took: the fencing check before the publish. */
export interface SharedMessageIdLease {
  /**
   * Rejects with GW_ERR_MESSAGE_ID_CLAIM_LOST unless the claims are still this request's and stay
   * so for the publish that follows (a holder that stalled past its lease may have lost them to
   * another process, which may have accepted the ids meanwhile). Undefined when that is known
   * without asking the database (a lease renewed recently enough): the common case costs nothing.
   */
  confirm(): Promise<void> | undefined;
}
