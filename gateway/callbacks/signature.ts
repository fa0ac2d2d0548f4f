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
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  /** Records `signature`; false if it was recorded before and has not expired. */
  remember(signature: string, expiresAtMs: number, nowMs: number): boolean {
    for (const [s, expires] of this.seen) if (expires <= nowMs) this.seen.delete(s);
    if (this.seen.has(signature)) return false;
    this.seen.set(signature, expiresAtMs);
    return true;
  }

  get size(): number {
    return this.seen.size;
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
