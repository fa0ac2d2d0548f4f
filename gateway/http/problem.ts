/**
 * RFC 9457 problem details. Every error answer of the gateway has this shape, with a stable
 * `code` from the catalogue and, where a field is at fault, a JSON pointer to it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, type ErrorCode, GatewayError } from '../errors/catalogue.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export function problemType(code: ErrorCode): string {
  return `urn:laender-gateway:problem:${code}`;
}

/** Maps fastify's own errors (body limit, media type, JSON syntax) onto our catalogue. */
export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
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

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: GatewayError): FastifyReply {
  const body: Record<string, unknown> = {
    type: problemType(error.code),
    title: ERRORS[error.code].title,
    status: error.status,
    // Internal errors never leak their message: it may carry paths or personal data.
    detail:
      error.code === 'GW_ERR_INTERNAL'
        ? 'internal error; the request id identifies it in the logs'
        : error.message,
    instance: request.url,
    code: error.code,
    requestId: request.id,
  };
  if (error.errors.length > 0) {
    body.pointer = error.errors[0]!.pointer;
    body.errors = error.errors;
  }
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  return reply.code(error.status).type(PROBLEM_CONTENT_TYPE).send(body);
}
