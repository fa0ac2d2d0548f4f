/**
 * Route-level authorization, declared where the route is defined and enforced in ONE place:
 *
 *   app.get('/v1/audit/messages', { config: { auth: { role: 'auditor' } } }, handler)
 *   app.post('/v1/systems/:systemId/messages', { config: { auth: { role: 'system' } } }, handler)
 *   app.get('/v1/pki/crl', { config: { auth: { public: true } } }, handler)
 *
 * The onRequest hook of routeAuth() reads the declaration, authenticates the caller — a bearer token
 * for people (auditor, operator) and metrics scrapers, the client certificate for systems — checks
 * the role, and puts the result on `request.principal` for the handler (which still decides WHICH
 * system or scope may see what). Deny by default: a /v1 route that declares nothing is refused for
 * everyone (403), and a warning names it at startup. Routes outside /v1 (health, metrics) are
 * public unless they declare.
 *
 * Every refusal here is audited with the best-known actor (the revoked system, the token id) — and,
 * when a client certificate was presented and refused, with why and which (client-auth.ts) — and
 * then handled by the server's error handler like any other problem.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/audit-log.ts';
import { auditRejection } from '../audit/rejections.ts';
import { GatewayError, isGatewayError } from '../errors/catalogue.ts';
import {
  type CertificateResolver,
  callerSystem,
  type RefusedCertificate,
  refusalInWords,
  refusedCertificate,
  refusedCertificateDetail,
  requireAnySystem,
  revokedCaller,
} from '../http/client-auth.ts';
import type { TokenStore } from '../ports/token-store.ts';
import { actorOf, formatScope, type Principal, type Role } from './roles.ts';

/**
 * `wholeGateway`: the route answers about every system at once (metrics, the certificate inventory),
 * so a person's token must have the scope `*`; a narrower one is refused (403 GW_ERR_FORBIDDEN,
 * audited like every refusal here). Routes that filter by scope themselves do not set it.
 */
export type RouteAuth = { public: true } | { role: Role | readonly Role[]; wholeGateway?: true };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call this route; see gateway/auth/route-auth.ts. Required on every /v1 route. */
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    /** Set by routeAuth's onRequest hook for routes that declare a role; null on public routes. */
    principal: Principal | null;
  }
}

export interface RouteAuthOptions {
  tokens: TokenStore;
  resolveCaller: CertificateResolver;
  audit: AuditLog;
}

const BEARER = /^Bearer ([\x21-\x7e]+)$/;
const WWW_AUTHENTICATE = { 'www-authenticate': 'Bearer realm="laender-gateway"' };

function declaredRoles(auth: RouteAuth): readonly Role[] | 'public' {
  if ('public' in auth) return 'public';
  return typeof auth.role === 'string' ? [auth.role] : auth.role;
}

/**
 * A verified client certificate is on the connection. `authorized` alone is not enough: a TLS session
 * resumed from one that had no client certificate reports `authorized` (OpenSSL keeps a verify
 * result of OK when nothing was verified) with no peer certificate — a person's client resuming its
 * own session would be asked for a certificate instead of a token.
 */
function presentsCertificate(request: FastifyRequest): boolean {
  const socket = request.raw.socket as TLSSocket;
  if (socket.authorized !== true || typeof socket.getPeerCertificate !== 'function') return false;
  return (socket.getPeerCertificate().raw?.length ?? 0) > 0;
}

async function authenticate(
  request: FastifyRequest,
  roles: readonly Role[],
  options: RouteAuthOptions,
): Promise<Principal> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const token = BEARER.exec(header)?.[1];
    if (!token) {
      throw new GatewayError('GW_ERR_TOKEN_INVALID', 'Authorization must be "Bearer <token>"', {
        headers: WWW_AUTHENTICATE,
      });
    }
    const record = await options.tokens.authenticate(token);
    const principal: Principal = {
      role: record.role,
      tokenId: record.id,
      scope: record.parsedScope,
      name: record.name,
      permissions: record.permissions,
    };
    if (!roles.includes(record.role)) {
      request.principal = principal; // for the audit entry of the refusal
      throw new GatewayError(
        'GW_ERR_ROLE_FORBIDDEN',
        `this route admits ${roles.join(', ')}, not ${record.role}`,
      );
    }
    return principal;
  }
  const personRoles = roles.filter((role) => role !== 'system');
  if (roles.includes('system') && (personRoles.length === 0 || presentsCertificate(request))) {
    const caller = requireAnySystem(request, options.resolveCaller);
    return { role: 'system', systemId: caller.systemId, serial: caller.serial };
  }
  if (callerSystem(request, options.resolveCaller)) {
    throw new GatewayError(
      'GW_ERR_ROLE_FORBIDDEN',
      `this route admits ${roles.join(', ')}; a client certificate authenticates a system`,
    );
  }
  // A refused certificate on a route systems may call too: say why it did not count.
  const refused = roles.includes('system') ? refusedCertificate(request, options.resolveCaller) : null;
  throw new GatewayError(
    'GW_ERR_TOKEN_REQUIRED',
    `this route admits ${roles.join(', ')}: send a bearer token${refused ? `; ${refusalInWords(refused)}` : ''}`,
    {
      headers: WWW_AUTHENTICATE,
    },
  );
}

