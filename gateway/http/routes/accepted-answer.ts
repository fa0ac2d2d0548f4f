/** The 202 answer of both ingress routes (system-messages.ts, standard-messages.ts), as a schema for /docs. */
import { z } from 'zod';

export const AcceptedAnswer = z.object({
  requestId: z.string(),
  messages: z.array(
    z.object({
      messageId: z.string().describe('the nachrichtenUUID'),
      messageType: z.string().describe('the message type as received'),
      receiverSystem: z.string(),
      convertedTo: z
        .string()
        .optional()
        .describe('the message type the receiver gets after a version bridge'),
      status: z.literal('queued'),
      statusUrl: z.url(),
    }),
  ),
});

/** Native payloads and standard documents are read by the gateway itself, not by the framework. */
export const RAW_BODY = {
  description: 'the payload as bytes, in a content type the sending adapter (or the standard) accepts',
};
