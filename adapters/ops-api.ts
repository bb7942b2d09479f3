import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { actsForProvince, provinceScope } from '../src/auth/clients.js';
import type { Catalogues } from '../src/catalogues/catalogues.js';
import type { DispatchHolds } from '../src/dispatch/dispatch-holds.js';
import type { Dispatcher } from '../src/dispatch/dispatcher.js';
import { REPLAYABLE_STATUSES } from '../src/domain/transfer-status.js';
import { GatewayError } from '../src/errors.js';
import { requireClient } from '../src/http/auth-plugin.js';
import { TRANSFER_TYPES } from '../src/messages/registry.js';
import type { ReplayFilter, Replays } from '../src/transfers/replays.js';
import type { TransferReads } from '../src/transfers/transfer-reads.js';
import { listPage, transferQuerySchema, type TransferQuery } from './ngsp-rest.js';
import { bulkReplayExample, pauseExample, replayExample } from './openapi-examples.js';
import { AUTH_ERRORS, BODY_ERRORS, SERVER_ERRORS, errorResponses } from './openapi-shapes.js';

export interface OpsApiOptions {
  reads: TransferReads;
  catalogues: Catalogues;
  dispatcher: Dispatcher;
  holds: DispatchHolds;
  replays: Replays;
  intervalMs: number;
  now: () => Date;
}

const reason = { type: 'string', minLength: 3, maxLength: 1000 } as const;
const maTinhBody = {
  type: 'object',
  additionalProperties: false,
  properties: { maTinh: { type: 'string', pattern: '^[0-9]{2}$' } },
} as const;

