/**
 * Claims on nachrichtenUUIDs shared by the processes of one installation (several `gw start` behind
 * a load balancer, one PostgreSQL): the cross-process half of the ingress's replay protection
 * (gateway/pipeline/message-id-claims.ts is the in-process half, and is asked first).
 */
export interface SharedMessageIdClaims {
  /**
   * Claims every id for this process, or none; while another process holds one of them, waits
   * until it releases it or its claim expires (its holder died). Rejects when closed.
   */
  claim(messageIds: readonly string[]): Promise<void>;
  /** Releases what `claim` took. */
  release(messageIds: readonly string[]): Promise<void>;
  close(): Promise<void>;
}
