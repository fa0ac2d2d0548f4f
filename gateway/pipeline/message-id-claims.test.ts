import { describe, expect, it } from 'vitest';
import { type MessageIdClaim, MessageIdClaims, messageIdInFlight } from './message-id-claims.ts';

function claimed(claim: MessageIdClaim): { release(): void } {
  if (!claim.claimed) throw new Error(`not claimed: ${claim.heldId} is held`);
  return claim;
}

describe('message id claims', () => {
  it('lets one of two requests with the same id in, until it releases', () => {
    const claims = new MessageIdClaims();
    const first = claimed(claims.claim(['a']));
    expect(claims.claim(['a'])).toMatchObject({ claimed: false, heldId: 'a' });
    first.release();
    // Released after a failure (or a refusal): the sender's retry gets the id again.
    claimed(claims.claim(['a']));
    expect(claims.size).toBe(1);
  });

  it('tells a request that found an id held when the holder released it', async () => {
    const claims = new MessageIdClaims();
    const holder = claimed(claims.claim(['a', 'b']));
    const waiting = claims.claim(['b']);
    if (waiting.claimed || !waiting.released) throw new Error('expected a wait for the holder');
    let woken = false;
    const woke = waiting.released.then(() => {
      woken = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(woken).toBe(false);
    holder.release();
    await woke;
    claimed(claims.claim(['b']));
  });

  it('claims a batch all or none', () => {
    const claims = new MessageIdClaims();
    claimed(claims.claim(['b']));
    // 'b' is held: none of the batch is claimed, not even the ids before it.
    expect(claims.claim(['a', 'b', 'c'])).toMatchObject({ claimed: false, heldId: 'b' });
    expect(claims.size).toBe(1);
    claimed(claims.claim(['a']));
    claimed(claims.claim(['c']));
    expect(claims.size).toBe(3);
  });

  it('releases every id of a batch, and a batch blocks each of its ids while held', () => {
    const claims = new MessageIdClaims();
    const batch = claimed(claims.claim(['a', 'b', 'c']));
    for (const id of ['a', 'b', 'c'])
      expect(claims.claim(['x', id])).toMatchObject({ claimed: false, heldId: id });
    expect(claims.size).toBe(3);
    batch.release();
    expect(claims.size).toBe(0);
    claimed(claims.claim(['c', 'b', 'a']));
  });

  it('refuses a request carrying one id twice without a wait (it would wait for itself), and holds nothing for it', () => {
    const claims = new MessageIdClaims();
    expect(claims.claim(['a', 'b', 'a'])).toEqual({ claimed: false, heldId: 'a' });
    expect(claims.size).toBe(0);
  });

  it('releases once: a second release does not free an id another request claimed since', () => {
    const claims = new MessageIdClaims();
    const first = claimed(claims.claim(['a']));
    first.release();
    claimed(claims.claim(['a']));
    first.release();
    expect(claims.claim(['a'])).toMatchObject({ claimed: false, heldId: 'a' });
  });
  it('confirms a claim for nothing: one process cannot lose it to another', () => {
    const claims = new MessageIdClaims();
    const claim = claims.claim(['a']);
    if (!claim.claimed) throw new Error('expected the claim');
    expect(claim.confirm()).toBeUndefined();
  });

  it('answers a request that gave up waiting with a retryable 503', () => {
    const error = messageIdInFlight('a', 2_500);
    expect(error).toMatchObject({ code: 'GW_ERR_MESSAGE_ID_IN_FLIGHT', status: 503 });
    expect(error.headers['retry-after']).toBe('3');
  });
});
