/**
 * Refused requests in the audit log. A refusal is audited once, where it arises (Node's HTTP parser,
 * route authentication, the ingress pipeline, the router's error handler); an error already audited
 * where it arose is not audited again where it is answered. Recording never throws: the refusal is
 * answered with its own problem whether or not the store took the event — an audit-store outage must
 * not turn a 4xx into a 5xx (readiness reports the store) — and a failure to record is logged.
 */
import type { AuditLog, AuditRecordInput } from './audit-log.ts';

const audited = new WeakSet<object>();

export type Rejection = Omit<AuditRecordInput, 'kind'> & { messageId: string };

interface ErrorLog {
  error(details: { err: unknown }, message: string): void;
}

/**
 * Writes a `rejected` event for `rejection`; with `error`, only if that error was not audited
 * already (and marks it audited).
 */
export async function auditRejection(
  audit: AuditLog,
  log: ErrorLog,
  rejection: Rejection,
  error?: object,
): Promise<void> {
  if (error !== undefined) {
    if (audited.has(error)) return;
    audited.add(error);
  }
  try {
    await audit.record({ ...rejection, kind: 'rejected' });
  } catch (err) {
    log.error({ err }, 'could not audit a refused request');
  }
}
