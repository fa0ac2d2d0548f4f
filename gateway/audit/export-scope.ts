/**
 * Which entries a scoped export (export.ts) shows in full: exactly those the auditor API would show
 * the same person. The API shows messages, not entries — a message whose search row is visible
 * (gateway/http/routes/audit/visibility.ts canSee, on the row's sending and receiving system) and
 * with it the message's whole trail, every entry of that message id. So an entry is in scope iff it
 * has a message id and that message's search row is visible. Entries without a message
 * (certificates, tokens, exports) and messages without a search row are out of scope: redacted.
 *
 * Every decision is made on a message's search row as the store returns it; only the way the rows
 * are fetched differs. One search per message costs a round trip (and, on PostgreSQL, a projection
 * catch-up) each, so for a page of entries the rows of all messages that began within the page's
 * time span are read in a few pages of a time-range search first; a message that began earlier
 * (a late dead-letter, say) is then looked up alone.
 */
import type { AuditEntry, AuditMessageSummary, AuditStore } from '../ports/audit-store.ts';
import type { ExportScope } from './export.ts';

/** Decisions remembered across pages: a message's entries lie close together in a chain. */
const REMEMBERED = 10_000;
/** Up to this many undecided messages in a page are looked up one by one. */
const ONE_BY_ONE = 4;
const SEARCH_PAGE = 1000;
/**
 * The time-range search reads at most this many rows per undecided message: the range also holds
 * other chains' messages, and a sparse chain's page can span hours of traffic. A row read in a
 * page of a thousand costs far less than a lookup alone (on PostgreSQL a projection catch-up and a
 * query, five round trips), so reading many rows for one message still pays.
 */
const ROWS_PER_MESSAGE = 32;

type Search = Pick<AuditStore, 'searchMessages'>;

export function messageScope(
  name: string,
  store: Search,
  visible: (message: AuditMessageSummary) => boolean,
): ExportScope {
  const remembered = new Map<string, boolean>();
  const remember = (messageId: string, shown: boolean) => {
    if (remembered.size >= REMEMBERED) remembered.delete(remembered.keys().next().value!);
    remembered.set(messageId, shown);
  };
  const decide = (summary: AuditMessageSummary | undefined, messageId: string) =>
    summary !== undefined && summary.messageId === messageId && visible(summary);

  return {
    name,
    async inScope(entries: readonly AuditEntry[]): Promise<boolean[]> {
      const page = new Map<string, boolean>();
      const undecided = new Set<string>();
      let from: string | undefined;
      let to: string | undefined;
      for (const entry of entries) {
        const id = entry.messageId;
        if (id === null || page.has(id) || undecided.has(id)) continue;
        const known = remembered.get(id);
        if (known !== undefined) {
          page.set(id, known);
          continue;
        }
        undecided.add(id);
        if (from === undefined || entry.time < from) from = entry.time;
        if (to === undefined || entry.time > to) to = entry.time;
      }
      const missing = new Set(undecided);
      if (missing.size > ONE_BY_ONE) {
        await readByTimeRange(store, missing, from!, to!, (summary) => {
          if (!missing.delete(summary.messageId)) return;
          page.set(summary.messageId, decide(summary, summary.messageId));
        });
      }
      for (const id of missing) {
        const [summary] = (await store.searchMessages({ messageId: id, limit: 1 })).items;
        page.set(id, decide(summary, id));
      }
      for (const id of undecided) remember(id, page.get(id)!);
      return entries.map((entry) => entry.messageId !== null && page.get(entry.messageId) === true);
    },
  };
}

/**
 * Feeds `found` the rows of the messages that began in [from, to], until none is `missing` or the
 * read budget is spent (`found` takes the found ones out of `missing`).
 */
async function readByTimeRange(
  store: Search,
  missing: ReadonlySet<string>,
  from: string,
  to: string,
  found: (summary: AuditMessageSummary) => void,
): Promise<void> {
  const until = new Date(Date.parse(to) + 1).toISOString();
  let budget = missing.size * ROWS_PER_MESSAGE;
  let cursor: string | undefined;
  while (budget > 0 && missing.size > 0) {
    const result = await store.searchMessages({
      from,
      to: until,
      order: 'asc',
      limit: Math.min(SEARCH_PAGE, budget),
      ...(cursor !== undefined ? { cursor } : {}),
    });
    for (const summary of result.items) found(summary);
    budget -= result.items.length;
    if (result.next === undefined) return;
    cursor = result.next;
  }
}
