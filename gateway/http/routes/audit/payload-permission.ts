/**
 * Reading an archived document (personal data) is not part of auditing the log: it needs an explicit
 * permission on the token, granted at issuance (`gw token issue … --permit audit-payload`), on top of
 * the role and the scope. Tokens without a permission list have none.
 */
import type { Principal } from '../../../auth/roles.ts';

export const PAYLOAD_PERMISSION = 'audit-payload';

export function mayReadPayload(principal: Principal | null): boolean {
  if (!principal || principal.role === 'system') return false;
  return principal.permissions.includes(PAYLOAD_PERMISSION);
}
