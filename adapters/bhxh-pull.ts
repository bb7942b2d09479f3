import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { LeaseRequest, PullBatches } from '../src/dispatch/pull-batches.js';
import { requireClient } from '../src/http/auth-plugin.js';
import { BHXH_DOCUMENT_TYPES } from '../src/messages/registry.js';
import { documentBody } from './api-docs.js';
import { leaseExample, resultsExample } from './openapi-examples.js';
import { AUTH_ERRORS, BODY_ERRORS, SERVER_ERRORS, errorResponses } from './openapi-shapes.js';

/** A lease taken or renewed runs this long; the same bounds for both. */
const leaseSeconds = { type: 'integer', minimum: 1, maximum: 86_400, default: 300 } as const;

const batchIdParams = { type: 'object', properties: { batchId: { type: 'string', maxLength: 64 } } } as const;

export interface BhxhPullOptions {
  pull: PullBatches;
  /** The gateway's batch size: the default `max`. */
  maxBatchSize: number;
}

const resultsBody = (result: object) => ({
  type: 'object',
  additionalProperties: false,
  required: ['results'],
  properties: { results: { type: 'array', maxItems: 10_000, items: result } },
}) as const;

/** Where BHXH fetches batches itself and answers them (pull, docs/API.md); scoped by province. */
async function bhxhPull(app: FastifyInstance, options: BhxhPullOptions) {
  app.post<{ Body: LeaseRequest }>('/bhxh/v1/batches/lease', {
    config: { roles: ['bhxh'] },
    schema: {
      operationId: 'leaseBatch',
      tags: ['bhxh'],
      summary: 'Lease up to `max` queued records of one province and type as a batch (204 when nothing waits)',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['maTinh', 'loai'],
        properties: {
          maTinh: { type: 'string', pattern: '^[0-9]{2}$' },
          loai: { type: 'string', enum: BHXH_DOCUMENT_TYPES },
          max: { type: 'integer', minimum: 1, default: options.maxBatchSize, description: 'at most this many records; more than the gateway\'s batch size (the default) is served as the batch size' },
          leaseSeconds,
        },
        examples: [leaseExample],
      },
      response: {
        200: { $ref: 'Batch#', description: 'The leased batch: its records are sent until answered or the lease expires' },
        204: { type: 'null', description: 'No queued record of that province and type' },
        ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, ...SERVER_ERRORS),
      },
    },
  }, async (request, reply) => {
    const body = await options.pull.lease(requireClient(request), request.body);
    if (!body) return reply.code(204).send();
    return reply.code(200).type('application/json; charset=utf-8').send(body.json);
  });

  app.post<{ Params: { batchId: string }; Body: { results: unknown[] } }>('/bhxh/v1/batches/:batchId/results', {
    config: {
      roles: ['bhxh'],
      // Each result is checked on its own and a malformed one is listed as rejected, not the whole
      // answer refused: the route takes any object, /docs shows what a result must be.
      swaggerTransform: documentBody({ ...resultsBody({ $ref: 'BhxhResult#' }), examples: [resultsExample] }),
    },
    schema: {
      operationId: 'postBatchResults',
      tags: ['bhxh'],
      summary: 'Per-record results of a batch (a leased one: from its holder only); results for records not awaiting one are listed as rejected',
      params: batchIdParams,
      body: resultsBody({ type: 'object' }),
      response: { 200: { $ref: 'BatchResultsAnswer#' }, ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', ...SERVER_ERRORS) },
    },
  }, async (request) => options.pull.answer(requireClient(request), request.params.batchId, request.body.results));

  app.post<{ Params: { batchId: string }; Body: { leaseSeconds: number } }>('/bhxh/v1/batches/:batchId/lease', {
    config: { roles: ['bhxh'] },
    schema: {
      operationId: 'renewLease',
      tags: ['bhxh'],
      summary: 'Renew the lease of a batch this client holds: it now ends `leaseSeconds` from now',
      params: batchIdParams,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: { leaseSeconds },
        examples: [{ leaseSeconds: 300 }],
      },
      response: {
        200: {
          type: 'object',
          required: ['batchId', 'leaseExpiresAt'],
          properties: {
            batchId: { type: 'string' },
            leaseExpiresAt: { type: 'string', format: 'date-time', description: 'records not answered by then are queued again' },
          },
        },
        // 403: a batch of the client's provinces leased by another client; 409: the lease ran out, or every record is answered.
        ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'INVALID_STATE', ...SERVER_ERRORS),
      },
    },
  }, async (request) => options.pull.renew(requireClient(request), request.params.batchId, request.body.leaseSeconds));
}

export const bhxhPullPlugin = fp(bhxhPull, { name: 'lienthong-bhxh-pull', fastify: '5.x', encapsulate: true });
