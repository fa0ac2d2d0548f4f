/**
 * RFC 9457 problem details. Every error answer of the gateway has this shape, with a stable
 * `code` from the catalogue and, where a field is at fault, a JSON pointer to it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, type ErrorCode, type GatewayError } from '../errors/catalogue.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export function problemType(code: ErrorCode): string {
  return `urn:laender-gateway:problem:${code}`;
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
