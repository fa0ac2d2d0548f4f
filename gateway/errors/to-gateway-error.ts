/**
 * Which catalogued error an error that is not a GatewayError stands for: outages of a store or of the
 * bus (503, retry later), fastify's own refusals (4xx), and everything else (500). Shared by the
 * router's answer (http/problem.ts) and the audit of a failed message (audit/rejections.ts), so that
 * what is audited names the code the caller got.
 */
import { GatewayError } from './catalogue.ts';

/**
 * Connection failures of a store the gateway cannot work without (PostgreSQL restarting, refusing
 * or dropping connections): SQLSTATE class 08 (connection exception), 57P01–57P03 (admin shutdown,
 * crash shutdown, cannot connect now) and the socket errors of the driver. Nothing is wrong with
 * the request: the sender is told to retry (503 + Retry-After), not that the gateway broke (500).
 * Socket codes count only with a syscall: a client aborting its own upload (ECONNRESET "aborted")
 * has none and is not a store outage.
 */
const STORE_SQLSTATES = new Set(['57P01', '57P02', '57P03']);
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);
const STORE_UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error',
  'timeout exceeded when trying to connect',
];

function isStoreUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message, syscall } = e as { code?: unknown; message?: unknown; syscall?: unknown };
    if (typeof code === 'string') {
      if (STORE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
      if (SOCKET_CODES.has(code) && typeof syscall === 'string') return true;
    }
    if (typeof message === 'string' && STORE_UNAVAILABLE_MESSAGES.some((m) => message.startsWith(m)))
      return true;
  }
  return false;
}

/**
 * Errors of the Kafka client that reach a route (an operator's DLQ browse, a lag query): metadata
 * not yet propagated, a leader election, a broker away. They say "the bus is not available now",
 * not that the gateway broke: 503 with Retry-After, like a publish that could not be acknowledged.
 */
function isBusUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const name = (e as { name?: unknown }).name;
    if (typeof name === 'string' && name.startsWith('KafkaJS')) return true;
  }
  return false;
}

/** Maps fastify's own errors (body limit, media type, JSON syntax) onto our catalogue. */
export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (isStoreUnavailable(error)) {
    return new GatewayError(
      'GW_ERR_NOT_READY',
      'a store the gateway depends on is unavailable; retry later',
      {
        headers: { 'retry-after': '5' },
        cause: error,
      },
    );
  }
  if (isBusUnavailable(error)) {
    return new GatewayError('GW_ERR_BUS_UNAVAILABLE', 'the message bus is unavailable; retry later', {
      headers: { 'retry-after': '5' },
      cause: error,
    });
  }
  const e = error as { code?: string; statusCode?: number; message?: string; validation?: unknown };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('GW_ERR_PAYLOAD_TOO_LARGE', e.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError('GW_ERR_UNSUPPORTED_MEDIA_TYPE', e.message);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new GatewayError('GW_ERR_MALFORMED_PAYLOAD', e.message);
  }
  if (e.validation) return new GatewayError('GW_ERR_BAD_REQUEST', e.message);
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)
    return new GatewayError('GW_ERR_BAD_REQUEST', e.message);
  return new GatewayError('GW_ERR_INTERNAL', 'internal error', { cause: error });
}
