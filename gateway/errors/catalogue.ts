/**
 * The one catalogue of error codes. A code never changes its meaning once released: clients and
 * auditors key on it. Every error a client can see is a GatewayError carrying one of these codes and
 * is rendered as RFC 9457 problem+json by gateway/http/problem.ts.
 */
export const ERRORS = {
  GW_ERR_BAD_REQUEST: { status: 400, title: 'The request is malformed' },
  GW_ERR_MALFORMED_PAYLOAD: { status: 400, title: 'The payload cannot be parsed in its declared format' },
  GW_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'The content type is not accepted on this route' },
  GW_ERR_PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body exceeds the size limit' },
  GW_ERR_MAPPING_FAILED: { status: 422, title: 'The native payload cannot be mapped to the standard' },
  GW_ERR_SCHEMA_INVALID: { status: 422, title: 'The message violates the schema of its standard' },
  GW_ERR_CODE_NOT_IN_LIST: { status: 422, title: 'A coded value is not on its code list' },
  GW_ERR_UNKNOWN_STANDARD: {
    status: 422,
    title: 'The standard, version or message type is not in the catalogue',
  },
  GW_ERR_DUPLICATE_MESSAGE: {
    status: 409,
    title: 'A message with this nachrichtenUUID was already accepted',
  },
  GW_ERR_UNKNOWN_RECEIVER: {
    status: 422,
    title: 'No system in the directory serves the receiving authority',
  },
  GW_ERR_UNKNOWN_SYSTEM: { status: 404, title: 'The system is not in the directory' },
  GW_ERR_VERSION_NOT_ACCEPTED: {
    status: 422,
    title: 'The receiving system does not accept this standard version',
  },
  GW_ERR_CONVERSION_LOSSY: { status: 422, title: 'The conversion to an accepted version would lose data' },
  GW_ERR_SENDER_AUTHORITY: {
    status: 403,
    title: 'The authenticated system does not serve the sending authority',
  },
  GW_ERR_CONTRACT_VIOLATION: {
    status: 403,
    title: 'No contract allows this sender to send this message to this receiver',
  },
  GW_ERR_CLIENT_CERT_REQUIRED: {
    status: 401,
    title: 'A client certificate issued by the gateway CA is required',
  },
  GW_ERR_CLIENT_CERT_FORBIDDEN: { status: 403, title: 'The client certificate does not name this system' },
  GW_ERR_FORBIDDEN: { status: 403, title: 'The caller may not access this resource' },
  GW_ERR_CLIENT_CERT_REVOKED: { status: 401, title: 'The client certificate has been revoked' },
  GW_ERR_TOKEN_REQUIRED: { status: 401, title: 'A bearer token is required' },
  GW_ERR_TOKEN_INVALID: { status: 401, title: 'The bearer token is unknown, expired or revoked' },
  GW_ERR_ROLE_FORBIDDEN: { status: 403, title: 'The caller does not have the role this route requires' },
  GW_ERR_REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive completely in time' },
  GW_ERR_HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are too large' },
  GW_ERR_NOT_FOUND: { status: 404, title: 'The resource does not exist or is not visible to the caller' },
  GW_ERR_RATE_LIMITED: { status: 429, title: 'The system exceeded its request quota' },
  GW_ERR_QUOTA_EXCEEDED: { status: 429, title: 'The system sent its quota of messages for the day' },
  GW_ERR_BUS_UNAVAILABLE: {
    status: 503,
    title: 'The message bus did not confirm the message; send it again with the same nachrichtenUUID',
  },
  GW_ERR_NOT_READY: { status: 503, title: 'The gateway is not ready' },
  GW_ERR_AUDIT_PENDING: {
    status: 503,
    title: 'The message was queued and will be delivered; its audit record is still being written',
  },
  GW_ERR_MESSAGE_ID_IN_FLIGHT: {
    status: 503,
    title: 'Another request with this nachrichtenUUID is still in flight; nothing was accepted, retry later',
  },
  GW_ERR_MESSAGE_ID_CLAIM_LOST: {
    status: 503,
    title:
      'The claim on this nachrichtenUUID could not be confirmed before publishing; nothing was accepted, retry later',
  },
  GW_ERR_SIGNATURE_INVALID: { status: 422, title: 'The XML signature is invalid' },
  GW_ERR_SIGNATURE_REQUIRED: { status: 422, title: 'The contract requires the sender to sign the document' },
  GW_ERR_XML_FORBIDDEN_CONSTRUCT: {
    status: 400,
    title: 'The XML contains a forbidden construct (DOCTYPE, entity, processing instruction)',
  },
  GW_ERR_XML_LIMIT_EXCEEDED: {
    status: 400,
    title: 'The XML exceeds a structural limit (nesting depth, attributes per element)',
  },
  GW_ERR_INTERNAL: { status: 500, title: 'Internal error' },
  GW_ERR_CONFIG_INVALID: { status: 500, title: 'The configuration is invalid' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** One offending field: a JSON pointer into the standard message and, for adapters, the native field. */
export interface FieldError {
  pointer: string;
  detail: string;
  /** Where in the native payload the value came from (`$.person.geschlecht`, `line 3, columns 10-17`). */
  nativeField?: string;
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly errors: FieldError[];
  /** Extra headers, e.g. Retry-After on 503. */
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    detail?: string,
    options: { errors?: FieldError[]; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(detail ?? ERRORS[code].title, { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.errors = options.errors ?? [];
    this.headers = options.headers ?? {};
  }
}

export function isGatewayError(error: unknown): error is GatewayError {
  return error instanceof GatewayError;
}
