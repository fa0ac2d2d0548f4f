/** GET /v1/auth/whoami — who the gateway takes the caller to be (role, scope); for consoles and scripts. */
import type { FastifyInstance } from 'fastify';
import { formatScope } from '../../auth/roles.ts';

export function authRoutes() {
  return async (app: FastifyInstance) => {
    app.get(
      '/v1/auth/whoami',
      { config: { auth: { role: ['system', 'auditor', 'operator'] } } },
      async (request) => {
        const principal = request.principal!;
        return principal.role === 'system'
          ? { role: principal.role, systemId: principal.systemId, certificateSerial: principal.serial }
          : {
              role: principal.role,
              tokenId: principal.tokenId,
              scope: formatScope(principal.scope),
              name: principal.name,
              permissions: principal.permissions,
            };
      },
    );
  };
}
