/**
 * Request parameter checks. Path ids go into SQL, topic names and file paths, so only their exact
 * shape passes; query strings are parsed against the route's zod schema, one error shape for all routes.
 */
import { z } from 'zod';
import { GatewayError } from '../../errors/catalogue.ts';

function pattern(name: string, re: RegExp) {
  return (value: string): string => {
    if (!re.test(value)) {
      throw new GatewayError('GW_ERR_BAD_REQUEST', `path parameter ${name} is malformed`, {
        errors: [{ pointer: `/${name}`, detail: `must match ${re.source}` }],
      });
    }
    return value;
  };
}

export const SYSTEM_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;
export const MESSAGE_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const SYSTEM_ID = pattern('systemId', SYSTEM_ID_PATTERN);
export const MESSAGE_ID = pattern('messageId', MESSAGE_ID_PATTERN);

/** The same shapes as zod schemas, for the routes' declared (documented) schemas. */
export const SystemIdParam = z
  .string()
  .regex(SYSTEM_ID_PATTERN)
  .describe('a connected system, e.g. sn-melde');
export const MessageIdParam = z.string().regex(MESSAGE_ID_PATTERN).describe('a nachrichtenUUID');

/**
 * Parses a request part (`query`, `path parameter`) against the route's schema; every issue becomes
 * an error with a pointer, the first one the detail of the GW_ERR_BAD_REQUEST.
 */
export function parseRequestPart<T extends z.ZodType>(
  schema: T,
  value: unknown,
  part: 'query' | 'path parameter',
): z.infer<T> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const errors = parsed.error.issues.map((issue) => {
    const unknownKeys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    const name = unknownKeys[0] ?? issue.path.join('/');
    return {
      pointer: `/${name}`,
      detail:
        unknownKeys.length > 0
          ? `unknown ${part === 'query' ? 'query parameter' : part}(s) ${unknownKeys.join(', ')}`
          : issue.message,
    };
  });
  const first = errors[0]!;
  throw new GatewayError(
    'GW_ERR_BAD_REQUEST',
    `${part} ${first.pointer.slice(1) || '(all)'}: ${first.detail}`,
    {
      errors,
    },
  );
}

export function parseQuery<T extends z.ZodType>(schema: T, query: unknown): z.infer<T> {
  return parseRequestPart(schema, query, 'query');
}
