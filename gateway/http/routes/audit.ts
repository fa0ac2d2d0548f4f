/**
 * The auditor API (`/v1/audit/…`), for people with an auditor or operator token; a system's client
 * certificate opens none of it. The token's scope decides which messages exist for the caller
 * (audit/visibility.ts): outside it a message answers 404 exactly like one that never was.
 *
 * - GET /v1/audit/messages                        search: filters, time range, sorted by time, cursor paging
 * - GET /v1/audit/messages/{id}                   the message's summary and full trail
 * - GET /v1/audit/messages/{id}/proof             inclusion proofs of its entries to signed checkpoints
 * - GET /v1/audit/messages/{id}/document          the archived signed document; needs the audit-payload
 *                                                 permission, and every read is audited before it is served
 * - GET /v1/audit/checkpoints[/latest]            the signed checkpoints
 * - GET /v1/audit/public-key                      the audit key's public half (public, like the CA certificate)
 * - GET /v1/audit/export?from&to                  the log as JSONL for `gw audit verify`; audited as audit-export.
 *                                                 Below the scope * every chain is still exported whole, but
 *                                                 entries outside the scope as redacted lines (audit/export-scope.ts)
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AuditLog } from '../../audit/audit-log.ts';
import { exportLines } from '../../audit/export.ts';
import { messageScope } from '../../audit/export-scope.ts';
import { actorOf, formatScope } from '../../auth/roles.ts';
import type { Directory } from '../../directory/directory.ts';
import { GatewayError } from '../../errors/catalogue.ts';
import type { AuditEntry, AuditMessageSummary, AuditStore } from '../../ports/audit-store.ts';
import type { DocumentArchive } from '../../ports/document-archive.ts';
import { mayReadPayload, PAYLOAD_PERMISSION } from './audit/payload-permission.ts';
import {
  AUDIT_MESSAGE_ID,
  auditMessageId,
  CheckpointQuery,
  ExportQuery,
  NoQuery,
  SearchQuery,
} from './audit/query.ts';
import { searchVisible } from './audit/scoped-search.ts';
import { canSee, type Visibility, visibilityOf } from './audit/visibility.ts';
import { parseQuery } from './params.ts';

export interface AuditRoutesDeps {
  store: AuditStore;
  audit: AuditLog;
  directory: () => Directory;
  auditKey: { publicKeyPem: string; keyId: string };
  /** Absent when the gateway archives no documents (audit.archiveDocuments off). */
  archive: DocumentArchive | undefined;
}

const PEOPLE = { auth: { role: ['auditor', 'operator'] as const } };

/** Declared schemas of the routes, for /docs: the same zod objects the handlers parse with. */
const ONE_MESSAGE = {
  params: z.object({ messageId: z.string().regex(AUDIT_MESSAGE_ID) }),
  querystring: NoQuery,
};
const SCHEMAS: Record<string, object> = {
  '/v1/audit/messages': { querystring: SearchQuery },
  '/v1/audit/messages/:messageId': ONE_MESSAGE,
  '/v1/audit/messages/:messageId/proof': ONE_MESSAGE,
  '/v1/audit/messages/:messageId/document': ONE_MESSAGE,
  '/v1/audit/checkpoints': { querystring: CheckpointQuery },
  '/v1/audit/checkpoints/latest': { querystring: NoQuery },
  '/v1/audit/public-key': { querystring: NoQuery },
  '/v1/audit/export': { querystring: ExportQuery },
};
/** A trail longer than this is cut (only reused request ids of refused requests get near it). */
const MAX_TRAIL = 1000;

type MessageRequest = FastifyRequest<{ Params: { messageId: string }; Querystring: unknown }>;

function byTime(a: AuditEntry, b: AuditEntry): number {
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  if (a.chain !== b.chain) return a.chain < b.chain ? -1 : 1;
  return a.seq - b.seq;
}