/**
 * The refused certificate to record with a refusal, when the certificate was the way in that failed:
 * not for a bearer token's refusal, nor on routes no system may call.
 */
function refusedWayIn(
  request: FastifyRequest,
  error: GatewayError,
  roles: readonly Role[],
  resolve: CertificateResolver,
): RefusedCertificate | null {
  const certificateRefusal =
    error.code === 'GW_ERR_CLIENT_CERT_REQUIRED' ||
    error.code === 'GW_ERR_CLIENT_CERT_REVOKED' ||
    (error.code === 'GW_ERR_TOKEN_REQUIRED' && roles.includes('system'));
  return certificateRefusal ? refusedCertificate(request, resolve) : null;
}

function requireWholeScope(principal: Principal, url: string): void {
  if (principal.role === 'system' || principal.scope.kind === 'all') return;
  throw new GatewayError(
    'GW_ERR_FORBIDDEN',
    `${url} answers about every system: it needs a token of scope *, not ${formatScope(principal.scope)}`,
  );
}

/** The plugin: register it before any route (it is not encapsulated, so it sees every route). */
export function routeAuth(options: RouteAuthOptions): (app: FastifyInstance) => Promise<void> {
  const plugin = async (app: FastifyInstance) => {
    app.decorateRequest('principal', null);

    // Checked once all plugins are loaded: withAuth() fills in declarations after this hook has run.
    const routes: { method: unknown; url: string; config?: { auth?: RouteAuth } }[] = [];
    app.addHook('onRoute', (route) => {
      if (route.url.startsWith('/v1/')) routes.push(route);
    });
    app.addHook('onReady', async () => {
      for (const route of routes) {
        if (!route.config?.auth) {
          app.log.warn(
            { method: route.method, url: route.url },
            'route declares no auth: it refuses every request (deny by default)',
          );
        }
      }
    });

    app.addHook('onRequest', async (request) => {
      const url = request.routeOptions.url;
      if (url === undefined) return; // no such route: the not-found handler answers
      const auth = request.routeOptions.config?.auth;
      if (!auth) {
        if (!url.startsWith('/v1/')) return;
        throw new GatewayError(
          'GW_ERR_FORBIDDEN',
          `deny by default: ${request.method} ${url} declares no role`,
        );
      }
      const roles = declaredRoles(auth);
      if (roles === 'public') return;
      try {
        request.principal = await authenticate(request, roles, options);
        if ('wholeGateway' in auth && auth.wholeGateway) requireWholeScope(request.principal, url);
      } catch (error) {
        if (isGatewayError(error)) {
          // A revoked certificate still verifies: it names its system. Any other refused one is
          // recorded as presented (reason, serial, subject, issuer) but never taken as the actor.
          const revoked = revokedCaller(request, options.resolveCaller);
          const refused = refusedWayIn(request, error, roles, options.resolveCaller);
          await auditRejection(
            options.audit,
            request.log,
            {
              actor: revoked ? `system:${revoked.systemId}` : actorOf(request.principal),
              messageId: request.id,
              senderSystem:
                revoked?.systemId ??
                (request.principal?.role === 'system' ? request.principal.systemId : null),
              detail: {
                code: error.code,
                method: request.method,
                route: url,
                ...refusedCertificateDetail(refused),
                ...(revoked ? { certificateSerial: revoked.serial } : {}),
              },
            },
            error,
          );
        }
        throw error;
      }
    });
  };
  // fastify's documented escape from encapsulation (what fastify-plugin sets): the hooks apply app-wide.
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}

/**
 * Mounts a route plugin whose routes do not declare `auth` themselves with a default declaration
 * (routes that do declare keep theirs). For plugins owned elsewhere until they declare per route.
 */
export function withAuth(auth: RouteAuth, routes: (app: FastifyInstance) => Promise<void>) {
  return async (app: FastifyInstance) => {
    app.addHook('onRoute', (route) => {
      if (!route.config?.auth) route.config = { ...route.config, auth };
    });
    await app.register(routes);
  };
}
