/**
 * Query strings of the auditor API. Unknown parameters are refused rather than ignored: an auditor
 * who misspells `sender` must not get an unfiltered answer and take it for a filtered one.
 */
import { z } from 'zod';
import { GatewayError } from '../../../errors/catalogue.ts';
import { AUDIT_MESSAGE_STATUSES } from '../../../ports/audit-store.ts';

/** Audit message ids: nachrichtenUUIDs, and request ids for requests refused before a message existed. */
export const AUDIT_MESSAGE_ID = /^[A-Za-z0-9._:-]{1,100}$/;
const SYSTEM_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;

/** A date (midnight UTC) or a date-time with its zone: an auditor's time range must not depend on the server's zone. */
const instant = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })])
  .transform((value) => new Date(value).toISOString());

const oneOrMany = z.union([z.string(), z.array(z.string())]);

const statuses = oneOrMany
  .transform((value) => (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',')).filter(Boolean))
  .pipe(z.array(z.enum(AUDIT_MESSAGE_STATUSES)).min(1));

const authority = z.string().min(3).max(120);
const systemId = z.string().regex(SYSTEM_ID, 'a system id (lower-case letters, digits, dashes)');

export const SearchQuery = z
  .object({
    messageId: z.string().regex(AUDIT_MESSAGE_ID, 'a message id').optional(),
    authority: authority.optional(),
    sender: authority.optional(),
    receiver: authority.optional(),
    system: systemId.optional(),
    senderSystem: systemId.optional(),
    receiverSystem: systemId.optional(),
    messageType: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,200}$/, 'a message type like xmeld:25.11:rueckmeldung.anmeldunginland.0201')
      .optional(),
    status: statuses.optional(),
    from: instant.optional(),
    to: instant.optional(),
    order: z.enum(['asc', 'desc']).default('asc'),
    limit: z.coerce.number().int().min(1).max(1000).default(50),
    cursor: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,600}$/, 'a cursor from a previous page')
      .optional(),
  })
  .strict();
export type SearchQuery = z.infer<typeof SearchQuery>;

export const CheckpointQuery = z
  .object({
    after: z.coerce.number().int().min(0).default(0),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

export const ExportQuery = z.object({ from: instant.optional(), to: instant.optional() }).strict();

export const NoQuery = z.object({}).strict();

/** Path parameter `messageId` of the audit routes. */
export function auditMessageId(value: string): string {
  if (!AUDIT_MESSAGE_ID.test(value)) {
    throw new GatewayError('GW_ERR_BAD_REQUEST', 'path parameter messageId is malformed', {
      errors: [{ pointer: '/messageId', detail: `must match ${AUDIT_MESSAGE_ID.source}` }],
    });
  }
  return value;
}
