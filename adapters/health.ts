import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { GatewayMetrics } from '../src/metrics.js';
import type { Readiness } from '../src/readiness.js';
import { errorResponses } from './openapi-shapes.js';

/** Liveness, readiness (the database and Redis answer), Prometheus metrics. */
async function health(app: FastifyInstance, options: { readiness: Readiness; metrics: GatewayMetrics }) {
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
      response: { 200: { description: 'The Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errorResponses('INTERNAL') },
    },
  }, async (_request, reply) => {
    const text = await options.metrics.registry.metrics();
    return reply.type(options.metrics.registry.contentType).send(text);
  });
}

export const healthPlugin = fp(health, { name: 'lienthong-health', fastify: '5.x' });
