import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { requireClient } from '../src/http/auth-plugin.js';
import type { StaleDossiers } from '../src/messages/dossier/stale.js';
import type { TransferReads } from '../src/transfers/transfer-reads.js';
import { AUTH_ERRORS, BODY_ERRORS, SERVER_ERRORS, errorResponses } from './openapi-shapes.js';

export interface OpsDossiersOptions {
  dossiers: StaleDossiers;
  reads: TransferReads;
  /** `olderThanDays` when the operator gives none (STALE_DOSSIER_DAYS). */
  staleAfterDays: number;
}

const reason = { type: 'string', minLength: 3, maxLength: 1000, description: 'why; recorded in the audit log' } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const transferId = { type: 'object', properties: { transferId: { type: 'string', maxLength: 64 } } } as const;

const staleDossierPage = {
  type: 'object',
  required: ['olderThanDays', 'items', 'nextCursor'],
  properties: {
    olderThanDays: { type: 'integer' },
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['transferId', 'maHoSo', 'module', 'maTinh', 'maDonVi', 'clientId', 'createdAt', 'files'],
        properties: {
          transferId: { type: 'string', description: 'the dossier\'s own transfer, status received' },
          maHoSo: { type: ['string', 'null'] },
          module: { type: 'string', enum: ['KS', 'KT'], description: 'KS: waits for a birth; KT: for a death' },
          maTinh: { type: 'string' },
          maDonVi: { type: 'string' },
          clientId: { type: 'string', description: 'the registry client that sent it' },
          createdAt: { ...dateTime, description: 'when it arrived' },
          files: {
            type: 'array',
            items: {
              type: 'object',
              required: ['loai', 'ten', 'fileName', 'sizeBytes', 'sha256', 'purgedAt'],
              properties: {
                loai: { type: 'string' },
                ten: { type: 'string' },
                fileName: { type: 'string' },
                sizeBytes: { type: 'integer' },
                sha256: { type: 'string' },
                purgedAt: { ...dateTime, type: ['string', 'null'], description: 'when the retention period took its bytes' },
              },
            },
          },
        },
      },
    },
    nextCursor: { type: ['string', 'null'], description: 'pass as `after` for the next page; null on the last page' },
  },
} as const;

/** Operators deal with one-stop dossiers that never found their record (docs/API.md, "Stale one-stop dossiers"). */
async function opsDossiers(app: FastifyInstance, options: OpsDossiersOptions) {
  const operator = { roles: ['operator' as const] };

  app.get<{ Querystring: { olderThanDays?: number; after?: string; limit: number } }>('/ops/v1/dossiers/stale', {
    config: operator,
    schema: {
      operationId: 'listStaleDossiers',
      tags: ['operators'],
      summary: 'One-stop dossiers still waiting for their record after some days, oldest first',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          olderThanDays: { type: 'integer', minimum: 0, maximum: 3650, description: 'default: STALE_DOSSIER_DAYS' },
          after: { type: 'string', maxLength: 64 },
          limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
        },
      },
      response: { 200: staleDossierPage, ...errorResponses(...AUTH_ERRORS, 'VALIDATION_FAILED', ...SERVER_ERRORS) },
    },
  }, async (request) => options.dossiers.list(requireClient(request), {
    olderThanDays: request.query.olderThanDays ?? options.staleAfterDays, limit: request.query.limit, after: request.query.after,
  }));

  app.post<{ Params: { transferId: string }; Body: { birthTransferId: string; reason: string } }>('/ops/v1/dossiers/:transferId/link', {
    config: operator,
    schema: {
      operationId: 'linkDossierToBirth',
      tags: ['operators'],
      summary: 'Merge a waiting birth dossier into its birth, as if the birth had found it (→ merged); the reason is audited',
      params: transferId,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['birthTransferId', 'reason'],
        properties: { birthTransferId: { type: 'string', maxLength: 64 }, reason },
        examples: [{ birthTransferId: '0195b4c2-7a10-7000-8000-0000000000b1', reason: 'Same child: the parents confirmed by phone that the dossier is hers' }],
      },
      response: {
        200: { $ref: 'Transfer#', description: 'the birth, completed or only linked' },
        ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'INVALID_STATE', 'NOT_ELIGIBLE_AGE', 'UNIT_NOT_CONFIGURED', ...SERVER_ERRORS),
      },
    },
  }, async (request) => options.reads.detailOf(
    await options.dossiers.link(requireClient(request), request.params.transferId, request.body.birthTransferId, request.body.reason),
  ));

  app.post<{ Params: { transferId: string }; Body: { reason: string } }>('/ops/v1/dossiers/:transferId/close', {
    config: operator,
    schema: {
      operationId: 'closeDossier',
      tags: ['operators'],
      summary: 'Close a waiting dossier that will never find its record (→ closed); the reason is audited',
      params: transferId,
      body: {
        type: 'object', additionalProperties: false, required: ['reason'], properties: { reason },
        examples: [{ reason: 'The birth was registered abroad; no KhaiSinh will come from this province' }],
      },
      response: { 200: { $ref: 'Transfer#' }, ...errorResponses(...AUTH_ERRORS, ...BODY_ERRORS, 'NOT_FOUND', 'INVALID_STATE', ...SERVER_ERRORS) },
    },
  }, async (request) => options.reads.detailOf(await options.dossiers.close(requireClient(request), request.params.transferId, request.body.reason)));
}

export const opsDossiersPlugin = fp(opsDossiers, { name: 'lienthong-ops-dossiers', fastify: '5.x', encapsulate: true });
