/**
 * What a person's scope lets them see of the audit log. A message is visible when its sending or
 * its receiving system is covered by the scope (gateway/auth/roles.ts scopeCovers), the system's Land
 * taken from the directory as it is now. Entries without a message (certificates, tokens, contract
 * changes) and messages whose systems are unknown are visible only to the unrestricted scope `*`.
 */
import { type Principal, type Scope, scopeCovers } from '../../../auth/roles.ts';
import type { Directory } from '../../../directory/directory.ts';
import { GatewayError } from '../../../errors/catalogue.ts';

export type Visibility = { all: true } | { all: false; systems: ReadonlySet<string> };

export function visibilityOf(principal: Principal | null, directory: Directory): Visibility {
  if (!principal || principal.role === 'system') {
    // Route declarations keep systems out already; this is the second lock on the door.
    throw new GatewayError('GW_ERR_ROLE_FORBIDDEN', 'the audit log is for auditors and operators');
  }
  return visibilityOfScope(principal.scope, directory);
}

export function visibilityOfScope(scope: Scope, directory: Directory): Visibility {
  if (scope.kind === 'all') return { all: true };
  const systems = new Set<string>();
  for (const system of directory.systems) if (scopeCovers(scope, system)) systems.add(system.id);
  // A system scope names its system even when the directory no longer lists it: its history stays auditable.
  if (scope.kind === 'system') systems.add(scope.systemId);
  return { all: false, systems };
}

export function canSee(
  visibility: Visibility,
  message: { senderSystem: string | null; receiverSystem: string | null },
): boolean {
  if (visibility.all) return true;
  return (
    (message.senderSystem !== null && visibility.systems.has(message.senderSystem)) ||
    (message.receiverSystem !== null && visibility.systems.has(message.receiverSystem))
  );
}
