/**
 * The SharedMessageIdClaims conformance suite (gateway/ports/shared-message-id-claims.ts): what every
 * implementation of the cross-process claims on nachrichtenUUIDs must honour. Instances opened on
 * one storage stand for the processes of one installation.
 *
 * - A claim takes all of a request's ids or none; a request that finds one held asks the trail
 *   (`refuseAccepted`) and is refused with its error, or else waits until the holder releases or its
 *   claim expires — bounded by `waitUntil`: then 503 GW_ERR_MESSAGE_ID_IN_FLIGHT, nothing claimed.
 * - Released after a refusal or a failure, the ids are free at once; after acceptance they are left
 *   to expire (the trail refuses them meanwhile).
 * - A living holder keeps its claims past the lease; a dead one (closed without releasing) loses
 *   them after it.
 * - Fencing: a holder that stalled past its lease and was taken over fails its `confirm` with 503
 *   GW_ERR_MESSAGE_ID_CLAIM_LOST, and its release does not free the new holder's claim.
 * - Many claimants of one id at once: exactly one holds it at any time.
 * - Closed, an instance claims nothing, and a claim waiting on it ends.
 *
 * Only the port is used to observe: whether an id is free is asked by claiming it from another
 * process with a short bound, never by reading the storage.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../../gateway/errors/catalogue.ts';
import type {
  SharedMessageIdClaims,
  SharedMessageIdLease,
} from '../../gateway/ports/shared-message-id-claims.ts';

export interface SharedMessageIdClaimsFixture {
  /**
   * Another process of the installation: an instance on the fixture's storage. `leaseMs`: how long
   * its claims outlive its last renewal (an implementation's default when absent).
   */
  open(options?: { leaseMs?: number }): Promise<SharedMessageIdClaims>;
  /**
   * The instance stalls as a stopped VM or a blocked event loop would: its renewals no longer reach
   * the storage, until the returned function resumes it. Its calls of the port still do.
   */
  stall(claims: SharedMessageIdClaims): () => void;
  cleanup(): Promise<void>;
}

/** The trail's answer while nothing was accepted. */
const nothingAccepted = async (): Promise<void> => {};
const FAILED = { accepted: false };
const ACCEPTED = { accepted: true };
/** A lease short enough for tests to outlive it, long enough for a busy 2-core machine to renew it. */
const LEASE_MS = 800;

/** The error `promise` rejects with, as a GatewayError. */
async function gatewayErrorOf(promise: Promise<unknown> | undefined): Promise<GatewayError> {
  const error = await Promise.resolve(promise).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof GatewayError)) throw new Error(`expected a GatewayError, got ${String(error)}`);
  return error;
}

