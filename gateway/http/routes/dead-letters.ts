/**
 * The operators' dead-letter API (the HTTP face of `gw dlq`), operator tokens only, each system's
 * queue visible only within the token's scope (outside it: the same 404 as an unknown system):
 *
 * - GET  /v1/operations/dead-letters/{systemId}                      list; reads, never consumes
 * - GET  /v1/operations/dead-letters/{systemId}/{entry}[?payload=true] one entry: bus headers, reason,
 *        attempts; the signed document only with the audit-payload permission, and that read is audited
 * - POST /v1/operations/dead-letters/{systemId}/{entry}/replay         deliver that message again
 * - POST /v1/operations/dead-letters/{systemId}/replay-all            deliver every entry again
 *
 * `{entry}` is the entry's position `<partition>-<offset>` or the message's nachrichtenUUID (then
 * its latest entry). Replays are audited as `replayed` with the token as actor (dead-letters.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AuditLog } from '../../audit/audit-log.ts';
import { actorOf, scopeCovers } from '../../auth/roles.ts';
import type { Directory } from '../../directory/directory.ts';
import { GatewayError } from '../../errors/catalogue.ts';
import { type DeadLetterEntry, DeadLetterQueue } from '../../pipeline/dead-letters.ts';
import type { Bus } from '../../ports/bus.ts';
import { mayReadPayload, PAYLOAD_PERMISSION } from './audit/payload-permission.ts';
import { MESSAGE_ID_PATTERN, parseQuery, parseRequestPart, SystemIdParam } from './params.ts';

const POSITION = /^(\d{1,9})-(\d{1,19})$/;

export const DeadLetterListParams = z.object({ systemId: SystemIdParam }).strict();
export const DeadLetterEntryParams = z
  .object({
    systemId: SystemIdParam,
    entry: z
      .union([z.string().regex(MESSAGE_ID_PATTERN), z.string().regex(POSITION)])
      .describe('the entry position `<partition>-<offset>`, or a nachrichtenUUID (its latest entry)'),
  })
  .strict();
export const DeadLetterShowQuery = z
  .object({
    payload: z
      .enum(['true', 'false'])
      .default('false')
      .describe('include the signed document (needs the audit-payload permission; audited)'),
  })
  .strict();
const NoQuery = z.object({}).strict();

export const DeadLetterEntryView = z.object({
  entry: z.string().describe('the id for show and replay: `<partition>-<offset>`'),
  systemId: z.string(),
  messageId: z.string(),
  messageType: z.string().nullable(),
  senderSystem: z.string().nullable(),
  attempts: z.number().int().min(0).describe('failed delivery attempts (0: never attempted)'),
  reason: z.string(),
  deadLetteredAt: z.string().nullable(),
});
export const DeadLetterList = z.object({ systemId: z.string(), entries: z.array(DeadLetterEntryView) });
export const DeadLetterDetail = DeadLetterEntryView.extend({
  headers: z.record(z.string(), z.string()).describe('the bus record headers (metadata only)'),
  document: z
    .object({ contentType: z.literal('application/xml'), encoding: z.literal('utf-8'), data: z.string() })
    .optional()
    .describe('the sealed document; only with ?payload=true and the audit-payload permission'),
});
export const DeadLetterReplayed = z.object({
  systemId: z.string(),
  replayed: z.array(DeadLetterEntryView),
  messages: z.number().int().describe('distinct messages sent to delivery again'),
});

export interface DeadLetterRoutesDeps {
  bus: Bus;
  audit: AuditLog;
  topicPrefix: string;
  directory: () => Directory;
}

function view(e: DeadLetterEntry): z.infer<typeof DeadLetterEntryView> {
  return {
    entry: e.position.replace('/', '-'),
    systemId: e.systemId,
    messageId: e.messageId,
    messageType: e.messageType,
    senderSystem: e.senderSystem,
    attempts: e.attempts,
    reason: e.reason,
    deadLetteredAt: e.deadLetteredAt,
  };
}

function selectEntry(entry: string): { position: string } | { messageId: string } {
  const m = POSITION.exec(entry);
  return m ? { position: `${m[1]}/${m[2]}` } : { messageId: entry };
}

const OPERATOR = { auth: { role: 'operator' as const } };
const TAGS = ['operations'];

export function deadLetterRoutes(deps: DeadLetterRoutesDeps) {
  /** The system, if it exists and the token's scope covers it; else 404 (unknown and unseen alike). */
  function visibleSystem(request: FastifyRequest, systemId: string): string {
    const system = deps.directory().system(systemId);
    const principal = request.principal;
    if (!system || !principal || principal.role === 'system' || !scopeCovers(principal.scope, system)) {
      throw new GatewayError('GW_ERR_NOT_FOUND', `no system ${systemId} in your scope`);
    }
    return system.id;
  }

  const queueFor = (request: FastifyRequest) =>
    new DeadLetterQueue({
      bus: deps.bus,
      audit: deps.audit,
      topicPrefix: deps.topicPrefix,
      actor: actorOf(request.principal),
    });

  return async (app: FastifyInstance) => {
    app.get(
      '/v1/operations/dead-letters/:systemId',
      {
        config: OPERATOR,
        schema: {
          tags: TAGS,
          summary: 'List the dead-lettered messages of a system (never consumes)',
          params: DeadLetterListParams,
          querystring: NoQuery,
          response: { 200: DeadLetterList },
        },
      },
      async (request) => {
        const { systemId } = parseRequestPart(DeadLetterListParams, request.params, 'path parameter');
        parseQuery(NoQuery, request.query);
        const system = visibleSystem(request, systemId);
        const entries = await queueFor(request).list(system);
        return { systemId: system, entries: entries.map(view) };
      },
    );

    app.get(
      '/v1/operations/dead-letters/:systemId/:entry',
      {
        config: OPERATOR,
        schema: {
          tags: TAGS,
          summary: 'One dead-letter entry: headers, reason, attempts (the document only if permitted)',
          params: DeadLetterEntryParams,
          querystring: DeadLetterShowQuery,
          response: { 200: DeadLetterDetail },
        },
      },
      async (request) => {
        const params = parseRequestPart(DeadLetterEntryParams, request.params, 'path parameter');
        const query = parseQuery(DeadLetterShowQuery, request.query);
        const system = visibleSystem(request, params.systemId);
        const withDocument = query.payload === 'true';
        if (withDocument && !mayReadPayload(request.principal)) {
          throw new GatewayError(
            'GW_ERR_FORBIDDEN',
            `the document needs the ${PAYLOAD_PERMISSION} permission on the token`,
          );
        }
        const found = await queueFor(request).show(system, selectEntry(params.entry));
        if (!found) {
          throw new GatewayError(
            'GW_ERR_NOT_FOUND',
            `no entry ${params.entry} in the dead-letter queue of ${system}`,
          );
        }
        const { headers, document, ...entry } = found;
        if (withDocument) {
          // Audited before it is served: reading personal data leaves a trace even if the answer is lost.
          await deps.audit.record({
            kind: 'audit-export',
            actor: actorOf(request.principal),
            messageId: entry.messageId || null,
            receiverSystem: system,
            senderSystem: entry.senderSystem,
            messageType: entry.messageType,
            detail: { what: 'dead-letter-document', position: entry.position },
          });
        }
        return {
          ...view(entry),
          headers,
          ...(withDocument
            ? {
                document: {
                  contentType: 'application/xml' as const,
                  encoding: 'utf-8' as const,
                  data: document.toString('utf8'),
                },
              }
            : {}),
        };
      },
    );

    app.post(
      '/v1/operations/dead-letters/:systemId/:entry/replay',
      {
        config: OPERATOR,
        schema: {
          tags: TAGS,
          summary: 'Deliver a dead-lettered message again (audited as replayed)',
          params: DeadLetterEntryParams,
          querystring: NoQuery,
          response: { 200: DeadLetterReplayed },
        },
      },
      async (request) => {
        const params = parseRequestPart(DeadLetterEntryParams, request.params, 'path parameter');
        parseQuery(NoQuery, request.query);
        const system = visibleSystem(request, params.systemId);
        const queue = queueFor(request);
        const select = selectEntry(params.entry);
        const messageId =
          'messageId' in select ? select.messageId : (await queue.show(system, select))?.messageId;
        const replayed = messageId ? await queue.replay(system, { messageId }) : [];
        if (replayed.length === 0) {
          throw new GatewayError(
            'GW_ERR_NOT_FOUND',
            `no entry ${params.entry} in the dead-letter queue of ${system}`,
          );
        }
        return { systemId: system, replayed: replayed.map(view), messages: 1 };
      },
    );

    app.post(
      '/v1/operations/dead-letters/:systemId/replay-all',
      {
        config: OPERATOR,
        schema: {
          tags: TAGS,
          summary: 'Deliver every dead-lettered message of a system again (audited as replayed)',
          params: DeadLetterListParams,
          querystring: NoQuery,
          response: { 200: DeadLetterReplayed },
        },
      },
      async (request) => {
        const { systemId } = parseRequestPart(DeadLetterListParams, request.params, 'path parameter');
        parseQuery(NoQuery, request.query);
        const system = visibleSystem(request, systemId);
        const replayed = await queueFor(request).replay(system, { all: true });
        return {
          systemId: system,
          replayed: replayed.map(view),
          messages: new Set(replayed.map((e) => e.messageId)).size,
        };
      },
    );
  };
}
