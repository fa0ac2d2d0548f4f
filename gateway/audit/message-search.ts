/**
 * One SQL builder for AuditMessageSearch, used by the SQLite and the PostgreSQL store. Every filter
 * is an equality or a range on an indexed column: authority patterns `ags:14*` become
 * `col >= 'ags:14' AND col < 'ags:15'` (byte order: BINARY in SQLite, COLLATE "C" in PostgreSQL),
 * and paging is keyset on (first_time, message_id), so a page costs the same on page 1 and page 10,000.
 */
import { PATTERN } from '../directory/pattern.ts';
import { GatewayError } from '../errors/catalogue.ts';
import type {
  AuditMessagePage,
  AuditMessageSearch,
  AuditMessageStatus,
  AuditMessageSummary,
} from '../ports/audit-store.ts';
import { AUDIT_MESSAGE_STATUSES } from '../ports/audit-store.ts';

export const MAX_SEARCH_LIMIT = 1000;

export const SUMMARY_COLUMNS = `message_id AS "messageId", first_time AS "firstTime", last_time AS "lastTime",
  status, message_type AS "messageType", sender, receiver, sender_system AS "senderSystem",
  receiver_system AS "receiverSystem", digest, events`;

function bad(detail: string): GatewayError {
  return new GatewayError('GW_ERR_BAD_REQUEST', `audit search: ${detail}`);
}

function isoTime(value: string, name: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw bad(`${name} is not a date/time`);
  return new Date(ms).toISOString();
}

export function encodeCursor(firstTime: string, messageId: string): string {
  return Buffer.from(JSON.stringify([firstTime, messageId]), 'utf8').toString('base64url');
}

/**
 * A page of a search that fetched one row more than `limit` (buildMessageSearch does): the first
 * `limit` rows, and a cursor after the last of them if there are more.
 */
export function searchPage(rows: AuditMessageSummary[], limit: number): AuditMessagePage {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return rows.length > limit && last
    ? { items, next: encodeCursor(last.firstTime, last.messageId) }
    : { items };
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'string')) {
      return value as [string, string];
    }
  } catch {
    // falls through
  }
  throw bad('cursor is not one this store issued');
}

/** Successor of a prefix in byte order: the smallest string greater than every string starting with it. */
function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

export interface BuiltSearch {
  sql: string;
  params: unknown[];
  limit: number;
  /** Known to match nothing (an empty scope). */
  empty: boolean;
}

export function buildMessageSearch(
  search: AuditMessageSearch,
  placeholder: (n: number) => string,
): BuiltSearch {
  const params: unknown[] = [];
  const p = (value: unknown) => {
    params.push(value);
    return placeholder(params.length);
  };
  const where: string[] = [];

  const limit = search.limit;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT) {
    throw bad(`limit must be an integer from 1 to ${MAX_SEARCH_LIMIT}`);
  }
  const patternCondition = (columns: string[], pattern: string, name: string): string => {
    if (!PATTERN.test(pattern)) throw bad(`${name} must be praefix:kennung, optionally ending in *`);
    if (!pattern.endsWith('*')) return `(${columns.map((c) => `${c} = ${p(pattern)}`).join(' OR ')})`;
    const prefix = pattern.slice(0, -1);
    return `(${columns.map((c) => `(${c} >= ${p(prefix)} AND ${c} < ${p(prefixEnd(prefix))})`).join(' OR ')})`;
  };

  if (search.messageId !== undefined) where.push(`message_id = ${p(search.messageId)}`);
  if (search.authority !== undefined)
    where.push(patternCondition(['sender', 'receiver'], search.authority, 'authority'));
  if (search.sender !== undefined) where.push(patternCondition(['sender'], search.sender, 'sender'));
  if (search.receiver !== undefined) where.push(patternCondition(['receiver'], search.receiver, 'receiver'));
  if (search.system !== undefined) {
    where.push(`(sender_system = ${p(search.system)} OR receiver_system = ${p(search.system)})`);
  }
  let empty = false;
  if (search.systems !== undefined) {
    if (search.systems.length === 0) empty = true;
    else {
      const list = () => search.systems!.map((id) => p(id)).join(', ');
      where.push(`(sender_system IN (${list()}) OR receiver_system IN (${list()}))`);
    }
  }
  if (search.senderSystem !== undefined) where.push(`sender_system = ${p(search.senderSystem)}`);
  if (search.receiverSystem !== undefined) where.push(`receiver_system = ${p(search.receiverSystem)}`);
  if (search.messageType !== undefined) where.push(`message_type = ${p(search.messageType)}`);
  if (search.status !== undefined) {
    const statuses = Array.isArray(search.status) ? search.status : [search.status];
    for (const s of statuses) {
      if (!(AUDIT_MESSAGE_STATUSES as readonly string[]).includes(s)) throw bad(`unknown status ${s}`);
    }
    if (statuses.length === 0) throw bad('status must name at least one status');
    where.push(`status IN (${(statuses as AuditMessageStatus[]).map((s) => p(s)).join(', ')})`);
  }
  if (search.from !== undefined) where.push(`first_time >= ${p(isoTime(search.from, 'from'))}`);
  if (search.to !== undefined) where.push(`first_time < ${p(isoTime(search.to, 'to'))}`);
  if (search.scope !== undefined) {
    if (search.scope.length === 0) empty = true;
    else {
      where.push(
        `(${search.scope.map((pattern) => patternCondition(['sender', 'receiver'], pattern, 'scope')).join(' OR ')})`,
      );
    }
  }
  const order = search.order ?? 'asc';
  if (order !== 'asc' && order !== 'desc') throw bad('order must be asc or desc');
  if (search.cursor !== undefined) {
    const [time, id] = decodeCursor(search.cursor);
    where.push(`(first_time, message_id) ${order === 'asc' ? '>' : '<'} (${p(time)}, ${p(id)})`);
  }
  const direction = order === 'asc' ? 'ASC' : 'DESC';
  const sql =
    `SELECT ${SUMMARY_COLUMNS} FROM audit_messages` +
    (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
    ` ORDER BY first_time ${direction}, message_id ${direction} LIMIT ${p(limit + 1)}`;
  return { sql, params, limit, empty };
}
