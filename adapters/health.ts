import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { GatewayError } from '../src/errors.js';
import type { GatewayMetrics } from '../src/metrics.js';
import type { Readiness } from '../src/readiness.js';
import { errorResponses } from './openapi-shapes.js';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Whether the request bears `Authorization: Bearer <token>`. Compared as digests of equal length in
 * constant time, so neither the time taken nor an early return tells how much of a guess was right.
 */
function bearsToken(request: FastifyRequest, token: string): boolean {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), digest(token));
}

/**
 * Liveness, readiness (the database and Redis answer), Prometheus metrics. Metrics are open unless
 * METRICS_TOKEN is set: they name no person, but queue depths per province may be more than a
 * deployment wants to show to whoever reaches the port.
 */
async function health(app: FastifyInstance, options: { readiness: Readiness; metrics: GatewayMetrics; metricsToken?: string }) {
  const { metricsToken } = options;
  app.get('/healthz', {
    schema: { operationId: 'getLiveness', tags: ['health'], summary: 'The process is up', response: { 200: { $ref: 'Liveness#' } } },
  }, async () => ({ status: 'ok' }));

  app.get('/readyz', {
    schema: {
      operationId: 'getReadiness',
      tags: ['health'],
      summary: 'Ready for traffic: the database answers (503 otherwise); Redis\'s state is reported, not required',
      response: { 200: { $ref: 'Readiness#' }, ...errorResponses('UNAVAILABLE') },
    },
  }, async () => ({ status: 'ready', ...(await options.readiness.check()) }));

  app.get('/metrics', {
    schema: {
      operationId: 'getMetrics',
      tags: ['health'],
      summary: 'Prometheus metrics',
      ...(metricsToken
        ? { description: 'This gateway has METRICS_TOKEN set: send it as `Authorization: Bearer <token>`.', security: [{ bearer: [] }] }
        : {}),
      response: {
        200: { description: 'The Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } },
        ...(metricsToken ? errorResponses('UNAUTHORIZED', 'INTERNAL') : errorResponses('INTERNAL')),
      },
    },
    // onRequest, as for API keys: refused before anything else is done for the request.
    onRequest: async (request) => {
      if (metricsToken !== undefined && !bearsToken(request, metricsToken)) {
        throw new GatewayError('UNAUTHORIZED', 'The metrics token is required', [], { 'www-authenticate': 'Bearer' });
      }
    },
  }, async (_request, reply) => {
    // Only memory: the transfer gauges are counted by their refresher, not per scrape.
    const text = await options.metrics.registry.metrics();
    return reply.type(options.metrics.registry.contentType).send(text);
  });
}

export const healthPlugin = fp(health, { name: 'lienthong-health', fastify: '5.x' });
