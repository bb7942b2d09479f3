import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { CallbackListQuery, CallbackOperations } from '../src/dispatch/callbacks.js';
import { requireClient } from '../src/http/auth-plugin.js';
import { AUTH_ERRORS, BODY_ERRORS, SERVER_ERRORS, errorResponses } from './openapi-shapes.js';

export interface OpsCallbacksOptions {
  callbacks: CallbackOperations;
}

const clientId = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'a registry client with a callback address' } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;

const callbackPage = {
  type: 'object',
  required: ['items', 'nextCursor'],
  properties: {
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['eventId', 'clientId', 'transferId', 'status', 'at', 'attempts', 'lastError', 'lastAttemptAt', 'nextAttemptAt', 'inFlight'],
        properties: {
          eventId: { type: 'string', description: 'the eventId the callback carries' },
          clientId: { type: 'string' },
          transferId: { type: 'string' },
          status: { type: 'string', description: 'the status the callback announces' },
          at: { ...dateTime, description: 'when that change happened' },
          attempts: { type: 'integer', description: 'attempts that failed so far' },
          lastError: { type: ['string', 'null'], description: 'why the latest attempt failed: `answered 503`, `no answer in time`, `cannot reach (ECONNREFUSED)`' },
          lastAttemptAt: { type: ['string', 'null'], format: 'date-time' },
          nextAttemptAt: { ...dateTime, description: 'when it is tried next, once the callbacks before it are through' },
          inFlight: { type: 'boolean', description: 'being posted now' },
        },
      },
    },
    nextCursor: { type: ['string', 'null'], description: 'pass as `after` for the next page; null on the last page' },
  },
} as const;

/** Operators see the callbacks that do not get through, and send them again now (docs/API.md, "Callbacks"). */
async function opsCallbacks(app: FastifyInstance, options: OpsCallbacksOptions) {
  const operator = { roles: ['operator' as const] };

  app.get<{ Querystring: { clientId?: string; state: CallbackListQuery['state']; after?: string; limit: number } }>('/ops/v1/callbacks', {
    config: operator,
    schema: {
      operationId: 'listCallbacks',
      tags: ['operators'],
      summary: 'Callbacks not yet delivered: the failing ones, or all waiting, oldest first',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          clientId,
          state: { type: 'string', enum: ['failing', 'pending'], default: 'failing', description: 'failing: tried and refused at least once; pending: every one not yet delivered' },
          after: { type: 'string', pattern: '^[0-9]{1,18}$', description: 'the nextCursor of the previous page' },
          limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
        },
      },
      response: { 200: callbackPage, ...errorResponses(...AUTH_ERRORS, 'VALIDATION_FAILED', ...SERVER_ERRORS) },
    },
  }, async (request) => {
    const { after, ...query } = request.query;
    return options.callbacks.list(requireClient(request), { ...query, ...(after ? { after: Number(after) } : {}) });
  });

  app.post<{ Body: { clientId?: string } | undefined }>('/ops/v1/callbacks/retry', {
    config: operator,
    schema: {
      operationId: 'retryCallbacks',
      tags: ['operators'],
      summary: "Try one client's failing callbacks again now, or every client's without clientId; audited",
      body: { type: 'object', additionalProperties: false, properties: { clientId }, examples: [{ clientId: 'hotich-08' }] },
      response: {
        200: {
          type: 'object',
          required: ['retried'],
          properties: { retried: { type: 'integer', description: 'failing callbacks made due now' } },
        },
        ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, ...SERVER_ERRORS),
      },
    },
  }, async (request) => options.callbacks.retry(requireClient(request), request.body?.clientId));
}

export const opsCallbacksPlugin = fp(opsCallbacks, { name: 'lienthong-ops-callbacks', fastify: '5.x', encapsulate: true });
