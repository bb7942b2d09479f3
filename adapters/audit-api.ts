import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { AuditLog } from '../src/audit/audit-log.js';
import { requireClient } from '../src/http/auth-plugin.js';
import { AUTH_ERRORS, SERVER_ERRORS, errorResponses } from './openapi-shapes.js';

/** Read and verify the audit log (docs/API.md). There is deliberately no way to write it here. */
async function auditApi(app: FastifyInstance, options: { auditLog: AuditLog }) {
  app.get<{ Querystring: { transferId?: string; after?: string; limit: number } }>('/audit/v1/events', {
    config: { roles: ['auditor', 'operator'] },
    schema: {
      operationId: 'listAuditEvents',
      tags: ['audit'],
      summary: 'Audit events of the client\'s provinces, oldest first (optionally of one transfer); page with `after` = the previous page\'s `nextCursor`',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          transferId: { type: 'string', maxLength: 64 },
          after: {
            type: 'string', minLength: 1, maxLength: 4096, pattern: '^[A-Za-z0-9_-]+$',
            description: 'the previous page\'s nextCursor; a number is read as before chains: the events whose seq is above it',
          },
          limit: { type: 'integer', minimum: 1, maximum: 1000, default: 200 },
        },
      },
      response: { 200: { $ref: 'AuditEventPage#' }, ...errorResponses(...AUTH_ERRORS, 'VALIDATION_FAILED', 'NOT_FOUND', ...SERVER_ERRORS) },
    },
  }, async (request) => {
    const { transferId, after, limit } = request.query;
    return options.auditLog.events(requireClient(request), { transferId, after, limit });
  });

  app.get('/audit/v1/verify', {
    config: { roles: ['auditor', 'operator'] },
    schema: {
      operationId: 'verifyAuditChain',
      tags: ['audit'],
      summary: 'Check every signed checkpoint and recompute every chain; names each thing found wrong',
      response: { 200: { $ref: 'ChainVerdict#' }, ...errorResponses(...AUTH_ERRORS, ...SERVER_ERRORS) },
    },
  }, async () => options.auditLog.verify());
}

export const auditApiPlugin = fp(auditApi, { name: 'lienthong-audit-api', fastify: '5.x', encapsulate: true });
