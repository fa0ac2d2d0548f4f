/**
 * GET /v1/operations/overdue — the answer cases whose deadline (contract `deadlines[].answerWithin`)
 * has passed without an answer, for operators; a token sees the cases whose sending or receiving
 * system its scope covers. Reading the list also sends any reminder not yet sent (overdue-watcher.ts).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { scopeCovers } from '../../auth/roles.ts';
import type { OverdueWatcher } from '../../deadlines/overdue-watcher.ts';
import type { Directory } from '../../directory/directory.ts';
import { parseQuery } from './params.ts';

export const OverdueQuery = z
  .object({
    system: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{1,62}$/)
      .optional(),
  })
  .strict()
  .describe('system: only cases whose receiving system is this one');

export const OverdueCaseView = z.object({
  messageId: z.string(),
  messageType: z.string(),
  senderSystem: z.string(),
  receiverSystem: z.string(),
  land: z.string().describe("the receiving system's Land, whose calendar counts"),
  contract: z.string(),
  workingDays: z.number().int(),
  answeredBy: z.array(z.string()),
  deliveredAt: z.string(),
  deadline: z.string().describe('the last day (YYYY-MM-DD, Berlin) on which the answer was in time'),
  daysOverdue: z.number().int(),
  remindedAt: z.string().nullable().describe('when the reminder callback was sent to the sender'),
});

export const OverdueList = z.object({
  now: z.string(),
  count: z.number().int(),
  cases: z.array(OverdueCaseView),
});

export function overdueRoutes(deps: {
  overdue: OverdueWatcher;
  directory: () => Directory;
  now?: () => Date;
}) {
  const now = deps.now ?? (() => new Date());
  return async (app: FastifyInstance) => {
    app.get(
      '/v1/operations/overdue',
      {
        config: { auth: { role: 'operator' } },
        schema: {
          tags: ['operations'],
          summary: 'Answer cases past their deadline without an answer',
          querystring: OverdueQuery,
          response: { 200: OverdueList },
        },
      },
      async (request) => {
        const query = parseQuery(OverdueQuery, request.query);
        const principal = request.principal;
        const directory = deps.directory();
        const visible = (systemId: string) => {
          const system = directory.system(systemId);
          return (
            !!system && !!principal && principal.role !== 'system' && scopeCovers(principal.scope, system)
          );
        };
        const cases = (await deps.overdue.check())
          .filter((c) => visible(c.senderSystem) || visible(c.receiverSystem))
          .filter((c) => !query.system || c.receiverSystem === query.system)
          .map((c) => ({
            messageId: c.messageId,
            messageType: c.messageType,
            senderSystem: c.senderSystem,
            receiverSystem: c.receiverSystem,
            land: c.land,
            contract: c.contract,
            workingDays: c.workingDays,
            answeredBy: c.answeredBy,
            deliveredAt: c.deliveredAt,
            deadline: c.deadline,
            daysOverdue: c.daysOverdue,
            remindedAt: c.remindedAt,
          }));
        return { now: now().toISOString(), count: cases.length, cases };
      },
    );
  };
}
