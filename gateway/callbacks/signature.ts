/**
 * HMAC signatures of callbacks, as FIT-Connect signs its callbacks: the gateway POSTs a JSON body
 * with
 *
 *   callback-timestamp:      unix time in seconds when the request was signed
 *   callback-authentication: hex HMAC-SHA256 over `${timestamp}.${body}` with the system's secret
 *
 * Receivers verify with `verifyCallback` (exported for them; no gateway code needed besides this
 * file): the signature in constant time, the timestamp within `maxAgeSeconds` (default 300) of
 * their clock, and — with a ReplayGuard — that the same signature was not accepted before.
 * Every attempt of a retried callback is signed afresh, so a retry is not a replay.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const CALLBACK_SIGNATURE_HEADER = 'callback-authentication';
export const CALLBACK_TIMESTAMP_HEADER = 'callback-timestamp';
export const DEFAULT_MAX_AGE_SECONDS = 300;

/** Hex HMAC-SHA256 of `${timestamp}.${body}`. */
export function callbackSignature(secret: string | Buffer, timestamp: number, body: string | Buffer): string {
  return createHmac('sha256', secret)
    .update(`${timestamp}.`, 'utf8')
    .update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body)
    .digest('hex');
}

/** The two headers for a callback `body` signed at `timestamp` (unix seconds). */
export function signCallback(
  secret: string | Buffer,
  body: string | Buffer,
  timestamp: number,
): Record<typeof CALLBACK_SIGNATURE_HEADER | typeof CALLBACK_TIMESTAMP_HEADER, string> {
  return {
    [CALLBACK_TIMESTAMP_HEADER]: String(timestamp),
    [CALLBACK_SIGNATURE_HEADER]: callbackSignature(secret, timestamp, body),
  };
}

/**
 * Remembers accepted signatures until their timestamp is too old to pass anyway, so memory stays
 * bounded by the callbacks of `maxAgeSeconds`. One per receiver process (a receiver with several
 * processes shares the same idea through its own store).
 *
 * Constant time per call, amortised: signatures are queued in the order they were accepted, and each
 * call drops the expired ones from the front of the queue only, each once. (Not by deleting from
 * the front of a Map while iterating it afresh each call: V8 skips the deleted slots one by one
 * until the table is compacted, which is linear per call again.) Callbacks come about in the order
 * of their timestamps; one that expires later than those after it keeps them (expired, never
 * counted as seen) until it expires itself — with verifyCallback's window, at most twice
 * `maxAgeSeconds` after they were accepted.
 */
export class ReplayGuard {
  /** Signature → when it expires. */
  private readonly seen = new Map<string, number>();
  /** The signatures in the order accepted, from `head` on; the slots before it are done with. */
  private queue: { signature: string; expiresAtMs: number }[] = [];
  private head = 0;

  /** Records `signature`; false if it was recorded before and has not expired. */
  remember(signature: string, expiresAtMs: number, nowMs: number): boolean {
    this.expire(nowMs);
    const expires = this.seen.get(signature);
    if (expires !== undefined && expires > nowMs) return false;
    this.seen.set(signature, expiresAtMs);
    this.queue.push({ signature, expiresAtMs });
    return true;
  }

  /** Signatures kept, counting expired ones behind one that has not expired yet. */
  get size(): number {
    return this.seen.size;
  }

  private expire(nowMs: number): void {
    const { queue } = this;
    while (this.head < queue.length && queue[this.head]!.expiresAtMs <= nowMs) {
      const { signature, expiresAtMs } = queue[this.head++]!;
      // Unless accepted again after it expired (queued anew, further back).
      if (this.seen.get(signature) === expiresAtMs) this.seen.delete(signature);
    }
    // The done slots go once they are half the queue: each slot is copied at most once on average.
    if (this.head > 1024 && this.head * 2 > queue.length) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    }
  }
}

export type CallbackVerification =
  | { ok: true; timestamp: number }
  | {
      ok: false;
      reason:
        | 'missing-headers'
        | 'malformed-timestamp'
        | 'too-old'
        | 'from-the-future'
        | 'bad-signature'
        | 'replayed';
    };

export interface VerifyCallbackInput {
  secret: string | Buffer;
  /** The raw request body, exactly as received. */
  body: string | Buffer;
  /** Request headers (lower-case names, as node:http gives them). */
  headers: Record<string, string | string[] | undefined>;
  /** Default: the system clock. */
  now?: Date;
  /** Default 300 s; also the tolerated clock skew into the future. */
  maxAgeSeconds?: number;
  /** Without one, replays inside the time window are not detected. */
  replayGuard?: ReplayGuard;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
}

/** Verifies a received callback; accept its body only when `ok`. */
export function verifyCallback(input: VerifyCallbackInput): CallbackVerification {
  const signature = single(input.headers[CALLBACK_SIGNATURE_HEADER]);
  const stamp = single(input.headers[CALLBACK_TIMESTAMP_HEADER]);
  if (!signature || !stamp) return { ok: false, reason: 'missing-headers' };
  if (!/^\d{1,12}$/.test(stamp)) return { ok: false, reason: 'malformed-timestamp' };
  const timestamp = Number(stamp);
  const nowMs = (input.now ?? new Date()).getTime();
  const maxAge = input.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
  const ageSeconds = nowMs / 1000 - timestamp;
  if (ageSeconds > maxAge) return { ok: false, reason: 'too-old' };
  if (ageSeconds < -maxAge) return { ok: false, reason: 'from-the-future' };
  if (!/^[0-9a-f]{64}$/i.test(signature)) return { ok: false, reason: 'bad-signature' };
  const expected = Buffer.from(callbackSignature(input.secret, timestamp, input.body), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex')))
    return { ok: false, reason: 'bad-signature' };
  // Only a genuine signature is remembered: a forger cannot fill the guard.
  if (
    input.replayGuard &&
    !input.replayGuard.remember(signature.toLowerCase(), (timestamp + maxAge) * 1000, nowMs)
  )
    return { ok: false, reason: 'replayed' };
  return { ok: true, timestamp };
}
