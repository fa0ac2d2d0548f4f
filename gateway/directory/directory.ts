/**
 * The system directory: authority → the system that serves it. Loaded from contracts/directory.yaml
 * and validated; every lookup is deny-by-default (no entry, no route).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { GatewayError } from '../errors/catalogue.ts';
import { matches, PATTERN, specificity } from './pattern.ts';

/**
 * Where the gateway POSTs HMAC-signed status events of a system's sent messages. The secret is never
 * in the directory itself: the name of an environment variable, or a file (absolute, or relative to
 * the directory file's folder), read when a callback is signed.
 */
export const CallbackSchema = z
  .object({
    url: z.url({ protocol: /^https$/ }),
    secretEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .optional(),
    secretFile: z.string().min(1).optional(),
  })
  .strict()
  .refine((c) => (c.secretEnv === undefined) !== (c.secretFile === undefined), {
    message: 'name exactly one of secretEnv and secretFile',
  });
export type CallbackEntry = z.infer<typeof CallbackSchema>;

export const SystemEntrySchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'must be lower-case letters, digits and dashes'),
    title: z.string().min(1),
    land: z.string().min(2).max(4),
    adapter: z.string().min(1),
    serves: z.array(z.string().regex(PATTERN, 'must be praefix:kennung, optionally ending in *')).min(1),
    delivery: z.discriminatedUnion('mode', [
      z.object({ mode: z.literal('pull') }).strict(),
      z.object({ mode: z.literal('push'), url: z.url({ protocol: /^https$/ }) }).strict(),
    ]),
    accepts: z
      .array(z.object({ standard: z.string(), versions: z.array(z.string()).min(1) }).strict())
      .min(1),
    /** Quota for this system; the gateway-wide default applies when absent. */
    requestsPerMinute: z.number().int().positive().optional(),
    /** Messages this system may have accepted per calendar day (Europe/Berlin); none when absent (gateway/http/message-quota.ts). */
    quota: z.object({ messagesPerDay: z.number().int().positive() }).strict().optional(),
    /** Signed status callbacks for the messages this system sends (gateway/callbacks/). */
    callback: CallbackSchema.optional(),
  })
  .strict();
export type SystemEntry = z.infer<typeof SystemEntrySchema>;

const DirectoryFileSchema = z.object({ systems: z.array(SystemEntrySchema) }).strict();

export class Directory {
  private readonly byId: Map<string, SystemEntry>;

  constructor(readonly systems: SystemEntry[]) {
    this.byId = new Map();
    for (const system of systems) {
      if (this.byId.has(system.id)) throw new Error(`directory: system ${system.id} is listed twice`);
      this.byId.set(system.id, system);
    }
  }

  static fromFile(file: string): Directory {
    const raw = YAML.parse(readFileSync(file, 'utf8'));
    const parsed = DirectoryFileSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new GatewayError(
        'GW_ERR_CONFIG_INVALID',
        `${path.basename(file)}: /${issue.path.join('/')}: ${issue.message}`,
      );
    }
    return new Directory(parsed.data.systems);
  }

  system(id: string): SystemEntry | undefined {
    return this.byId.get(id);
  }

  /** The system serving `kennung`, by the most specific pattern; undefined when none does. */
  systemFor(kennung: string): SystemEntry | undefined {
    let best: { system: SystemEntry; score: number } | undefined;
    for (const system of this.systems) {
      for (const pattern of system.serves) {
        if (matches(pattern, kennung) && (!best || specificity(pattern) > best.score)) {
          best = { system, score: specificity(pattern) };
        }
      }
    }
    return best?.system;
  }

  /** True if `systemId` is the system that serves `kennung` (a system may not speak for others' authorities). */
  serves(systemId: string, kennung: string): boolean {
    return this.systemFor(kennung)?.id === systemId;
  }
}
