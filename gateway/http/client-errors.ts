/**
 * Requests that Node's HTTP parser refuses before fastify sees them: a body that does not arrive
 * within the request timeout (slow loris), headers too large, malformed request lines, CR/LF or NUL
 * in headers, smuggling attempts. Node's default answer is a bare status line; the gateway answers
 * these like every other refusal — problem+json with a stable code — and audits them, because a
 * slow-loris or smuggling attempt is exactly what an operator wants to find in the log later.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { AuditLog } from '../audit/audit-log.ts';
import { auditRejection } from '../audit/rejections.ts';
import { ERRORS, type ErrorCode } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { PROBLEM_CONTENT_TYPE, problemType } from './problem.ts';

/** Node's parser error codes (`err.code` on 'clientError') → the catalogue. */
function codeOf(nodeCode: string | undefined): ErrorCode {
  if (nodeCode === 'ERR_HTTP_REQUEST_TIMEOUT') return 'GW_ERR_REQUEST_TIMEOUT';
  if (nodeCode === 'HPE_HEADER_OVERFLOW') return 'GW_ERR_HEADERS_TOO_LARGE';
  return 'GW_ERR_BAD_REQUEST';
}

export interface ClientErrorDeps {
  audit: AuditLog;
  metrics: Metrics;
  logger: Logger;
}

export function answerClientError(
  deps: ClientErrorDeps,
  error: Error & { code?: string },
  socket: Socket,
): void {
  // A connection the client already reset has no one to answer; it is not an attack signal either.
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const code = codeOf(error.code);
  const requestId = randomUUID();
  const { status, title } = ERRORS[code];
  const body = JSON.stringify({
    type: problemType(code),
    title,
    status,
    // Node's parser message names the offending construct; never request content.
    detail: `refused by the HTTP parser: ${error.code ?? 'malformed request'}`,
    code,
    requestId,
  });
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  deps.metrics.rejected.inc({ code });
  deps.logger.info({ code, parserCode: error.code, requestId }, 'request refused by the HTTP parser');
  void auditRejection(deps.audit, deps.logger, {
    actor: 'anonymous',
    messageId: requestId,
    detail: { code, parserCode: error.code ?? null, route: null },
  });
}
