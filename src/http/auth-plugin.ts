import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiClient, ClientRegistry, Role } from '../auth/clients.js';
import { GatewayError } from '../errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Roles allowed on this route; a route without it is public (health, docs, metrics). */
    roles?: Role[];
  }
  interface FastifyRequest {
    client: ApiClient | null;
  }
}

/** Reads `Authorization: Bearer <key>`; 401 when absent or unknown, 403 when the role is wrong. */
export function authenticate(registry: ClientRegistry, request: Pick<FastifyRequest, 'headers'>, roles: Role[]): ApiClient {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  const client = match?.[1] ? registry.authenticate(match[1]) : null;
  if (!client) throw new GatewayError('UNAUTHORIZED', undefined, [], { 'www-authenticate': 'Bearer' });
  if (!roles.some((role) => client.roles.includes(role))) {
    throw new GatewayError('FORBIDDEN', `This needs one of the roles: ${roles.join(', ')}`);
  }
  return client;
}

export const authPlugin = fp(
  async function auth(app: FastifyInstance, options: { clients: ClientRegistry }) {
    app.decorateRequest('client', null);
    // onRequest runs before the body is read, so an unauthenticated sender cannot make us parse 20 MB.
    app.addHook('onRequest', async (request) => {
      const roles = request.routeOptions.config.roles;
      if (roles) request.client = authenticate(options.clients, request, roles);
    });
  },
  { name: 'lienthong-auth', fastify: '5.x' },
);

export function requireClient(request: FastifyRequest): ApiClient {
  if (!request.client) throw new GatewayError('UNAUTHORIZED');
  return request.client;
}
