/** Path parameter checks: ids go into SQL, topic names and file paths, so only their exact shape passes. */
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
