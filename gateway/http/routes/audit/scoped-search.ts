/**
 * Message search within a person's scope: everything the auditor asked for, narrowed by the store to
 * messages whose sending or receiving system is in scope (`systems`, on indexed columns). Systems,
 * not authority patterns: a message refused before its authorities were known still names the
 * system that sent it, and belongs to that system's Land.
 */
import type { AuditMessagePage, AuditMessageSearch, AuditStore } from '../../../ports/audit-store.ts';
import type { SearchQuery } from './query.ts';
import type { Visibility } from './visibility.ts';

export function searchVisible(
  store: AuditStore,
  visibility: Visibility,
  query: SearchQuery,
): Promise<AuditMessagePage> {
  const { cursor, ...filters } = query;
  const search: AuditMessageSearch = { ...filters, ...(cursor !== undefined ? { cursor } : {}) };
  if (!visibility.all) search.systems = [...visibility.systems].sort();
  return store.searchMessages(search);
}
