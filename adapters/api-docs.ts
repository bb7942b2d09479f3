import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { readSchema } from '../src/package-files.js';

const schema = (file: string) => readSchema<{ $id: string }>(file);

/** OpenAPI at /docs, built from the route schemas; the message schemas are the ones intake uses. */
async function apiDocs(app: FastifyInstance) {
  app.addSchema(schema('common.schema.json'));
  app.addSchema(schema('khai-sinh.schema.json'));
  app.addSchema(schema('khai-tu.schema.json'));
  app.addSchema(schema('ho-so-mot-cua.schema.json'));
  await app.register(swagger, {
    openapi: {
      info: { title: 'lienthong', description: 'Civil registry → BHXH interconnection gateway (NGSP emulation)', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'registry', description: 'Registry systems push and fix their records' },
        { name: 'bhxh', description: 'BHXH leases batches and answers them' },
        { name: 'operators', description: 'Watch the flow, replay, pause, report' },
        { name: 'audit', description: 'The append-only audit log' },
        { name: 'health', description: 'Liveness, readiness, metrics' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}

export const apiDocsPlugin = fp(apiDocs, { name: 'lienthong-api-docs', fastify: '5.x' });