export function auditRoutes(deps: AuditRoutesDeps) {
  const visibility = (request: FastifyRequest): Visibility =>
    visibilityOf(request.principal, deps.directory());

  /** The message's summary if the caller may see it; otherwise the same 404 as for an unknown id. */
  async function visibleMessage(request: MessageRequest): Promise<AuditMessageSummary> {
    const messageId = auditMessageId(request.params.messageId);
    parseQuery(NoQuery, request.query);
    const [summary] = (await deps.store.searchMessages({ messageId, limit: 1 })).items;
    if (!summary || !canSee(visibility(request), summary)) {
      throw new GatewayError('GW_ERR_NOT_FOUND', `no message ${messageId} in your audit scope`);
    }
    return summary;
  }

  async function trailOf(messageId: string): Promise<{ trail: AuditEntry[]; truncated: boolean }> {
    const entries = await deps.store.query({ messageId, limit: MAX_TRAIL + 1 });
    return { trail: entries.slice(0, MAX_TRAIL).sort(byTime), truncated: entries.length > MAX_TRAIL };
  }

  return async (app: FastifyInstance) => {
    app.addHook('onRoute', (route) => {
      route.schema ??= SCHEMAS[route.url];
    });
    // Audit answers describe people's dealings with authorities: no cache keeps a copy.
    app.addHook('onSend', async (_request, reply) => {
      reply.header('cache-control', 'no-store');
    });

    app.get('/v1/audit/messages', { config: PEOPLE }, async (request) => {
      const query = parseQuery(SearchQuery, request.query);
      const page = await searchVisible(deps.store, visibility(request), query);
      return { items: page.items, next: page.next ?? null };
    });

    app.get('/v1/audit/messages/:messageId', { config: PEOPLE }, async (request: MessageRequest) => {
      const message = await visibleMessage(request);
      return { message, ...(await trailOf(message.messageId)) };
    });

    app.get('/v1/audit/messages/:messageId/proof', { config: PEOPLE }, async (request: MessageRequest) => {
      const message = await visibleMessage(request);
      const { trail, truncated } = await trailOf(message.messageId);
      const proofs = [];
      for (const entry of trail) {
        // null: appended after the newest checkpoint; the next one (audit.checkpointEverySeconds) covers it.
        proofs.push({ entry, proof: await deps.store.inclusionProof(entry.chain, entry.seq) });
      }
      return {
        messageId: message.messageId,
        algorithm: 'ecdsa-p256-sha256',
        keyId: deps.auditKey.keyId,
        publicKey: deps.auditKey.publicKeyPem,
        proofs,
        truncated,
      };
    });

    app.get('/v1/audit/messages/:messageId/document', { config: PEOPLE }, async (request: MessageRequest) => {
      if (!mayReadPayload(request.principal)) {
        throw new GatewayError(
          'GW_ERR_FORBIDDEN',
          `reading archived documents needs the ${PAYLOAD_PERMISSION} permission on the token`,
        );
      }
      const message = await visibleMessage(request);
      const documents = deps.archive ? await deps.archive.get(message.messageId) : [];
      if (documents.length === 0) {
        throw new GatewayError('GW_ERR_NOT_FOUND', `no archived document of message ${message.messageId}`);
      }
      // Audited before anything is disclosed: if the audit log cannot take the entry, nothing is served.
      await deps.audit.record({
        kind: 'audit-export',
        actor: actorOf(request.principal),
        messageId: message.messageId,
        sender: message.sender,
        receiver: message.receiver,
        senderSystem: message.senderSystem,
        receiverSystem: message.receiverSystem,
        messageType: message.messageType,
        digest: message.digest,
        detail: { what: 'document', channel: 'api', documents: documents.length },
      });
      return {
        messageId: message.messageId,
        documents: documents.map((d) =>
          d.status === 'available'
            ? { ...d, document: d.document.toString('utf8') }
            : { ...d, document: null },
        ),
      };
    });

    app.get('/v1/audit/checkpoints', { config: PEOPLE }, async (request) => {
      const { after, limit } = parseQuery(CheckpointQuery, request.query);
      const items = await deps.store.checkpoints({ afterId: after, limit });
      return { items, next: items.length === limit ? String(items.at(-1)!.id) : null };
    });

    app.get('/v1/audit/checkpoints/latest', { config: PEOPLE }, async (request) => {
      parseQuery(NoQuery, request.query);
      const latest = await deps.store.latestCheckpoint();
      if (!latest) throw new GatewayError('GW_ERR_NOT_FOUND', 'no checkpoint has been signed yet');
      return latest;
    });

    app.get('/v1/audit/public-key', { config: { auth: { public: true } } }, async (request, reply) => {
      parseQuery(NoQuery, request.query);
      return reply
        .type('application/x-pem-file')
        .header('x-audit-key-id', deps.auditKey.keyId)
        .send(deps.auditKey.publicKeyPem);
    });

    app.get('/v1/audit/export', { config: PEOPLE }, async (request, reply) => {
      const { from, to } = parseQuery(ExportQuery, request.query);
      const seen = visibility(request);
      const principal = request.principal!;
      if (principal.role === 'system') {
        throw new GatewayError('GW_ERR_ROLE_FORBIDDEN', 'the audit log is for auditors and operators');
      }
      // Every chain is exported whole, or `gw audit verify` could not check it; what the scope does
      // not cover is redacted, decided per message as search and trail decide it.
      const scope = seen.all
        ? undefined
        : messageScope(formatScope(principal.scope), deps.store, (message) => canSee(seen, message));
      await deps.audit.record({
        kind: 'audit-export',
        actor: actorOf(principal),
        detail: {
          what: 'log',
          channel: 'api',
          from: from ?? null,
          to: to ?? null,
          scope: formatScope(principal.scope),
        },
      });
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      return reply
        .type('application/x-ndjson; charset=utf-8')
        .header('content-disposition', `attachment; filename="audit-export-${stamp}.jsonl"`)
        .send(Readable.from(exportLines(deps.store, { from, to, scope })));
    });
  };
}
