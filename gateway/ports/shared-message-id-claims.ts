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
   * releases it or its claim expires, and tries again. Rejects when closed.
   */
  claim(messageIds: readonly string[], refuseAccepted: () => Promise<void>): Promise<void>;
  /**
   * Gives up what `claim` took, once the request was answered. Accepted: the claims are left to
   * expire, since the trail refuses the ids from now on. Refused or failed: they go at once, so
   * that a retry of the sender's does not wait.
   */
  release(messageIds: readonly string[], outcome: { accepted: boolean }): Promise<void>;
  close(): Promise<void>;
}
