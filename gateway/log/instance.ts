/**
 * This process, in audit details and logs: which of several gateway processes did the work.
 * (Host and pid: unique among live processes, readable in an incident.)
 */
import { hostname } from 'node:os';

export const GATEWAY_INSTANCE = `${hostname()}/${process.pid}`;
