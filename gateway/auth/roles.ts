/**
 * Who may call what. Four roles, no hierarchy (an operator is not an auditor and vice versa):
 * - `system`: a connected Fachverfahren, authenticated by its client certificate (mTLS);
 * - `auditor`: a person reading the audit log, bound to a scope (one Land, one system, or all);
 * - `operator`: a person running the gateway (dead letters, certificates), scope normally all;
 * - `scraper`: a metrics collector (Prometheus) reading /metrics and nothing else, so that the
 *   token it keeps in its configuration cannot replay dead letters, issue certificates or read the
 *   audit log. /metrics covers every system, so its scope is always `*` and it carries no permission.
 * People (and scrapers) authenticate with bearer tokens (tokens.ts). Routes declare the roles they
 * admit (route-auth.ts); a /v1 route that declares nothing admits no one.
 */

export const ROLES = ['system', 'auditor', 'operator', 'scraper'] as const;
export type Role = (typeof ROLES)[number];
/** The roles a bearer token carries. */
export type PersonRole = Exclude<Role, 'system'>;
export const PERSON_ROLES: readonly PersonRole[] = ROLES.filter(
  (role): role is PersonRole => role !== 'system',
);

/** The 16 Länder by their usual two-letter codes (as in contracts/directory.yaml `land`). */
export { LAENDER } from '../deadlines/holidays.ts';

import { LAENDER } from '../deadlines/holidays.ts';

/**
 * Permissions a token may carry beyond its role. `audit-payload`: read archived documents (personal
 * data) through the auditor API; every such read is audited.
 */
export const PERMISSIONS = ['audit-payload'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** `*` (everything), `land:SN` (systems of one Land), `system:sn-melde` (one system). */
export type Scope = { kind: 'all' } | { kind: 'land'; land: string } | { kind: 'system'; systemId: string };

export function parseScope(text: string): Scope | null {
  if (text === '*') return { kind: 'all' };
  const land = /^land:([A-Z]{2})$/.exec(text)?.[1];
  if (land && (LAENDER as readonly string[]).includes(land)) return { kind: 'land', land };
  const systemId = /^system:([a-z0-9][a-z0-9-]{1,62})$/.exec(text)?.[1];
  if (systemId) return { kind: 'system', systemId };
  return null;
}

export function formatScope(scope: Scope): string {
  switch (scope.kind) {
    case 'all':
      return '*';
    case 'land':
      return `land:${scope.land}`;
    case 'system':
      return `system:${scope.systemId}`;
  }
}

/**
 * Why a token of `role` cannot carry this scope (canonical text) and these permissions, or null if
 * it can. Only the scraper is fixed: a narrower scope would only get it refused at /metrics
 * (wholeGateway), and a permission would widen a token that is meant to read nothing else.
 */
export function roleTokenFlaw(
  role: PersonRole,
  scope: string,
  permissions: readonly string[],
): string | null {
  if (role !== 'scraper') return null;
  if (scope !== '*')
    return `a scraper token reads /metrics, which covers every system: its scope is *, not ${JSON.stringify(scope)}`;
  if (permissions.length > 0)
    return `a scraper token reads /metrics only: it carries no permission, not ${permissions.join(', ')}`;
  return null;
}

/** Whether a scope covers a system (by its id and the Land from the directory). */
export function scopeCovers(scope: Scope, system: { id: string; land: string }): boolean {
  switch (scope.kind) {
    case 'all':
      return true;
    case 'land':
      return scope.land === system.land;
    case 'system':
      return scope.systemId === system.id;
  }
}

export type Principal =
  | { role: 'system'; systemId: string; serial: string }
  | { role: PersonRole; tokenId: string; scope: Scope; name: string; permissions: readonly Permission[] };

/** The audit log's actor string for a principal. */
export function actorOf(principal: Principal | null): string {
  if (!principal) return 'anonymous';
  return principal.role === 'system' ? `system:${principal.systemId}` : `token:${principal.tokenId}`;
}