/** Operators watch the flow, replay what failed, hold and release provinces (docs/API.md). */
async function opsApi(app: FastifyInstance, options: OpsApiOptions) {
  const { reads, dispatcher, holds, replays } = options;
  const operator = { roles: ['operator' as const] };

  app.get('/ops/v1/transfers', {
    config: operator,
    schema: {
      operationId: 'listTransfersForOperators',
      tags: ['operators'],
      summary: 'Transfers by status, unit, type, time',
      querystring: transferQuerySchema,
      response: { 200: { $ref: 'TransferPage#' }, ...errorResponses(...AUTH_ERRORS, 'VALIDATION_FAILED', ...SERVER_ERRORS) },
    },
  }, async (request) => listPage(reads, request as FastifyRequest<{ Querystring: TransferQuery }>, false));

  app.post<{ Params: { transferId: string }; Body: { reason: string } }>('/ops/v1/transfers/:transferId/replay', {
    config: operator,
    schema: {
      operationId: 'replayTransfer',
      tags: ['operators'], summary: 'Replay one failed or returned transfer (→ queued); the reason is audited',
      params: { type: 'object', properties: { transferId: { type: 'string', maxLength: 64 } } },
      body: { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason }, examples: [replayExample] },
      response: { 200: { $ref: 'Transfer#' }, ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'INVALID_STATE', ...SERVER_ERRORS) },
    },
  }, async (request) => {
    const transfer = await replays.replayOne(request.params.transferId, request.body.reason, requireClient(request));
    return reads.detailOf(transfer);
  });

  app.post<{ Body: ReplayFilter & { reason: string; dryRun?: boolean } }>('/ops/v1/replay', {
    config: operator,
    schema: {
      operationId: 'replayTransfers',
      tags: ['operators'], summary: 'Bulk replay by filter; dryRun previews without changing anything',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['reason'],
        properties: {
          status: { type: 'string', enum: [...REPLAYABLE_STATUSES], default: 'failed' },
          unit: { type: 'string', pattern: '^[0-9]{2}$' },
          type: { type: 'string', enum: TRANSFER_TYPES },
          errorCode: { type: 'string', maxLength: 64 },
          from: { type: 'string', format: 'date-time' },
          to: { type: 'string', format: 'date-time' },
          reason,
          dryRun: { type: 'boolean', default: false },
        },
        examples: [bulkReplayExample],
      },
      response: {
        200: { $ref: 'ReplayPreview#', description: 'dryRun: what would be replayed' },
        202: { $ref: 'ReplayStarted#', description: 'The matching transfers, fixed now, are being replayed; follow the job' },
        ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, ...SERVER_ERRORS),
      },
    },
  }, async (request, reply) => {
    const { reason: why, dryRun, ...filter } = request.body;
    const client = requireClient(request);
    if (filter.unit && !actsForProvince(client, filter.unit)) throw new GatewayError('FORBIDDEN', `Province ${filter.unit} is outside this operator's units`);
    if (dryRun) return reply.code(200).send(await replays.preview(filter, client));
    return reply.code(202).send(await replays.startBulk(filter, why, client));
  });

  app.get<{ Params: { jobId: string } }>('/ops/v1/replay/:jobId', {
    config: operator,
    schema: {
      operationId: 'getReplayJob',
      tags: ['operators'],
      summary: 'Progress of a bulk replay',
      params: { type: 'object', properties: { jobId: { type: 'string', maxLength: 64 } } },
      response: { 200: { $ref: 'ReplayJob#' }, ...errorResponses(...AUTH_ERRORS, 'VALIDATION_FAILED', 'NOT_FOUND', ...SERVER_ERRORS) },
    },
  }, async (request) => replays.progress(request.params.jobId, requireClient(request)));

  for (const [action, paused] of [['pause', true], ['resume', false]] as const) {
    app.post<{ Body: { maTinh?: string } | undefined }>(`/ops/v1/dispatch/${action}`, {
      config: operator,
      schema: {
        operationId: `${action}Dispatch`,
        tags: ['operators'],
        summary: `${paused ? 'Hold' : 'Release'} one province's deliveries, or all without maTinh`,
        body: { ...maTinhBody, examples: [pauseExample] },
        response: { 200: { $ref: 'PausedProvinces#' }, ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, ...SERVER_ERRORS) },
      },
    }, async (request) => ({ paused: await holds.set(requireClient(request), request.body?.maTinh, paused) }));
  }

  app.post('/ops/v1/dispatch/run', {
    config: operator,
    schema: {
      operationId: 'runDispatch',
      tags: ['operators'],
      summary: 'Run a dispatch now (one at a time across all gateway processes)',
      response: { 202: { $ref: 'DispatchRun#', description: 'The run is queued' }, ...errorResponses(...AUTH_ERRORS, ...SERVER_ERRORS) },
    },
  }, async (request, reply) => reply.code(202).send({ jobId: await dispatcher.requestRun(requireClient(request).id) }));

  app.get('/ops/v1/dispatch', {
    config: operator,
    schema: {
      operationId: 'getDispatchState',
      tags: ['operators'],
      summary: 'Next run, breaker state, paused provinces, counts by status',
      response: { 200: { $ref: 'DispatchState#' }, ...errorResponses(...AUTH_ERRORS, ...SERVER_ERRORS) },
    },
  }, async (request) => {
    // An operator of some provinces counts their records only, and sees the holds that stop them.
    const client = requireClient(request);
    return {
      nextRunAt: await dispatcher.nextRunAt(),
      intervalMs: options.intervalMs,
      breaker: { state: dispatcher.breakerState, ...(dispatcher.breaker ? { stats: dispatcher.breaker.stats } : {}) },
      paused: (await holds.list()).filter((maTinh) => maTinh === '*' || actsForProvince(client, maTinh)),
      counts: await reads.countByStatus(provinceScope(client)),
    };
  });

  app.post('/ops/v1/catalogues/reload', {
    config: operator,
    schema: {
      operationId: 'reloadCatalogues',
      tags: ['operators'],
      summary: 'Re-read the unit, facility and holiday catalogues from their files, without a restart',
      description: 'A file that is not valid is refused (400) and the lists in use are kept.',
      response: { 200: { $ref: 'CatalogueReload#' }, ...errorResponses(...AUTH_ERRORS, 'VALIDATION_FAILED', 'INTERNAL') },
    },
  }, async () => {
    try {
      return { reloaded: true, ...options.catalogues.reload() };
    } catch (error) {
      throw new GatewayError('VALIDATION_FAILED', `A catalogue file is not valid; the lists in use are kept: ${(error as Error).message}`);
    }
  });

  app.get('/ops/v1/reports/backlog', {
    config: operator,
    schema: {
      operationId: 'getBacklogReport',
      tags: ['operators'],
      summary: 'Per province: counts by status, oldest waiting, records past the 5-working-day limit, the overdue ones BHXH has not answered',
      response: { 200: { $ref: 'BacklogReport#' }, ...errorResponses(...AUTH_ERRORS, ...SERVER_ERRORS) },
    },
  }, async (request) => reads.backlog(options.catalogues.holidays, options.now(), provinceScope(requireClient(request))));
}

export const opsApiPlugin = fp(opsApi, { name: 'lienthong-ops-api', fastify: '5.x', encapsulate: true });
