/**
 * Contracts: declarative agreements on who may send which message types to whom. One file per
 * contract under contracts/*.contract.yaml. A message is routed only if some rule of some contract
 * allows exactly this sender system, sender authority, receiver authority and message type.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { GatewayError } from '../errors/catalogue.ts';
import { matches, PATTERN } from './pattern.ts';

const Pattern = z.string().regex(PATTERN, 'must be praefix:kennung, optionally ending in *');

export const ContractSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9.-]+$/),
    title: z.string().min(1),
    standard: z.string().min(1),
    rules: z
      .array(
        z
          .object({
            from: z
              .object({ systems: z.array(z.string()).min(1), authorities: z.array(Pattern).min(1) })
              .strict(),
            to: z.array(Pattern).min(1),
            messageTypes: z.array(z.string().min(1)).min(1),
          })
          .strict(),
      )
      .min(1),
    /**
     * Answer deadlines: a message of `messageType` delivered on this contract's routes is answered
     * (a message of one of `answeredBy` whose referenzUUID is its nachrichtenUUID) within
     * `workingDays` working days of the receiving system's Land (gateway/deadlines/).
     */
    deadlines: z
      .array(
        z
          .object({
            messageType: z.string().min(1),
            answerWithin: z
              .object({
                workingDays: z.number().int().min(1).max(250),
                answeredBy: z.array(z.string().min(1)).min(1),
              })
              .strict(),
          })
          .strict(),
      )
      .optional(),
    requirements: z
      .object({
        signature: z.enum(['gateway', 'sender-and-gateway']).default('gateway'),
        maxBytes: z.number().int().positive().optional(),
        retentionDays: z.number().int().positive(),
      })
      .strict(),
  })
  .strict();
export type Contract = z.infer<typeof ContractSchema>;

export interface RouteQuestion {
  senderSystem: string;
  senderAuthority: string;
  receiverAuthority: string;
  standard: string;
  messageType: string;
}

export class Contracts {
  constructor(readonly contracts: Contract[]) {}

  static fromDirectory(dir: string): Contracts {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.contract.yaml'))
      .sort();
    const contracts = files.map((file) => {
      const parsed = ContractSchema.safeParse(YAML.parse(readFileSync(path.join(dir, file), 'utf8')));
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new GatewayError(
          'GW_ERR_CONFIG_INVALID',
          `${file}: /${issue.path.join('/')}: ${issue.message}`,
        );
      }
      return parsed.data;
    });
    const ids = new Set<string>();
    for (const c of contracts) {
      if (ids.has(c.id)) throw new GatewayError('GW_ERR_CONFIG_INVALID', `contract id ${c.id} is used twice`);
      ids.add(c.id);
    }
    return new Contracts(contracts);
  }

  /** The answer deadline for a message on this route, from the contract that allows it. */
  answerDeadline(
    q: RouteQuestion,
  ): { contract: string; workingDays: number; answeredBy: string[] } | undefined {
    const contract = this.allowing(q);
    const rule = contract?.deadlines?.find((d) => d.messageType === q.messageType);
    return contract && rule ? { contract: contract.id, ...rule.answerWithin } : undefined;
  }

  /**
   * The contract a receipt travels under: no contract names receipts (the gateway issues them), so
   * it is the one allowing the acknowledged message's route, seen from the receipt — its receiver
   * sent, its sender received — for any message type of the standard. Of several, the longest
   * retention (the receipt must outlive none of the messages it may acknowledge).
   */
  coveringReceipt(q: Omit<RouteQuestion, 'senderSystem' | 'messageType'>): Contract | undefined {
    let found: Contract | undefined;
    for (const c of this.contracts) {
      if (c.standard !== q.standard) continue;
      const answers = c.rules.some(
        (r) =>
          r.from.authorities.some((p) => matches(p, q.receiverAuthority)) &&
          r.to.some((p) => matches(p, q.senderAuthority)),
      );
      if (answers && (!found || c.requirements.retentionDays > found.requirements.retentionDays)) found = c;
    }
    return found;
  }

  /** The contract allowing this route, or undefined: deny by default. */
  allowing(q: RouteQuestion): Contract | undefined {
    return this.contracts.find(
      (c) =>
        c.standard === q.standard &&
        c.rules.some(
          (r) =>
            r.from.systems.includes(q.senderSystem) &&
            r.from.authorities.some((p) => matches(p, q.senderAuthority)) &&
            r.to.some((p) => matches(p, q.receiverAuthority)) &&
            r.messageTypes.includes(q.messageType),
        ),
    );
  }
}