/** Whether `promise` is still pending after `ms`. */
async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const marker = Symbol('pending');
  const result = await Promise.race([promise, new Promise((r) => setTimeout(() => r(marker), ms))]);
  return result === marker;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function runSharedMessageIdClaimsConformance(
  name: string,
  fixture: () => Promise<SharedMessageIdClaimsFixture>,
): void {
  describe(`SharedMessageIdClaims conformance (${name})`, () => {
    let f: SharedMessageIdClaimsFixture;
    const opened: SharedMessageIdClaims[] = [];
    let unique = 0;
    /** Ids of this test only (the storage may be shared by the suite's tests). */
    let ids: (...names: string[]) => string[];

    const open = async (leaseMs?: number) => {
      const claims = await f.open(leaseMs === undefined ? {} : { leaseMs });
      opened.push(claims);
      return claims;
    };

    /**
     * Whether another process can claim every id within `ms` (and then gives them back): the
     * port's own answer to "is it free?". False: it gave up, 503 GW_ERR_MESSAGE_ID_IN_FLIGHT.
     */
    const claimableWithin = async (ms: number, messageIds: string[]): Promise<boolean> => {
      const observer = await open();
      try {
        await observer.claim(messageIds, nothingAccepted, { waitUntil: performance.now() + ms });
      } catch (error) {
        if (error instanceof GatewayError && error.code === 'GW_ERR_MESSAGE_ID_IN_FLIGHT') return false;
        throw error;
      }
      await observer.release(messageIds, FAILED);
      return true;
    };

    beforeEach(async () => {
      f = await fixture();
      const test = ++unique;
      ids = (...names) => names.map((n) => `${n}-${test}-${process.pid}`);
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((c) => c.close()));
      await f.cleanup();
    });

    it('a claim released after a refusal or failure is free at once for another process', async () => {
      const [x, y] = ids('x', 'y');
      const a = await open();
      await a.claim([x!, y!], nothingAccepted);
      expect(await claimableWithin(200, [x!])).toBe(false);
      await a.release([x!, y!], FAILED);
      const started = performance.now();
      expect(await claimableWithin(LEASE_MS, [x!, y!])).toBe(true);
      expect(performance.now() - started).toBeLessThan(LEASE_MS);
    });

    it('claims every id of a request or none: one held id leaves the others unclaimed', async () => {
      const [x, y, z] = ids('x', 'y', 'z');
      const a = await open();
      const b = await open();
      await a.claim([y!], nothingAccepted);
      const error = await gatewayErrorOf(
        b.claim([z!, y!, x!], nothingAccepted, { waitUntil: performance.now() + 300 }),
      );
      expect(error.code).toBe('GW_ERR_MESSAGE_ID_IN_FLIGHT');
      // b holds neither z nor x, which nobody else holds; a still holds y.
      expect(await claimableWithin(200, [z!, x!])).toBe(true);
      expect(await claimableWithin(200, [y!])).toBe(false);
    });

    it('a second claimant asks the trail and, nothing accepted, waits until the holder releases', async () => {
      const [x] = ids('x');
      const a = await open();
      const b = await open();
      await a.claim([x!], nothingAccepted);
      let askedTrail = 0;
      const waiting = b.claim([x!], async () => {
        askedTrail++;
      });
      expect(await pendingAfter(waiting, 300)).toBe(true);
      expect(askedTrail).toBeGreaterThan(0);
      await a.release([x!], FAILED);
      const lease = await waiting;
      await lease.confirm();
      expect(await claimableWithin(200, [x!])).toBe(false);
    });

    it("the trail's refusal ends the wait at once, with its error and nothing claimed", async () => {
      const [x, y] = ids('x', 'y');
      const a = await open();
      const b = await open();
      await a.claim([x!], nothingAccepted);
      await a.release([x!], ACCEPTED);
      const started = performance.now();
      const refused = new Error(`${x} was accepted`);
      await expect(
        b.claim([y!, x!], async () => {
          throw refused;
        }),
      ).rejects.toBe(refused);
      expect(performance.now() - started).toBeLessThan(LEASE_MS / 2);
      expect(await claimableWithin(200, [y!])).toBe(true);
    });

    it('an accepted request leaves its claims to expire: held for about a lease, then free', async () => {
      const [x] = ids('x');
      const a = await open(LEASE_MS);
      const b = await open(LEASE_MS);
      await a.claim([x!], nothingAccepted);
      const releasedAt = performance.now();
      await a.release([x!], ACCEPTED);
      // A trail that says nothing (as if the accepted entry were not visible yet): b waits for the expiry.
      await b.claim([x!], nothingAccepted);
      const waited = performance.now() - releasedAt;
      expect(waited).toBeGreaterThanOrEqual(LEASE_MS / 2);
      expect(waited).toBeLessThan(LEASE_MS + 2_000);
    });

    it('a living holder keeps its claims beyond the lease, however long its request takes', async () => {
      const [x] = ids('x');
      const a = await open(LEASE_MS);
      const b = await open(LEASE_MS);
      const lease = await a.claim([x!], nothingAccepted);
      const waiting = b.claim([x!], nothingAccepted);
      expect(await pendingAfter(waiting, LEASE_MS * 3)).toBe(true);
      await lease.confirm();
      await a.release([x!], FAILED);
      await waiting;
    });

    it('a holder that dies (closed without releasing) holds its ids for at most a lease', async () => {
      const [x, y] = ids('x', 'y');
      const dead = await open(LEASE_MS);
      const b = await open(LEASE_MS);
      await dead.claim([x!, y!], nothingAccepted);
      await dead.close();
      const diedAt = performance.now();
      await b.claim([y!, x!], nothingAccepted);
      const waited = performance.now() - diedAt;
      expect(waited).toBeGreaterThanOrEqual(LEASE_MS / 2);
      expect(waited).toBeLessThan(LEASE_MS + 2_000);
    });

    it('waiting ends at waitUntil, not at the end of the lease: 503 GW_ERR_MESSAGE_ID_IN_FLIGHT with Retry-After', async () => {
      const [x] = ids('x');
      // The default lease (long): the bound, not the holder's expiry, ends the wait.
      const a = await open();
      const b = await open();
      await a.claim([x!], nothingAccepted);
      const started = performance.now();
      const error = await gatewayErrorOf(
        b.claim([x!], nothingAccepted, { waitUntil: performance.now() + 300 }),
      );
      const waited = performance.now() - started;
      expect(error.code).toBe('GW_ERR_MESSAGE_ID_IN_FLIGHT');
      expect(error.status).toBe(503);
      expect(Number(error.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(waited).toBeGreaterThanOrEqual(290);
      expect(waited).toBeLessThan(2_000);
    });

    it('a fresh lease confirms', async () => {
      const [x, y] = ids('x', 'y');
      const a = await open();
      const lease = await a.claim([x!, y!], nothingAccepted);
      await expect(Promise.resolve(lease.confirm())).resolves.toBeUndefined();
    });

    it("fencing: a holder that stalled past its lease and was taken over fails its confirm; its release leaves the new holder's claim alone", async () => {
      const [x] = ids('x');
      const a = await open(LEASE_MS);
      const b = await open(LEASE_MS);
      const stale = await a.claim([x!], nothingAccepted);
      const resume = f.stall(a);
      let current: SharedMessageIdLease;
      try {
        // a's renewals do not arrive: b takes the id over once a's lease expired.
        current = await b.claim([x!], nothingAccepted);
      } finally {
        resume();
      }
      const error = await gatewayErrorOf(stale.confirm());
      expect(error.code).toBe('GW_ERR_MESSAGE_ID_CLAIM_LOST');
      expect(error.status).toBe(503);
      expect(error.headers['retry-after']).toBeDefined();
      // Asked again, the answer stays the same: the claim is not a's any more.
      expect((await gatewayErrorOf(stale.confirm())).code).toBe('GW_ERR_MESSAGE_ID_CLAIM_LOST');
      // a gives up its request: b's claim stays b's.
      await a.release([x!], FAILED);
      expect(await claimableWithin(300, [x!])).toBe(false);
      await current.confirm();
      // Still b's after a's renewals had a chance to run again.
      await sleep(LEASE_MS / 2);
      expect(await claimableWithin(300, [x!])).toBe(false);
      await b.release([x!], FAILED);
      expect(await claimableWithin(LEASE_MS, [x!])).toBe(true);
    });

    it('many processes claiming one id at once: exactly one gets it', async () => {
      const [x] = ids('x');
      const processes = await Promise.all(Array.from({ length: 6 }, () => open()));
      const waitUntil = performance.now() + 500;
      const outcomes = await Promise.allSettled(
        processes.map((p) => p.claim([x!], nothingAccepted, { waitUntil })),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      for (const o of outcomes)
        if (o.status === 'rejected')
          expect((o.reason as GatewayError).code).toBe('GW_ERR_MESSAGE_ID_IN_FLIGHT');
    });

    it('many processes taking turns on overlapping batches: never two holders of one id, no deadlock', async () => {
      const processes = await Promise.all(Array.from({ length: 4 }, () => open()));
      const pool = ids('a', 'b', 'c', 'd', 'e');
      const holding = new Map<string, number>();
      let overlaps = 0;
      let turns = 0;
      await Promise.all(
        processes.map(async (p, n) => {
          for (let round = 0; round < 6; round++) {
            // Overlapping batches, in different orders.
            const batch = [pool[(n + round) % 5]!, pool[(n + round + 2) % 5]!];
            if (n % 2 === 1) batch.reverse();
            await p.claim(batch, nothingAccepted);
            for (const id of batch) {
              if (holding.has(id)) overlaps++;
              holding.set(id, n);
            }
            // Held across event-loop turns, while the others try.
            await sleep(5);
            for (const id of batch) holding.delete(id);
            turns++;
            await p.release(batch, FAILED);
          }
        }),
      );
      expect(overlaps).toBe(0);
      expect(turns).toBe(24);
      expect(await claimableWithin(300, pool)).toBe(true);
    });

    it("one process's concurrent requests: a held id makes only its own request wait", async () => {
      const [held, ...free] = ids('held', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6');
      const a = await open();
      const b = await open();
      await a.claim([held!], nothingAccepted);
      const blocked = b.claim([free[0]!, held!], nothingAccepted);
      const others = free.slice(1).map((id) => b.claim([id], nothingAccepted));
      await Promise.all(others);
      expect(await pendingAfter(blocked, 200)).toBe(true);
      // The blocked request holds nothing meanwhile.
      expect(await claimableWithin(200, [free[0]!])).toBe(true);
      await a.release([held!], FAILED);
      await blocked;
      expect(await claimableWithin(200, [free[0]!])).toBe(false);
      expect(await claimableWithin(200, [held!])).toBe(false);
    });

    it('closed, it claims nothing, and a claim waiting on it ends', async () => {
      const [x, y] = ids('x', 'y');
      const a = await open();
      const b = await open();
      await a.claim([x!], nothingAccepted);
      const waiting = b.claim([x!], nothingAccepted);
      const waitingOutcome = waiting.then(
        () => 'claimed',
        () => 'rejected',
      );
      expect(await pendingAfter(waiting, 100)).toBe(true);
      await b.close();
      expect(await Promise.race([waitingOutcome, sleep(LEASE_MS * 2).then(() => 'still waiting')])).toBe(
        'rejected',
      );
      await expect(b.claim([y!], nothingAccepted)).rejects.toThrow();
      // Nothing of b's was left behind: y is free.
      expect(await claimableWithin(200, [y!])).toBe(true);
    });
  });
}
