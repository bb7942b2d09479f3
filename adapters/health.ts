import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { GatewayError, RETRY_AFTER_SECONDS } from '../src/errors.js';
import type { GatewayMetrics } from '../src/metrics.js';
import type { Database } from '../src/store/database.js';
import { errorResponses } from './openapi-shapes.js';

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness, readiness (the database and Redis answer), Prometheus metrics. */
async function health(app: FastifyInstance, options: { db: Database; redis: Redis; metrics: GatewayMetrics }) {
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
  }, async () => {
    const checks = await Promise.allSettled([
      withTimeout(options.db.query('SELECT 1'), 2000),
      withTimeout(options.redis.ping(), 2000),
    ]);
    const names = ['database', 'redis'];
    const failed = checks.flatMap((check, index) =>
      check.status === 'rejected' ? [{ path: `/${names[index]}`, code: 'UNREACHABLE', message: String((check.reason as Error)?.message ?? check.reason) }] : [],
    );
    // Ready means able to take traffic, and intake needs only the database: without Redis, messages
    // are still accepted and wait in PostgreSQL, so Redis's state is reported, not failed on.
    if (checks[0].status === 'rejected') throw new GatewayError('UNAVAILABLE', 'Not ready', failed, { 'retry-after': String(RETRY_AFTER_SECONDS) });
    return { status: 'ready', database: options.db.kind, redis: checks[1].status === 'fulfilled' ? 'ok' : 'down' };
  });

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
