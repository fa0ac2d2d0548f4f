/**
 * Refused requests and failed messages in the audit log.
 *
 * - `rejected`: the gateway refused a request — under the message's id when the refusal concerns a
 *   decoded message (its input was refused: 4xx), else under the request id (anything a request
 *   meets before a message exists, 5xx included: there is no message whose status it could be).
 * - `failed`: the gateway received messages, found them new, and could not accept them for a reason
 *   on its own side (5xx: the bus did not confirm the publish, a store or the signer not ready, an
 *   internal error). Written under every message of the request; the sender was told to retry, and a
 *   later accepted resend of the same nachrichtenUUID moves the message on (the status fold lets
 *   progress clear a failure).
 *
 * Either is audited once, where it arises (Node's HTTP parser, route authentication, the ingress
 * pipeline, the router's error handler); an error already audited where it arose is not audited
 * again where it is answered. Recording never throws: the request is answered with its own problem
 * whether or not the store took the event — an audit-store outage must not turn a 4xx into a 5xx
 * (readiness reports the store) — and a failure to record is logged.
 */
import { toGatewayError } from '../errors/to-gateway-error.ts';
import type { AuditLog, AuditRecordInput } from './audit-log.ts';

const audited = new WeakSet<object>();

export type Rejection = Omit<AuditRecordInput, 'kind'> & { messageId: string };

interface ErrorLog {
  error(details: { err: unknown }, message: string): void;
}

/**
 * Writes a `rejected` event for `rejection` — for each of `alsoFor` too, in the same append (the
 * other messages of a batch, refused with it as a whole); with `error`, only if that error was not
 * audited already (and marks it audited).
 */
export async function auditRejection(
  audit: AuditLog,
  log: ErrorLog,
  rejection: Rejection,
  error?: object,
  alsoFor: readonly string[] = [],
): Promise<void> {
  if (error !== undefined) {
    if (audited.has(error)) return;
    audited.add(error);
  }
  try {
    await audit.recordMany(
      [rejection.messageId, ...alsoFor].map((messageId) => ({
        ...rejection,
        messageId,
        kind: 'rejected' as const,
      })),
    );
  } catch (err) {
    log.error({ err }, 'could not audit a refused request');
  }
}

/**
 * Marks `error` audited without writing anything: an answer whose messages are neither refused nor
 * failed (published, their ingress entries still being written: GW_ERR_AUDIT_PENDING), so that no
 * later handler audits it as a refusal.
 */
export function markAudited(error: object): void {
  audited.add(error);
}

/** A message of a request that failed, as far as the ingress knows it. */
export interface FailedMessage {
  messageId: string;
  sender: string | null;
  receiver: string | null;
  receiverSystem: string | null;
  /** The message type as received. */
  messageType: string | null;
}

export interface Failure {
  /** `system:<id>` of the sender. */
  actor: string;
  senderSystem: string;
  requestId: string;
  messages: FailedMessage[];
}

/**
 * Writes a `failed` event for every message of `failure` if `error` is a failure on the gateway's
 * side (it is answered with a 5xx), once per error, and marks the error audited; the caller passes
 * only messages it knows to be new (never accepted before), so that no accepted message is marked
 * failed. Answers false, writing nothing, for an error that refuses the sender's input (4xx): that
 * is a rejection, audited by auditRejection.
 */
export async function auditFailure(
  audit: AuditLog,
  log: ErrorLog,
  failure: Failure,
  error: unknown,
): Promise<boolean> {
  const answer = toGatewayError(error);
  if (answer.status < 500 || failure.messages.length === 0) return false;
  if (typeof error === 'object' && error !== null) {
    if (audited.has(error)) return true;
    audited.add(error);
  }
  try {
    await audit.recordMany(
      failure.messages.map((m) => ({
        kind: 'failed' as const,
        actor: failure.actor,
        senderSystem: failure.senderSystem,
        ...m,
        detail: { code: answer.code, requestId: failure.requestId, messages: failure.messages.length },
      })),
    );
  } catch (err) {
    log.error({ err }, 'could not audit failed messages');
  }
  return true;
}
